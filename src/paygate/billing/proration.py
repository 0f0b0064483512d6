"""Proration policies as declared data.

A change in the middle of a period credits the unused part of what was
charged for it and charges the unused part at the new price. *Which* fraction
of the period is unused depends on the policy, and the policies disagree
(Jan and Feb are not the same length; a Paris month across DST is 743 hours):

``actual_days``
    unused local days / days in the period. The day of the change counts as
    unused (it is billed at the new price).
``days_30``
    every calendar month counts as 30 days (a year as 360), so February and
    March prorate alike: whole months from the period start count 30 each,
    plus the days into the current month, at most 30.
``by_second``
    unused seconds / seconds in the period, instants at local midnight (DST
    shows here and only here).
``none``
    nothing is prorated: the fraction is 0 (no credit, no charge until the
    next renewal).

Each amount is rounded once, to the currency's minor unit, where it is made.
A credit never exceeds what is left of the line it credits.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from enum import StrEnum
from fractions import Fraction
from zoneinfo import ZoneInfo

from paygate.billing.periods import Period, add_months, local_date
from paygate.errors import InvalidRequest

_MICROSECOND = timedelta(microseconds=1)


class ProrationPolicy(StrEnum):
    ACTUAL_DAYS = "actual_days"
    DAYS_30 = "days_30"
    BY_SECOND = "by_second"
    NONE = "none"

    @classmethod
    def parse(cls, value: object) -> ProrationPolicy:
        try:
            return cls(str(value))
        except ValueError:
            raise InvalidRequest(
                f"proration policy must be one of {[p.value for p in cls]}, not {value!r:.40}",
                param="proration",
            ) from None


def _days_30(start: date, day: date) -> int:
    """Days from ``start`` to ``day`` with every month counted as 30."""
    months = (day.year - start.year) * 12 + day.month - start.month
    while months > 0 and add_months(start, months) > day:
        months -= 1
    rest = (day - add_months(start, months)).days
    return 30 * months + min(rest, 30)


def unused_fraction(
    policy: ProrationPolicy, period: Period, at: datetime, tz: ZoneInfo
) -> Fraction:
    """The part of ``period`` still to come at instant ``at``, between 0 and 1."""
    if policy is ProrationPolicy.NONE:
        return Fraction(0)
    if policy is ProrationPolicy.BY_SECOND:
        start, end = period.start_at(tz), period.end_at(tz)
        if at <= start:
            return Fraction(1)
        if at >= end:
            return Fraction(0)
        return Fraction((end - at) // _MICROSECOND, (end - start) // _MICROSECOND)
    day = local_date(at, tz)
    if day <= period.start:
        return Fraction(1)
    if day >= period.end:
        return Fraction(0)
    if policy is ProrationPolicy.ACTUAL_DAYS:
        return Fraction((period.end - day).days, period.days)
    total = _days_30(period.start, period.end)
    used = min(_days_30(period.start, day), total)
    return Fraction(total - used, total)


def prorate(minor: int, fraction: Fraction, rounding: str = ROUND_HALF_UP) -> int:
    """``minor × fraction``, rounded once to a whole minor unit."""
    if not 0 <= fraction <= 1:
        raise InvalidRequest(f"a proration fraction is between 0 and 1, not {fraction}")
    with localcontext() as ctx:
        ctx.prec = 60
        exact = Decimal(minor * fraction.numerator) / Decimal(fraction.denominator)
        return int(exact.quantize(Decimal(1), rounding=rounding))


def credit(
    charged: int, already_credited: int, fraction: Fraction, rounding: str = ROUND_HALF_UP
) -> int:
    """What to credit back (a non-negative minor amount) for the unused
    ``fraction`` of a line that charged ``charged``, of which
    ``already_credited`` was credited before: never more than is left.

    Every credit against a line gives back the part of its period still to
    come when it was made, and what is still to come only shrinks: an earlier
    credit already gave back everything from its instant to the period end,
    so it covers (part of) what is unused now. Only the unused part beyond it
    is owed (a second upgrade, or a cancel after an upgrade, credits nothing
    more on the line the first upgrade credited from the earlier instant)."""
    left = max(charged - already_credited, 0)
    unused = prorate(charged, fraction, rounding)
    return min(max(unused - already_credited, 0), left)


__all__ = ["ProrationPolicy", "credit", "prorate", "unused_fraction"]

"""Billing periods, always computed from the anchor.

Period ``k`` of a subscription starts at ``anchor + k × interval`` and ends
where period ``k + 1`` starts: never ``previous end + interval``. Chaining
drifts at month ends (Jan 31 -> Feb 28 -> **Mar 28**); computing from the
anchor clamps each month on its own (Jan 31 -> Feb 28 -> Mar 31 -> Apr 30),
and a Feb 29 anchor comes back on Feb 29 in leap years.

Boundaries are *local dates* in the account's time zone; the instant a period
starts is local midnight of that date, in UTC. A Paris month across the
spring DST change is therefore 743 hours long, which only the ``by_second``
proration policy sees (see :mod:`paygate.billing.proration`).

Pure functions, no I/O: the planner and ``paygate billing simulate`` call
them for any date without touching the database.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from paygate.errors import InvalidRequest

Unit = Literal["day", "month", "year"]
UNITS: tuple[Unit, ...] = ("day", "month", "year")


def add_months(day: date, months: int) -> date:
    """``day`` moved by ``months`` calendar months, clamped to the month's end."""
    year, month0 = divmod(day.month - 1 + months, 12)
    year += day.year
    month = month0 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True, slots=True)
class Interval:
    """How long one period is: ``count`` days, months or years."""

    unit: Unit
    count: int

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise InvalidRequest(f"interval unit must be one of {list(UNITS)}, not {self.unit!r}")
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 1:
            raise InvalidRequest(f"interval count must be a positive integer, not {self.count!r}")

    @property
    def months(self) -> int:
        """Calendar months in one period (0 for a day interval)."""
        if self.unit == "month":
            return self.count
        if self.unit == "year":
            return 12 * self.count
        return 0

    def boundary(self, anchor: date, k: int) -> date:
        """Where period ``k`` starts: ``anchor + k × interval``, from the anchor."""
        if self.unit == "day":
            return anchor + timedelta(days=self.count * k)
        return add_months(anchor, self.months * k)

    def index_at(self, anchor: date, day: date) -> int:
        """The period that contains ``day``: ``boundary(k) <= day < boundary(k + 1)``.

        Days before the anchor belong to negative periods (never billed).
        """
        if self.unit == "day":
            return (day - anchor).days // self.count
        diff = (day.year - anchor.year) * 12 + day.month - anchor.month
        k = diff // self.months
        while self.boundary(anchor, k) > day:
            k -= 1
        while self.boundary(anchor, k + 1) <= day:
            k += 1
        return k

    def __str__(self) -> str:
        return f"{self.count} {self.unit}{'s' if self.count != 1 else ''}"


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; a typed error for an unknown one."""
    if not isinstance(name, str) or not name:
        raise InvalidRequest(
            "timezone must be an IANA name such as 'Europe/Paris'", param="timezone"
        )
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidRequest(f"unknown time zone {name!r}", param="timezone") from None


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The instant (UTC) at which ``day`` starts in ``tz``."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def local_date(instant: datetime, tz: ZoneInfo) -> date:
    """The calendar date of ``instant`` in ``tz`` (``instant`` must be aware)."""
    if instant.tzinfo is None:
        raise InvalidRequest("instants must be timezone-aware (UTC)")
    return instant.astimezone(tz).date()


@dataclass(frozen=True, slots=True)
class Period:
    """Period ``index`` of a subscription: ``[start, end)`` in local dates."""

    index: int
    start: date
    end: date

    def start_at(self, tz: ZoneInfo) -> datetime:
        return local_midnight(self.start, tz)

    def end_at(self, tz: ZoneInfo) -> datetime:
        return local_midnight(self.end, tz)

    @property
    def days(self) -> int:
        return (self.end - self.start).days


def period(anchor: date, interval: Interval, k: int) -> Period:
    """Period ``k`` counted from ``anchor``."""
    return Period(k, interval.boundary(anchor, k), interval.boundary(anchor, k + 1))


def period_containing(anchor: date, interval: Interval, day: date) -> Period:
    return period(anchor, interval, interval.index_at(anchor, day))


__all__ = [
    "UNITS",
    "Interval",
    "Period",
    "Unit",
    "add_months",
    "local_date",
    "local_midnight",
    "period",
    "period_containing",
    "zone",
]

"""Periods from the anchor, in the account's time zone, and proration as data.

References are independent of the code under test: dateutil's relativedelta
for calendar months, plain day counts and timedelta arithmetic for fractions.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from dateutil.relativedelta import relativedelta
from hypothesis import given, settings
from hypothesis import strategies as st

from paygate.billing.periods import Interval, add_months, local_midnight, period
from paygate.billing.proration import ProrationPolicy, credit, prorate, unused_fraction
from paygate.errors import InvalidRequest

PARIS = ZoneInfo("Europe/Paris")
MONTHLY = Interval("month", 1)
dates = st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 12, 31))
intervals = st.builds(
    Interval, st.sampled_from(["day", "month", "year"]), st.integers(min_value=1, max_value=40)
)


def test_jan_31_never_drifts() -> None:
    anchor = date(2027, 1, 31)
    starts = [period(anchor, MONTHLY, k).start for k in range(5)]
    assert starts == [
        date(2027, 1, 31),
        date(2027, 2, 28),
        date(2027, 3, 31),
        date(2027, 4, 30),
        date(2027, 5, 31),
    ]
    # What chaining would give (the Kill Bill BCD-31 bug): Mar 28 -- never this.
    assert date(2027, 3, 28) not in starts


def test_feb_29_anchor_comes_back_in_leap_years() -> None:
    anchor = date(2028, 2, 29)
    yearly = Interval("year", 1)
    assert [period(anchor, yearly, k).start for k in range(5)] == [
        date(2028, 2, 29),
        date(2029, 2, 28),
        date(2030, 2, 28),
        date(2031, 2, 28),
        date(2032, 2, 29),
    ]


def test_day_cycles_are_plain_days() -> None:
    p = period(date(2027, 1, 31), Interval("day", 30), 1)
    assert (p.start, p.end) == (date(2027, 3, 2), date(2027, 4, 1))


def test_a_paris_month_across_dst_is_743_hours() -> None:
    p = period(date(2027, 3, 1), MONTHLY, 0)
    assert p.end_at(PARIS) - p.start_at(PARIS) == timedelta(hours=743)
    assert p.start_at(PARIS) == datetime(2027, 2, 28, 23, 0, tzinfo=UTC)


@given(dates, st.integers(min_value=-1200, max_value=1200))
def test_add_months_matches_dateutil(day: date, months: int) -> None:
    assert add_months(day, months) == day + relativedelta(months=months)


@settings(max_examples=300)
@given(dates, intervals, st.integers(min_value=0, max_value=60))
def test_periods_are_contiguous_and_anchored(anchor: date, interval: Interval, k: int) -> None:
    p, q = period(anchor, interval, k), period(anchor, interval, k + 1)
    assert p.end == q.start  # contiguous
    assert p.start < p.end
    # anchored: computed from the anchor, never from the previous period
    if interval.unit == "day":
        assert p.start == anchor + timedelta(days=interval.count * k)
    else:
        step = relativedelta(months=interval.count * (12 if interval.unit == "year" else 1))
        assert p.start == anchor + step * k
    # the period that contains any of its days is itself
    assert interval.index_at(anchor, p.start) == k
    assert interval.index_at(anchor, p.end - timedelta(days=1)) == k


@given(dates, intervals, dates)
def test_every_day_falls_in_exactly_one_period(anchor: date, interval: Interval, day: date) -> None:
    k = interval.index_at(anchor, day)
    p = period(anchor, interval, k)
    assert p.start <= day < p.end


# -- proration ---------------------------------------------------------------------


def _at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=PARIS).astimezone(UTC)


def test_policies_disagree_as_declared_on_a_february() -> None:
    p = period(date(2027, 2, 1), MONTHLY, 0)  # 28 days
    at = _at(date(2027, 2, 15))
    assert unused_fraction(ProrationPolicy.ACTUAL_DAYS, p, at, PARIS) == Fraction(14, 28)
    # 30-day month: 14 days used of 30
    assert unused_fraction(ProrationPolicy.DAYS_30, p, at, PARIS) == Fraction(16, 30)
    assert unused_fraction(ProrationPolicy.NONE, p, at, PARIS) == 0
    secs = unused_fraction(ProrationPolicy.BY_SECOND, p, at, PARIS)
    assert secs == Fraction(13 * 24 + 12, 28 * 24)


def test_by_second_sees_the_dst_hour_and_by_day_does_not() -> None:
    p = period(date(2027, 3, 1), MONTHLY, 0)
    # Apr 1 00:00 minus 24 h of real time: Mar 31 00:00 Paris time (after DST).
    at = datetime(2027, 3, 31, 0, tzinfo=PARIS).astimezone(UTC)
    assert unused_fraction(ProrationPolicy.BY_SECOND, p, at, PARIS) == Fraction(24, 743)
    assert unused_fraction(ProrationPolicy.ACTUAL_DAYS, p, at, PARIS) == Fraction(1, 31)


def test_fraction_is_whole_before_and_nothing_after() -> None:
    p = period(date(2027, 1, 31), MONTHLY, 0)
    for policy in (ProrationPolicy.ACTUAL_DAYS, ProrationPolicy.DAYS_30, ProrationPolicy.BY_SECOND):
        assert unused_fraction(policy, p, _at(date(2027, 1, 1)), PARIS) == 1
        assert unused_fraction(policy, p, _at(date(2027, 3, 1)), PARIS) == 0


def test_prorate_rounds_once_half_up() -> None:
    assert prorate(1000, Fraction(1, 3)) == 333
    assert prorate(1001, Fraction(1, 2)) == 501
    assert prorate(1000, Fraction(0)) == 0
    with pytest.raises(InvalidRequest):
        prorate(1000, Fraction(3, 2))


def test_parse_policy_is_typed() -> None:
    assert ProrationPolicy.parse("days_30") is ProrationPolicy.DAYS_30
    with pytest.raises(InvalidRequest, match="proration policy must be one of"):
        ProrationPolicy.parse("by_week")


@settings(max_examples=300)
@given(
    dates,
    intervals,
    st.integers(min_value=0, max_value=2000),
    st.sampled_from(list(ProrationPolicy)),
    st.integers(min_value=0, max_value=10**9),
    st.lists(st.integers(min_value=0, max_value=10**6), max_size=4),
)
def test_credit_never_exceeds_what_was_charged(
    anchor: date,
    interval: Interval,
    offset_hours: int,
    policy: ProrationPolicy,
    charged: int,
    earlier: list[int],
) -> None:
    p = period(anchor, interval, 0)
    at = local_midnight(p.start, PARIS) + timedelta(hours=offset_hours)
    f = unused_fraction(policy, p, at, PARIS)
    assert 0 <= f <= 1
    # several credits against one line (two upgrades in a row): their sum stays
    # within what the line charged
    credited = 0
    for part in [*earlier, charged]:
        got = credit(charged, credited, f if part == charged else Fraction(part % 7, 7))
        assert 0 <= got <= charged - credited
        credited += got
    assert credited <= charged


@settings(max_examples=300)
@given(
    dates,
    intervals,
    st.integers(min_value=0, max_value=24 * 800),
    st.sampled_from(list(ProrationPolicy)),
    st.integers(min_value=0, max_value=10**7),
    st.integers(min_value=0, max_value=10**7),
)
def test_an_upgrade_line_set_adds_up(
    anchor: date,
    interval: Interval,
    offset_hours: int,
    policy: ProrationPolicy,
    old_charged: int,
    new_price: int,
) -> None:
    """A credit of the old line and a debit of the new price: the invoice total is
    their exact sum, and each is what the fraction says, rounded once."""
    p = period(anchor, interval, 0)
    at = local_midnight(p.start, PARIS) + timedelta(hours=offset_hours)
    f = unused_fraction(policy, p, at, PARIS)
    debit, cred = prorate(new_price, f), credit(old_charged, 0, f)
    assert abs(debit - new_price * f) <= Fraction(1, 2)
    assert abs(cred - old_charged * f) <= Fraction(1, 2)
    lines = [debit, -cred]
    assert sum(lines) == debit - cred


@given(dates, st.integers(min_value=1, max_value=400))
def test_actual_days_counts_days_left(anchor: date, into: int) -> None:
    p = period(anchor, MONTHLY, 0)
    day = p.start + timedelta(days=into % p.days)
    f = unused_fraction(ProrationPolicy.ACTUAL_DAYS, p, _at(day), PARIS)
    days_left = sum(1 for i in range(p.days) if p.start + timedelta(days=i) >= day)
    assert f == Fraction(days_left, p.days)

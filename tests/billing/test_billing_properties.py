"""Properties of whole invoices, whatever the sequence of changes: lines add
up to the total, and no line is ever credited beyond what it charged."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

from billing_helpers import OWNER, Clock, account_with_card, make_payments
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paygate.billing import Billing, InvalidTransition
from paygate.billing.periods import Interval, local_midnight, period

PLANS = ["webinar/s25", "webinar/s100", "webinar/s500"]
steps = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=40),  # days later
        st.sampled_from(["upgrade", "addon", "downgrade", "run"]),
        st.integers(min_value=0, max_value=2),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps,
    st.sampled_from(["Europe/Paris", "America/New_York", "Asia/Kolkata", "UTC"]),
    st.sampled_from(["monthly", "annual"]),
)
def test_invoices_add_up_and_credits_stay_within_charges(
    plan: list[tuple[int, str, int]], tz: str, cycle: str
) -> None:
    clock = Clock(datetime(2027, 1, 31, 10, tzinfo=UTC))
    payments = make_payments("sqlite://")
    billing = Billing(payments, clock=clock)
    acct = account_with_card(billing, tz=tz)
    sub = billing.subscribe(OWNER, acct, "webinar/s25", cycle=cycle, idempotency_key="s").id
    for days, action, which in plan:
        clock.advance(days=days)
        try:
            if action == "upgrade" or action == "downgrade":
                billing.apply(OWNER, billing.preview_change(OWNER, sub, plan=PLANS[which]))
            elif action == "addon":
                billing.apply(OWNER, billing.preview_add_addon(OWNER, sub, "toll-free"))
            else:
                billing.run_once()
        except InvalidTransition:
            pass  # e.g. "that is the current plan"
    invoices = billing.invoices(OWNER, acct)
    credited: dict[str, int] = defaultdict(int)
    nets: dict[str, int] = {}
    for inv in invoices:
        assert sum(ln.amount.minor_units for ln in inv.lines) == inv.total.minor_units
        assert inv.total.minor_units >= 0
        for ln in inv.lines:
            if ln.net is not None:
                nets[ln.id] = ln.net.minor_units
            if ln.credits_line_id is not None:
                assert ln.amount.minor_units <= 0
                credited[ln.credits_line_id] += -ln.amount.minor_units
    for line_id, total in credited.items():
        assert total <= nets[line_id]
    numbers = [inv.number for inv in invoices if inv.number is not None]
    assert sorted(numbers) == list(range(1, len(numbers) + 1))
    payments.close()


@settings(max_examples=200)
@given(
    st.sampled_from(sorted(available_timezones() - {"Factory"})),
    st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31)),
)
def test_local_midnights_of_periods_always_move_forward(tz: str, anchor: date) -> None:
    """Even where a DST change skips midnight (America/Santiago...)."""
    zone = ZoneInfo(tz)
    starts = [period(anchor, Interval("day", 1), k).start_at(zone) for k in range(3)]
    assert starts[0] < starts[1] < starts[2]
    for instant in starts:
        assert instant - local_midnight(anchor, zone) < timedelta(days=3)

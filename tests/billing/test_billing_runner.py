"""The renewal runner: anchored renewals, exactly one charge per period,
dunning that follows the customer's intent, crash recovery, the SQLite
single-runner lock and the safety bound."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from billing_helpers import OWNER, STAFF, Clock, account_with_card, card, card_declines, charges

import paygate
from paygate.billing import Billing, RunnerBusy
from paygate.builtins.billing_policies import BillingPolicies


def _renewals(billing: Billing, acct: str) -> list[tuple[date | None, str, str]]:
    return [
        (inv.period_start, inv.status, str(inv.total))
        for inv in billing.invoices(OWNER, acct)
        if inv.reason == "renewal"
    ]


def test_renewals_follow_the_anchor_at_month_ends(
    billing: Billing, payments: paygate.Payments, clock: Clock
) -> None:
    acct = account_with_card(billing)
    sub = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")
    for day in [(2027, 2, 28), (2027, 3, 31), (2027, 4, 30), (2027, 5, 31)]:
        clock.set(*day, hour=1)  # 02:00 or 03:00 in Paris: the local day has begun
        billing.run_once()
        billing.run_once()  # a second run at the same instant does nothing
    starts = [r[0] for r in _renewals(billing, acct)]
    assert starts == [date(2027, 2, 28), date(2027, 3, 31), date(2027, 4, 30), date(2027, 5, 31)]
    assert charges(payments) == 5
    assert billing._get(sub.id).period_end == date(2027, 6, 30)


def test_a_renewal_waits_for_local_midnight(billing: Billing, clock: Clock) -> None:
    acct = account_with_card(billing, tz="America/New_York")
    billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")  # Jan 31 in New York
    clock.now = datetime(2027, 2, 28, 4, 59, tzinfo=UTC)  # Feb 27, 23:59 in New York
    assert billing.run_once().renewed == 0
    clock.now = datetime(2027, 2, 28, 5, 0, tzinfo=UTC)  # midnight there
    assert billing.run_once().renewed == 1


def test_overage_is_billed_at_the_renewal(billing: Billing, clock: Clock) -> None:
    acct = account_with_card(billing)
    sub = billing.subscribe(
        OWNER, acct, "webinar/s25", addons=[("toll-free", 1)], idempotency_key="s"
    )
    billing.record_usage(STAFF, sub.id, event_id="c1", metric="minutes", quantity=90)
    billing.record_usage(STAFF, sub.id, event_id="c2", metric="minutes", quantity=35)
    billing.record_usage(STAFF, sub.id, event_id="c2", metric="minutes", quantity=35)  # repeat
    clock.set(2027, 2, 28)
    billing.run_once()
    inv = billing.invoices(OWNER, acct)[-1]
    usage = [ln for ln in inv.lines if ln.kind == "usage"]
    assert [(ln.amount, "25 past the 100" in ln.description) for ln in usage] == [
        (paygate.Money("1.50", "USD"), True)  # 25 minutes at 0.06
    ]
    assert inv.total == paygate.Money("46.50", "USD")


def test_a_crash_between_charge_and_finalize_is_settled_with_one_charge(
    billing: Billing, payments: paygate.Payments, clock: Clock
) -> None:
    acct = account_with_card(billing)
    billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")
    clock.set(2027, 2, 28)
    sandbox = payments.plugin("sandbox")
    sandbox.inject("reset_after_charge")  # the charge is made, the answer is lost
    report = billing.run_once()
    assert report.renewed == 1 and report.unknown == 1
    assert charges(payments) == 2
    [inv] = [i for i in billing.invoices(OWNER, acct) if i.reason == "renewal"]
    assert (inv.status, inv.number) == ("draft", None)
    clock.advance(minutes=2)
    report = billing.run_once()
    assert report.paid == 1
    assert charges(payments) == 2  # the same key: the gateway answered with the first charge
    [inv] = [i for i in billing.invoices(OWNER, acct) if i.reason == "renewal"]
    assert (inv.status, inv.number) == ("paid", 2)


def test_dunning_retries_then_past_due_and_the_end_state(billing: Billing, clock: Clock) -> None:
    acct = account_with_card(billing)
    sub = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")
    card_declines(billing, acct)
    clock.set(2027, 2, 28)
    billing.run_once()
    [inv] = [i for i in billing.invoices(OWNER, acct) if i.reason == "renewal"]
    assert inv.status == "open" and inv.number == 2  # numbered, owed, kept (not re-made)
    s = billing._get(sub.id)
    assert (s.status, s.entitlement.value, s.collection_state.value) == (
        "active",
        "active",
        "retrying",
    )
    tried = [inv.next_attempt_at]
    for _ in range(6):
        clock.now = max(clock.now, (billing.invoices(OWNER, acct)[-1].next_attempt_at or clock.now))
        billing.run_once()
        tried.append(billing.invoices(OWNER, acct)[-1].next_attempt_at)
    inv = next(i for i in billing.invoices(OWNER, acct) if i.reason == "renewal")
    assert inv.attempt_count == 5  # the first try and 4 retries (days 1, 3, 5, 7)
    first = datetime(2027, 2, 28, 12, tzinfo=UTC)
    assert tried[:4] == [first + timedelta(days=d) for d in (1, 3, 5, 7)]
    assert inv.status == "uncollectible"
    s = billing._get(sub.id)
    assert (s.collection_state.value, s.billing_state.value, s.entitlement.value) == (
        "past_due",
        "canceled",
        "none",
    )
    assert len([i for i in billing.invoices(OWNER, acct) if i.reason == "renewal"]) == 1


def test_a_new_card_retries_open_invoices_at_once(
    billing: Billing, payments: paygate.Payments, clock: Clock
) -> None:
    acct = account_with_card(billing)
    billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")
    card_declines(billing, acct)
    clock.set(2027, 2, 28)
    billing.run_once()
    assert billing.invoices(OWNER, acct)[-1].status == "open"
    clock.advance(hours=2)
    billing.add_payment_method(OWNER, acct, card("5555555555554444"), idempotency_key="card-2")
    inv = billing.invoices(OWNER, acct)[-1]
    assert inv.status == "paid" and inv.attempt_count == 2
    assert charges(payments) == 2


def test_cancel_stops_retries(billing: Billing, payments: paygate.Payments, clock: Clock) -> None:
    acct = account_with_card(billing)
    sub = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")
    card_declines(billing, acct)
    clock.set(2027, 2, 28)
    billing.run_once()
    billing.cancel(OWNER, sub.id, at="now")
    card_declines(billing, acct, declines=False)  # would succeed if it were tried
    for _ in range(5):
        clock.advance(days=2)
        billing.run_once()
    inv = billing.invoices(OWNER, acct)[-1]
    assert inv.attempt_count == 1 and inv.next_attempt_at is None
    # a new card after the cancel does not collect the stopped invoice either
    billing.add_payment_method(OWNER, acct, card("5555555555554444"), idempotency_key="card-2")
    assert billing.invoices(OWNER, acct)[-1].attempt_count == 1
    assert charges(payments) == 1


def test_hard_declines_and_a_missing_method_are_not_retried() -> None:
    policy = BillingPolicies()
    inv: object = object()
    for code in ("expired_card", "no_payment_method", "fraudulent", "invalid_request"):
        assert policy.paygate_billing_retry_schedule(inv, 1, code).retry_in is None  # type: ignore[arg-type]
    soft = policy.paygate_billing_retry_schedule(inv, 1, "insufficient_funds")  # type: ignore[arg-type]
    assert soft.retry_in == timedelta(days=1)


def test_a_missing_method_is_not_retried(
    billing: Billing, payments: paygate.Payments, clock: Clock
) -> None:
    acct = account_with_card(billing)
    sub = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")
    billing.remove_payment_method(OWNER, acct)
    clock.set(2027, 2, 28)
    billing.run_once()
    inv = billing.invoices(OWNER, acct)[-1]
    assert (inv.status, inv.attempt_count, inv.next_attempt_at) == ("uncollectible", 0, None)
    assert billing._get(sub.id).collection_state.value == "past_due"
    assert charges(payments) == 1


def test_cancel_at_period_end_ends_without_a_charge(
    billing: Billing, payments: paygate.Payments, clock: Clock
) -> None:
    acct = account_with_card(billing)
    sub = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")
    billing.cancel(OWNER, sub.id)
    clock.set(2027, 2, 28)
    assert billing.run_once().canceled == 1
    assert billing._get(sub.id).status == "canceled"
    assert charges(payments) == 1


def test_frozen_subscriptions_are_not_charged_and_resume_by_themselves(
    billing: Billing, payments: paygate.Payments, clock: Clock
) -> None:
    acct = account_with_card(billing)
    sub = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")
    clock.set(2027, 2, 10)
    billing.freeze(OWNER, sub.id, days=60)  # to Apr 11
    clock.set(2027, 3, 15)
    assert billing.run_once().renewed == 0
    clock.set(2027, 4, 11)
    assert billing.run_once().resumed == 1
    s = billing._get(sub.id)
    assert s.status == "active" and s.period_end == date(2027, 4, 29)  # 18 days were left
    assert charges(payments) == 1


def test_the_safety_bound_parks_instead_of_charging(
    payments: paygate.Payments, clock: Clock
) -> None:
    billing = Billing(payments, clock=clock, safety_bound=3)
    acct = account_with_card(billing)
    sub = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")
    clock.set(2027, 8, 1)  # the runner was down for six periods
    report = billing.run_once()
    assert report.renewed == 3 and report.parked == 1
    assert billing._get(sub.id).status == "needs_review"
    assert charges(payments) == 4


def test_a_second_sqlite_runner_is_told_so(tmp_path: object, clock: Clock) -> None:
    from billing_helpers import make_payments

    from paygate.billing.runner import _take_lock

    url = f"sqlite:///{tmp_path}/b.sqlite3"
    payments = make_payments(url)
    billing = Billing(payments, clock=clock)
    _take_lock(billing, "other-worker", timedelta(seconds=60))
    with pytest.raises(RunnerBusy, match="other-worker"):
        billing.run_once()
    clock.advance(seconds=61)  # its lease ran out (a killed runner)
    assert billing.run_once().claimed == 0
    payments.close()


def test_a_plan_gone_from_the_catalog_parks_that_subscription_only(
    billing: Billing, payments: paygate.Payments, clock: Clock
) -> None:
    from paygate.billing import Catalog

    a = account_with_card(billing)
    gone = billing.subscribe(OWNER, a, "webinar/s25", idempotency_key="s1")
    kept = billing.subscribe(OWNER, a, "webinar/s100", idempotency_key="s2")
    catalog = billing.catalog
    billing.catalog = Catalog(
        cycles=catalog.cycles,
        offers={k: v for k, v in catalog.offers.items() if k != "webinar/s25"},
    )
    clock.set(2027, 2, 28)
    report = billing.run_once()
    assert report.parked == 1 and report.renewed == 1 and report.paid == 1
    parked = billing._get(gone.id)
    assert parked.status == "needs_review" and "webinar/s25" in (parked.review_reason or "")
    assert billing._get(kept.id).period_start == date(2027, 2, 28)
    assert charges(payments) == 3


def test_simultaneous_collections_of_one_invoice_charge_once(
    billing: Billing, payments: paygate.Payments, clock: Clock
) -> None:
    """A new card's immediate retry racing the runner's retry (threads)."""
    import threading

    acct = account_with_card(billing)
    billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")
    card_declines(billing, acct)
    clock.set(2027, 2, 28)
    billing.run_once()
    inv = billing.invoices(OWNER, acct)[-1]
    card_declines(billing, acct, declines=False)
    barrier, errors = threading.Barrier(4), []

    def collect() -> None:
        barrier.wait(timeout=30)
        try:
            billing._collect(inv.id, retry_now=True)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=collect) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    clock.advance(minutes=5)
    billing.run_once(reconcile_after=0)  # settles a call that saw "in progress"
    assert billing.invoices(OWNER, acct)[-1].status == "paid"
    assert charges(payments) == 2


def test_simultaneous_subscribes_with_one_key_make_one_subscription(
    billing: Billing, payments: paygate.Payments
) -> None:
    import threading

    acct = account_with_card(billing)
    barrier, made, errors = threading.Barrier(3), [], []

    def subscribe() -> None:
        barrier.wait(timeout=30)
        try:
            made.append(billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="k").id)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=subscribe) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(set(made)) == 1
    assert all(type(e).__name__ == "ProviderUnavailable" for e in errors)  # "no answer yet"
    assert charges(payments) == 1

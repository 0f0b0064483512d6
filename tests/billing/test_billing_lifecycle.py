"""Issue 18: cancel now pays back the unused part of the period, the end
state of dunning is a policy, and a parked subscription whose charge went
through has its invoice settled as paid (and staff can release it)."""

from __future__ import annotations

from typing import Any

import pytest
from billing_helpers import OWNER, STAFF, Clock, account_with_card, card_declines, charges

import paygate
from paygate._markers import hookimpl
from paygate.billing import Billing, InvalidTransition, PaymentFailed, StalePreview
from paygate.billing.models import ProrationContext

USD = lambda a: paygate.Money(a, "USD")  # noqa: E731


def refunds(payments: paygate.Payments) -> int:
    """Refunds the sandbox gateway actually made (not replays)."""
    return int(payments.plugin("sandbox").effects.get("refund", 0))


def _records(billing: Billing, acct: str, reason: str = "cancel") -> list[Any]:
    return [i for i in billing.invoices(OWNER, acct) if i.reason == reason]


# -- 1. cancel now: a prorated refund -------------------------------------------------
def test_cancel_now_refunds_the_unused_part_of_what_was_charged(
    billing: Billing, clock: Clock
) -> None:
    acct = account_with_card(billing)
    sub = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")  # 30.00, Jan 31-Feb 28
    [paid] = billing.invoices(OWNER, acct)
    clock.set(2027, 2, 14)  # 14 of 28 days left
    done = billing.cancel(OWNER, sub.id, at="now")
    assert done.status == "canceled" and done.entitlement.value == "none"
    [record] = _records(billing, acct)
    assert record.status == "refunded" and record.total == USD("-15.00")
    assert record.number is not None  # a final record, numbered
    assert [ln.credits_line_id for ln in record.lines] == [paid.lines[0].id]
    assert paid.transaction_id is not None
    tx = billing.payments.transaction(paid.transaction_id)
    assert tx.refunded == USD("15.00") and refunds(billing.payments) == 1
    assert record.transaction_id == tx.refunds[0].id
    kinds = [e.type for e in billing.events()]
    assert "invoice.refunded" in kinds and "subscription.canceled" in kinds


def test_cancel_after_an_upgrade_credits_each_charge_once(billing: Billing, clock: Clock) -> None:
    acct = account_with_card(billing)
    sub = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")  # 30.00
    clock.set(2027, 2, 14)
    billing.apply(OWNER, billing.preview_change(OWNER, sub.id, plan="webinar/s100"))  # +15.00
    first, upgrade = billing.invoices(OWNER, acct)
    clock.set(2027, 2, 21)  # 7 of 28 days left
    billing.cancel(OWNER, sub.id, at="now")
    # Paid 45.00, used 15.00 (s25, 14 days) + 15.00 (s100, 7 days): 15.00 back,
    # all of it on the upgrade's charge (the s25 line's unused days were
    # already credited by the upgrade).
    [record] = _records(billing, acct)
    assert record.total == USD("-15.00")
    assert {ln.credits_line_id for ln in record.lines} == {
        ln.id for ln in upgrade.lines if ln.kind == "proration_debit"
    }
    assert first.transaction_id and upgrade.transaction_id
    assert billing.payments.transaction(first.transaction_id).refunded == USD("0")
    assert billing.payments.transaction(upgrade.transaction_id).refunded == USD("15.00")


def test_cancel_soon_after_an_upgrade_refunds_more_than_the_upgrade_charged(
    billing: Billing, clock: Clock
) -> None:
    acct = account_with_card(billing)
    sub = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")  # 30.00
    clock.set(2027, 2, 14)
    billing.apply(OWNER, billing.preview_change(OWNER, sub.id, plan="webinar/s100"))
    first, upgrade = billing.invoices(OWNER, acct)
    assert upgrade.total == USD("15.00")  # a 30.00 debit minus the 15.00 credit
    billing.cancel(OWNER, sub.id, at="now")  # the same day: s100 not used at all
    # Paid 45.00, used 15.00 (s25, Jan 31 - Feb 14): 30.00 back. The upgrade's
    # charge can only give back its 15.00; the renewal's charge the rest.
    records = _records(billing, acct)
    assert sorted(r.total.amount for r in records) == [-15, -15]
    assert all(r.status == "refunded" for r in records)
    assert first.transaction_id and upgrade.transaction_id
    assert billing.payments.transaction(upgrade.transaction_id).refunded == USD("15.00")
    assert billing.payments.transaction(first.transaction_id).refunded == USD("15.00")
    # every credit line names the upgrade's debit line it gives back
    debit = next(ln for ln in upgrade.lines if ln.kind == "proration_debit")
    assert {ln.credits_line_id for r in records for ln in r.lines} == {debit.id}


def test_cancel_now_without_refund_and_under_a_none_policy_keeps_the_money(
    billing: Billing, clock: Clock
) -> None:
    acct = account_with_card(billing)
    a = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="a")
    clock.set(2027, 2, 14)
    billing.cancel(OWNER, a.id, at="now", refund="none")
    assert _records(billing, acct) == [] and refunds(billing.payments) == 0

    class NoCancelProration:
        @hookimpl
        def paygate_billing_proration(self, context: ProrationContext) -> str | None:
            return "none" if context.change == "cancel" else None

    billing.payments.plugin_manager.register(NoCancelProration())
    b = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="b")
    clock.set(2027, 2, 20)
    assert billing.preview_cancel(OWNER, b.id).total == USD("0")
    billing.cancel(OWNER, b.id, at="now")
    assert _records(billing, acct) == [] and refunds(billing.payments) == 0
    with pytest.raises(paygate.errors.InvalidRequest):
        billing.cancel(OWNER, b.id, at="now", refund="all")


def test_cancel_at_period_end_refunds_nothing(billing: Billing, clock: Clock) -> None:
    acct = account_with_card(billing)
    sub = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")
    clock.set(2027, 2, 14)
    assert billing.cancel(OWNER, sub.id).status == "cancelling"
    clock.set(2027, 3, 1)
    billing.run_once()
    assert billing.subscription(OWNER, sub.id).status == "canceled"
    assert _records(billing, acct) == [] and refunds(billing.payments) == 0


def test_an_unpaid_period_is_not_refunded(billing: Billing, clock: Clock) -> None:
    acct = account_with_card(billing)
    sub = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")
    card_declines(billing, acct)
    clock.set(2027, 2, 28, hour=23)
    billing.run_once()  # the March renewal fails: open, retrying
    clock.set(2027, 3, 10)
    billing.cancel(OWNER, sub.id, at="now")
    assert _records(billing, acct) == [] and refunds(billing.payments) == 0


def test_preview_cancel_is_what_apply_refunds_and_a_stale_one_is_refused(
    billing: Billing, clock: Clock
) -> None:
    acct = account_with_card(billing)
    sub = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")
    clock.set(2027, 2, 14)
    preview = billing.preview_cancel(OWNER, sub.id)
    assert preview.kind == "cancel" and preview.policy == "actual_days"
    assert preview.total == USD("-15.00")
    clock.set(2027, 2, 15)  # a day later a day less is refunded
    with pytest.raises(StalePreview):
        billing.apply(OWNER, preview)
    assert billing.subscription(OWNER, sub.id).status == "active"
    fresh = billing.preview_cancel(OWNER, sub.id)
    assert billing.apply(OWNER, fresh).status == "canceled"
    [record] = _records(billing, acct)
    assert [(ln.kind, ln.amount) for ln in record.lines] == [
        (ln.kind, ln.amount) for ln in fresh.lines
    ]
    with pytest.raises(InvalidTransition):
        billing.apply(OWNER, fresh)


def test_a_lost_refund_answer_is_settled_with_the_same_key_once(
    billing: Billing, clock: Clock
) -> None:
    acct = account_with_card(billing)
    sub = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")
    [paid] = billing.invoices(OWNER, acct)
    clock.set(2027, 2, 14)
    # The gateway refunds; the answer is lost on the way back.
    billing.payments.plugin("sandbox").inject("reset_after_charge")
    assert billing.cancel(OWNER, sub.id, at="now").status == "canceled"
    [record] = _records(billing, acct)
    assert record.status == "draft"  # written before the refund, settled after
    assert refunds(billing.payments) == 1
    # Meanwhile the pending credit already counts against the line: a second
    # credit cannot take it again.
    with billing.store.read() as conn:
        assert billing.store.credited(conn, [paid.lines[0].id]) == {paid.lines[0].id: 1500}
    clock.advance(minutes=10)
    report = billing.run_once()
    assert report.refunded == 1
    [record] = _records(billing, acct)
    assert record.status == "refunded"
    assert refunds(billing.payments) == 1  # refunded once, recorded once
    assert paid.transaction_id is not None
    assert billing.payments.transaction(paid.transaction_id).refunded == USD("15.00")
    assert billing.run_once().refunded == 0


def test_cancel_again_finishes_a_refund_left_pending(billing: Billing, clock: Clock) -> None:
    acct = account_with_card(billing)
    sub = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")
    clock.set(2027, 2, 14)
    billing.payments.plugin("sandbox").inject("reset_after_charge")
    billing.cancel(OWNER, sub.id, at="now")
    clock.advance(minutes=10)
    billing.cancel(OWNER, sub.id, at="now")  # settles, does not raise
    [record] = _records(billing, acct)
    assert record.status == "refunded" and refunds(billing.payments) == 1
    with pytest.raises(InvalidTransition):
        billing.cancel(OWNER, sub.id, at="now")  # nothing left to settle


# -- 2. the end state of dunning is a policy --------------------------------------------
def _fail_all_retries(billing: Billing, clock: Clock, acct: str) -> None:
    card_declines(billing, acct)
    clock.set(2027, 2, 28, hour=23)
    for _ in range(10):
        billing.run_once()
        clock.advance(days=1)


class DunningEnd:
    def __init__(self, end: str) -> None:
        self.end = end

    @hookimpl
    def paygate_billing_dunning_end(self, context: Any) -> str | None:
        return self.end


def test_dunning_ends_canceled_by_default(billing: Billing, clock: Clock) -> None:
    acct = account_with_card(billing)
    sub = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")
    _fail_all_retries(billing, clock, acct)
    now = billing.subscription(OWNER, sub.id)
    assert now.status == "canceled" and now.entitlement.value == "none"
    assert now.collection_state.value == "past_due"


@pytest.mark.parametrize("keep", [True, False])
def test_dunning_can_end_past_due_and_a_new_card_restores_it(
    billing: Billing, clock: Clock, keep: bool
) -> None:
    end = "past_due" if keep else "unpaid"
    billing.payments.plugin_manager.register(DunningEnd(end))
    acct = account_with_card(billing)
    sub = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")
    _fail_all_retries(billing, clock, acct)
    now = billing.subscription(OWNER, sub.id)
    assert now.status == "past_due" and now.billing_state.value == "active"
    assert now.entitlement.value == ("active" if keep else "none")
    [unpaid] = [i for i in billing.invoices(OWNER, acct) if i.status == "uncollectible"]
    before = charges(billing.payments)
    # The owner adds a card that works: the unpaid invoice is charged now.
    card_declines(billing, acct, declines=False)
    billing.add_payment_method(
        OWNER, acct, paygate.Card("5555555555554444", 12, 2031, "123"), idempotency_key="card-2"
    )
    paid = next(i for i in billing.invoices(OWNER, acct) if i.id == unpaid.id)
    assert paid.status == "paid" and charges(billing.payments) == before + 1
    restored = billing.subscription(OWNER, sub.id)
    assert restored.status == "active" and restored.entitlement.value == "active"
    # and it renews again
    assert restored.next_action_at is not None


def test_after_a_past_due_end_renewals_go_on(payments: paygate.Payments, clock: Clock) -> None:
    billing = Billing(payments, clock=clock)
    billing.payments.plugin_manager.register(DunningEnd("past_due"))
    acct = account_with_card(billing)
    sub = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")
    _fail_all_retries(billing, clock, acct)  # the March invoice is given up on
    assert billing.subscription(OWNER, sub.id).status == "past_due"
    clock.set(2027, 3, 31, hour=23)
    billing.run_once()
    renewals = [i for i in billing.invoices(OWNER, acct) if i.reason == "renewal"]
    assert len(renewals) == 2  # April was invoiced and tried
    assert renewals[-1].attempt_count == 1


def test_dunning_can_end_frozen(billing: Billing, clock: Clock) -> None:
    billing.payments.plugin_manager.register(DunningEnd("freeze"))
    acct = account_with_card(billing)
    sub = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")
    _fail_all_retries(billing, clock, acct)
    now = billing.subscription(OWNER, sub.id)
    assert now.status == "frozen" and now.entitlement.value == "none"
    assert now.next_action_at is None  # no renewal while frozen for debt
    [unpaid] = [i for i in billing.invoices(OWNER, acct) if i.status == "uncollectible"]
    with pytest.raises(PaymentFailed):
        billing.pay(OWNER, unpaid.id)  # the card still declines
    card_declines(billing, acct, declines=False)
    before = charges(billing.payments)
    assert billing.pay(OWNER, unpaid.id).status == "paid"
    assert charges(billing.payments) == before + 1
    back = billing.subscription(OWNER, sub.id)
    assert back.status == "active" and back.entitlement.value == "active"
    # the days frozen are added to the period that was paid for
    assert back.period_end > now.period_end
    assert billing.pay(OWNER, unpaid.id).status == "paid"  # paying again charges nothing
    assert charges(billing.payments) == before + 1


def test_a_bad_dunning_end_answer_parks_the_subscription_with_nothing_half_done(
    billing: Billing, clock: Clock
) -> None:
    billing.payments.plugin_manager.register(DunningEnd("explode"))
    acct = account_with_card(billing)
    sub = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")
    _fail_all_retries(billing, clock, acct)
    now = billing.subscription(OWNER, sub.id)
    assert now.status == "needs_review"
    assert "paygate_billing_dunning_end" in (now.review_reason or "")
    # the last failure was rolled back with the bad answer: not given up on
    assert [i.status for i in billing.invoices(OWNER, acct) if i.reason == "renewal"] == ["open"]


# -- 3. a parked subscription whose charge went through -----------------------------------
def test_a_parked_subscription_whose_charge_went_through_is_settled_as_paid(
    payments: paygate.Payments, clock: Clock
) -> None:
    billing = Billing(payments, clock=clock, safety_bound=1)
    acct = account_with_card(billing)
    sub = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")
    clock.set(2027, 2, 28, hour=23)
    # The renewal charge goes through at the gateway; the answer is lost.
    payments.plugin("sandbox").inject("reset_after_charge")
    billing.run_once()
    [renewal] = [i for i in billing.invoices(OWNER, acct) if i.reason == "renewal"]
    assert renewal.status == "draft" and charges(payments) == 2
    # Before the run that would settle it, the subscription is parked (what the
    # safety bound does when a second renewal would come in 24 hours).
    with billing.store.write() as conn:
        row = billing.store.subscription(conn, sub.id, lock=True)
        billing.store.update_subscription(
            conn, row, billing.now(), billing_state="needs_review", review_reason="test"
        )
    clock.advance(minutes=10)
    billing.run_once()
    [renewal] = [i for i in billing.invoices(OWNER, acct) if i.reason == "renewal"]
    assert renewal.status == "paid" and renewal.number is not None
    assert charges(payments) == 2  # one charge at the sandbox for the renewal
    assert billing.subscription(OWNER, sub.id).status == "needs_review"  # still parked
    billing.run_once()
    assert charges(payments) == 2 and billing.subscription(OWNER, sub.id).status == "needs_review"


def test_the_safety_bound_parks_after_settling_a_charge_that_went_through(
    payments: paygate.Payments, clock: Clock
) -> None:
    billing = Billing(payments, clock=clock, safety_bound=1)
    acct = account_with_card(billing)
    sub = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")
    clock.set(2027, 2, 28, hour=23)
    payments.plugin("sandbox").inject("reset_after_charge")
    billing.run_once()  # renewal 1: the charge goes through, its answer is lost
    with billing.store.write() as conn:
        row = billing.store.subscription(conn, sub.id, lock=True)
        # An anomaly the bound is there for: the next period is due at once.
        billing.store.update_subscription(
            conn, row, billing.now(), period_end=row.period_start, next_action_at=billing.now()
        )
    report = billing.run_once()
    assert report.parked == 1  # a second renewal in 24 hours: parked, not charged
    assert billing.subscription(OWNER, sub.id).status == "needs_review"
    [renewal] = [i for i in billing.invoices(OWNER, acct) if i.reason == "renewal"]
    assert renewal.status == "paid"  # the charge that went through is not lost
    assert charges(payments) == 2  # the first period and renewal 1, each once
    billing.run_once()
    assert charges(payments) == 2


def test_staff_release_a_parked_subscription(payments: paygate.Payments, clock: Clock) -> None:
    billing = Billing(payments, clock=clock)
    acct = account_with_card(billing)
    sub = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")
    with billing.store.write() as conn:
        row = billing.store.subscription(conn, sub.id, lock=True)
        billing.store.update_subscription(
            conn,
            row,
            billing.now(),
            billing_state="needs_review",
            review_reason="test",
            next_action_at=None,
        )
    with pytest.raises(paygate.errors.PermissionDenied):
        billing.release(OWNER, sub.id)
    released = billing.release(STAFF, sub.id)
    assert released.status == "active" and released.review_reason is None
    assert released.next_action_at is not None
    assert "subscription.released" in [e.type for e in billing.events()]
    with pytest.raises(InvalidTransition):
        billing.release(STAFF, sub.id)  # not parked any more
    clock.set(2027, 2, 28, hour=23)
    billing.run_once()
    assert billing.subscription(OWNER, sub.id).period_start.month == 2

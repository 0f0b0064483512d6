"""The subscriptions API on Billing: who may act, subscribe, upgrade with
proration, add-ons, downgrades and cycle switches at the period end, freeze,
cancel, and previews that are exactly what apply does."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from billing_helpers import OWNER, STAFF, Clock, account_with_card, card, card_declines, charges

import paygate
from paygate.billing import (
    Actor,
    Billing,
    BillingPermissionDenied,
    Catalog,
    CurrencyMismatch,
    InvalidTransition,
    PaymentFailed,
    StalePreview,
    UnknownPrice,
)


def test_subscribe_charges_the_first_period_in_advance_once(
    billing: Billing, payments: paygate.Payments
) -> None:
    acct = account_with_card(billing)
    sub = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="sub-1")
    again = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="sub-1")
    assert again.id == sub.id
    assert charges(payments) == 1
    assert (sub.period_start, sub.period_end) == (date(2027, 1, 31), date(2027, 2, 28))
    assert sub.status == "active" and sub.entitlement.value == "active"
    [inv] = billing.invoices(OWNER, acct)
    assert (inv.status, inv.series, inv.number) == ("paid", "INV", 1)
    assert inv.total == paygate.Money("30.00", "USD") == inv.amount_paid


def test_adding_a_card_runs_the_one_dollar_check(
    billing: Billing, payments: paygate.Payments
) -> None:
    acct = billing.create_account(OWNER.ref, currency="EUR", timezone="Europe/Paris")
    stored = billing.add_payment_method(OWNER, acct.id, card(), idempotency_key="c1")
    verifies = [op for op in payments.ledger.operations() if op.operation == "verify"]
    assert len(verifies) == 1 and verifies[0].amount == paygate.Money("1.00", "EUR")
    assert billing.account(OWNER, acct.id).payment_method == stored


def test_a_refused_first_charge_starts_nothing_and_numbers_nothing(billing: Billing) -> None:
    acct = account_with_card(billing)
    card_declines(billing, acct)
    with pytest.raises(PaymentFailed) as info:
        billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")
    assert info.value.decline_code == "card_declined"
    [inv] = billing.invoices(OWNER, acct)
    assert (inv.status, inv.number) == ("draft", None)
    [sub] = [billing._get(inv.subscription_id or "")]
    assert sub.status == "canceled" and sub.entitlement.value == "none"


def test_bad_input_is_typed_before_anything_is_written(
    billing: Billing, payments: paygate.Payments
) -> None:
    acct = account_with_card(billing)
    with pytest.raises(UnknownPrice, match="webinar/s9"):
        billing.subscribe(OWNER, acct, "webinar/s9", idempotency_key="x")
    with pytest.raises(UnknownPrice, match="cycle"):
        billing.subscribe(OWNER, acct, "webinar/s25", cycle="weekly", idempotency_key="x")
    jpy = billing.create_account(OWNER.ref, currency="JPY", timezone="Asia/Tokyo")
    billing.add_payment_method(OWNER, jpy.id, card(), idempotency_key="c")
    with pytest.raises(CurrencyMismatch, match="JPY"):
        billing.subscribe(OWNER, jpy.id, "webinar/s25", idempotency_key="x")
    bare = billing.create_account(OWNER.ref, currency="USD")
    with pytest.raises(InvalidTransition, match="payment method"):
        billing.subscribe(OWNER, bare.id, "webinar/s25", idempotency_key="x")
    with pytest.raises(paygate.errors.InvalidRequest, match="time zone"):
        billing.create_account(OWNER.ref, currency="USD", timezone="Mars/Olympus")
    assert charges(payments) == 0
    assert billing.invoices(OWNER, acct) == []


def test_multi_users_sub_accounts_and_strangers_are_refused_everywhere(billing: Billing) -> None:
    acct = account_with_card(billing)
    sub = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")
    billing.add_member(acct, "colleague")
    child = billing.create_account("child-owner", currency="USD", parent_id=acct)
    colleague, child_owner, stranger = (
        Actor.user("colleague"),
        Actor.user("child-owner"),
        Actor.user("x"),
    )
    for actor in (colleague, stranger):
        with pytest.raises(BillingPermissionDenied):
            billing.details(actor, acct)
        with pytest.raises(BillingPermissionDenied):
            billing.invoices(actor, acct)
        with pytest.raises(BillingPermissionDenied):
            billing.add_payment_method(actor, acct, card(), idempotency_key="c")
        with pytest.raises(BillingPermissionDenied):
            billing.preview_change(actor, sub.id, plan="webinar/s100")
        with pytest.raises(BillingPermissionDenied):
            billing.preview_add_addon(actor, sub.id, "toll-free")
        with pytest.raises(BillingPermissionDenied):
            billing.cancel(actor, sub.id)
        with pytest.raises(BillingPermissionDenied):
            billing.freeze(actor, sub.id, days=30)
    # a sub-account's own owner cannot pay or buy from it either (seed)
    with pytest.raises(BillingPermissionDenied, match="sub-account"):
        billing.add_payment_method(child_owner, child.id, card(), idempotency_key="c")
    with pytest.raises(BillingPermissionDenied, match="sub-account"):
        billing.subscribe(child_owner, child.id, "webinar/s25", idempotency_key="s")
    # only staff grant the nonprofit discount
    with pytest.raises(BillingPermissionDenied):
        billing.grant_nonprofit(OWNER, acct)
    assert billing.grant_nonprofit(STAFF, acct).nonprofit is True


def test_the_permission_hook_can_widen_the_default(
    payments: paygate.Payments, clock: Clock
) -> None:
    class LetColleaguesView:
        @paygate.hookimpl
        def paygate_billing_authorize(self, actor, action, account):  # type: ignore[no-untyped-def]
            if actor.ref == "colleague" and action == "view":
                return True
            return None

    payments.plugin_manager.register(LetColleaguesView(), name="let-colleagues-view")
    billing = Billing(payments, clock=clock)
    acct = account_with_card(billing)
    billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")
    billing.add_member(acct, "colleague")
    assert billing.details(Actor.user("colleague"), acct).plan == "Webinar 25 attendees"
    with pytest.raises(BillingPermissionDenied):
        billing.add_payment_method(Actor.user("colleague"), acct, card(), idempotency_key="c")


def test_upgrade_now_is_prorated_from_what_was_charged(billing: Billing, clock: Clock) -> None:
    acct = account_with_card(billing)
    sub = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")  # Jan 31 - Feb 28
    clock.set(2027, 2, 14)  # 14 of 28 days left
    preview = billing.preview_change(OWNER, sub.id, plan="webinar/s100")
    assert preview.timing == "now" and preview.policy == "actual_days"
    kinds = [(ln.kind, ln.amount) for ln in preview.lines]
    usd = lambda a: paygate.Money(a, "USD")  # noqa: E731
    assert kinds == [("proration_credit", usd("-15.00")), ("proration_debit", usd("30.00"))]
    assert preview.total == usd("15.00")
    after = billing.apply(OWNER, preview)
    assert after.offer == "webinar/s100"
    inv = billing.invoices(OWNER, acct)[-1]
    assert inv.reason == "change" and inv.status == "paid"
    assert [(ln.kind, ln.amount) for ln in inv.lines] == kinds  # exactly the preview
    credit = inv.lines[0]
    first = billing.invoices(OWNER, acct)[0].lines[0]
    assert credit.credits_line_id == first.id


def test_a_stale_preview_is_refused(billing: Billing, clock: Clock) -> None:
    acct = account_with_card(billing)
    sub = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")
    clock.set(2027, 2, 14)
    preview = billing.preview_change(OWNER, sub.id, plan="webinar/s100")
    clock.set(2027, 2, 15)  # a day later the proration differs
    with pytest.raises(StalePreview):
        billing.apply(OWNER, preview)
    fresh = billing.preview_change(OWNER, sub.id, plan="webinar/s100")
    billing.apply(OWNER, fresh)
    with pytest.raises((StalePreview, InvalidTransition)):
        billing.apply(OWNER, fresh)  # applying twice is refused: the subscription moved


def test_two_upgrades_in_a_row_never_over_credit(billing: Billing, clock: Clock) -> None:
    acct = account_with_card(billing)
    sub = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")  # 30.00
    clock.set(2027, 2, 14)
    billing.apply(OWNER, billing.preview_change(OWNER, sub.id, plan="webinar/s100"))  # +15
    clock.set(2027, 2, 21)  # 7 of 28 days left
    second = billing.preview_change(OWNER, sub.id, plan="webinar/s500")
    credits = [ln for ln in second.lines if ln.kind == "proration_credit"]
    # The 30.00 plan line was credited 15.00 on Feb 14 for Feb 14-28, which
    # already covers Feb 21-28 (7.50 of it): nothing more is owed on it. The
    # 30.00 debit for Feb 14-28 has half left: 15.00. Paid 30 + 15 = 45, used
    # 15 (s25, 14 days) + 15 (s100, 7 days) = 30: 15.00 is exactly what is left
    # (the former 7.50 more gave back days already given back).
    assert [ln.amount.amount for ln in credits] == [Decimal("-15.00")]
    charged = sum(
        (
            ln.amount
            for inv in billing.invoices(OWNER, acct)
            for ln in inv.lines
            if ln.kind != "proration_credit"
        ),
        paygate.Money("0", "USD"),
    )
    assert -sum(ln.amount.amount for ln in credits) <= charged.amount
    debit = next(ln for ln in second.lines if ln.kind == "proration_debit")
    assert debit.amount == paygate.Money("41.25", "USD")  # 165.00 x 7/28


def test_credits_come_from_the_stored_line_after_a_price_change(
    payments: paygate.Payments, clock: Clock
) -> None:
    from importlib import resources

    text = resources.files("paygate.billing").joinpath("seed_catalog.toml").read_text("utf-8")
    billing = Billing(payments, clock=clock, catalog=Catalog.loads(text))
    acct = account_with_card(billing)
    sub = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")  # charged 30.00
    # the host raises the price from Feb 1: the running period was charged 30.00
    head = "[[products.webinar.sizes.s25.prices]]\n"
    old = head + 'currency = "USD"\namount = "30.00"\nvalid_from = 2026-01-01\n'
    new = head + 'currency = "USD"\namount = "44.00"\nvalid_from = 2027-02-01\n'
    raised = text.replace(old, old + "\n" + new)
    assert raised != text
    billing.catalog = Catalog.loads(raised)
    clock.set(2027, 2, 14)
    preview = billing.preview_change(OWNER, sub.id, plan="webinar/s100")
    [credit] = [ln for ln in preview.lines if ln.kind == "proration_credit"]
    assert credit.amount == paygate.Money("-15.00", "USD")  # half of 30.00, not of 44.00


def test_downgrade_and_cycle_switch_wait_for_the_period_end(
    billing: Billing, payments: paygate.Payments, clock: Clock
) -> None:
    acct = account_with_card(billing)
    sub = billing.subscribe(OWNER, acct, "webinar/s100", idempotency_key="s")
    clock.set(2027, 2, 10)
    down = billing.preview_change(OWNER, sub.id, plan="webinar/s25")
    assert (down.timing, down.lines, down.effective) == ("period_end", (), date(2027, 2, 28))
    billing.apply(OWNER, down)
    annual = billing.preview_change(OWNER, sub.id, plan="webinar/s25", cycle="annual")
    billing.apply(OWNER, annual)
    assert charges(payments) == 1  # nothing charged now
    d = billing.details(OWNER, acct)
    # the next charge is the annual plan: 12 x 30.00 less the annual 20 %
    assert d.next_charge_total == paygate.Money("288.00", "USD")
    assert d.renewal_date == date(2027, 2, 28)


def test_addon_is_prorated_and_removal_waits_for_the_period_end(
    billing: Billing, clock: Clock
) -> None:
    acct = account_with_card(billing)
    sub = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")
    clock.set(2027, 2, 21)  # 7 of 28 days left
    preview = billing.preview_add_addon(OWNER, sub.id, "toll-free", quantity=2)
    assert preview.total == paygate.Money("7.50", "USD")  # 2 x 15.00 x 7/28
    sub = billing.apply(OWNER, preview)
    [item] = [i for i in sub.active_items() if i.kind == "toll_free_number"]
    assert item.quantity == 2
    removal = billing.preview_remove_addon(OWNER, sub.id, item.id)
    assert removal.timing == "period_end" and removal.total.amount == 0
    billing.apply(OWNER, removal)
    assert billing.details(OWNER, acct).next_charge_total == paygate.Money("30.00", "USD")


def test_freeze_blocks_changes_and_unfreeze_moves_the_period(
    billing: Billing, clock: Clock
) -> None:
    acct = account_with_card(billing)
    sub = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")  # to Feb 28
    clock.set(2027, 2, 10)
    with pytest.raises(InvalidTransition, match="1 to 90"):
        billing.freeze(OWNER, sub.id, days=120)
    frozen = billing.freeze(OWNER, sub.id, days=60)
    assert frozen.status == "frozen" and frozen.entitlement.value == "none"
    with pytest.raises(InvalidTransition, match="frozen"):
        billing.preview_change(OWNER, sub.id, plan="webinar/s100")
    clock.set(2027, 2, 20)
    thawed = billing.unfreeze(OWNER, sub.id)
    assert thawed.status == "active" and thawed.period_end == date(2027, 3, 10)  # moved 10 days


def test_cancel_reactivate_and_changes_on_a_cancelled_subscription(billing: Billing) -> None:
    acct = account_with_card(billing)
    sub = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")
    assert billing.cancel(OWNER, sub.id).status == "cancelling"
    with pytest.raises(InvalidTransition, match="reactivate"):
        billing.preview_change(OWNER, sub.id, plan="webinar/s100")
    assert billing.reactivate(OWNER, sub.id).status == "active"
    done = billing.cancel(OWNER, sub.id, at="now")
    assert done.status == "canceled" and done.entitlement.value == "none"
    with pytest.raises(InvalidTransition):
        billing.preview_add_addon(OWNER, sub.id, "toll-free")
    with pytest.raises(InvalidTransition):
        billing.cancel(OWNER, sub.id)


def test_details_show_the_seed_page(billing: Billing) -> None:
    acct = account_with_card(billing)
    sub = billing.subscribe(
        OWNER, acct, "webinar/s100", addons=[("toll-free", 1)], idempotency_key="s"
    )
    billing.record_usage(STAFF, sub.id, event_id="call-1", metric="minutes", quantity=40)
    d = billing.details(OWNER, acct)
    assert (d.plan, d.plan_size, d.cycle, d.schedule) == (
        "Webinar 100 attendees",
        100,
        "monthly",
        "every 1 month",
    )
    assert d.status == "active" and d.renewal_date == date(2027, 2, 28)
    assert d.payment_method is not None and d.payment_method.endswith("•••• 4242")
    assert d.addons == (("Toll-free number", 1),)
    assert d.allowances == {"minutes": (100, 40, 60)}
    assert d.price == paygate.Money("75.00", "USD")
    assert d.next_charge_total == sum(
        (ln.amount for ln in d.next_charge), paygate.Money("0", "USD")
    )


def test_usage_is_idempotent_and_metered_only_where_sold(billing: Billing) -> None:
    acct = account_with_card(billing)
    sub = billing.subscribe(
        OWNER, acct, "webinar/s25", addons=[("toll-free", 1)], idempotency_key="s"
    )
    assert billing.record_usage(STAFF, sub.id, event_id="e", metric="minutes", quantity=5) is True
    assert billing.record_usage(STAFF, sub.id, event_id="e", metric="minutes", quantity=5) is False
    with pytest.raises(paygate.errors.InvalidRequest, match="meters"):
        billing.record_usage(STAFF, sub.id, event_id="f", metric="gigabytes", quantity=1)
    with pytest.raises(BillingPermissionDenied):
        billing.record_usage(OWNER, sub.id, event_id="g", metric="minutes", quantity=1)


def test_no_change_between_the_period_end_and_its_renewal(billing: Billing, clock: Clock) -> None:
    acct = account_with_card(billing)
    sub = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")
    clock.set(2027, 3, 2)  # the Feb 28 renewal has not run
    with pytest.raises(InvalidTransition, match="due for renewal"):
        billing.preview_change(OWNER, sub.id, plan="webinar/s100")
    billing.run_once()
    assert billing.preview_change(OWNER, sub.id, plan="webinar/s100").timing == "now"


def test_billing_needs_an_sql_database() -> None:
    payments = paygate.Payments({"database_url": "memory"}, load_entrypoints=False)
    with pytest.raises(paygate.errors.ConfigurationError, match="SQL database"):
        Billing(payments)


def test_a_billing_database_of_its_own(tmp_path: object, clock: Clock) -> None:
    payments = paygate.Payments({"database_url": "memory"}, load_entrypoints=False)
    billing = Billing(payments, database_url=f"sqlite:///{tmp_path}/b.sqlite3", clock=clock)
    acct = account_with_card(billing)
    assert billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s").status == "active"


def test_an_upgrade_whose_charge_has_no_answer_is_applied_once_paid(
    billing: Billing, payments: paygate.Payments, clock: Clock
) -> None:
    acct = account_with_card(billing)
    sub = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")
    clock.set(2027, 2, 14)
    preview = billing.preview_change(OWNER, sub.id, plan="webinar/s100")
    payments.plugin("sandbox").inject("reset_after_charge")  # charged, answer lost
    with pytest.raises(paygate.errors.ProviderUnavailable):
        billing.apply(OWNER, preview)
    assert billing._get(sub.id).offer == "webinar/s25"
    with pytest.raises(InvalidTransition, match="waiting for its payment"):
        billing.preview_add_addon(OWNER, sub.id, "toll-free")
    clock.advance(minutes=2)
    billing.run_once()  # settles the charge with the same key: no second charge
    assert billing._get(sub.id).offer == "webinar/s100"
    assert charges(payments) == 2
    assert billing.invoices(OWNER, acct)[-1].status == "paid"

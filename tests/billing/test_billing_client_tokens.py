"""``Billing.add_payment_method`` with a token the payer's browser made at the
provider (Stripe.js's ``pm_...``): stored first, then the $1 check with the
stored method, and a declined check leaves the account's method as it was.

The sandbox stands in for the provider: a method it stored without a customer
is its "browser-made token" (Stripe's own path runs against localstripe in
plugins/paygate-stripe/tests/test_stripe_portal.py)."""

from __future__ import annotations

import pytest
from billing_helpers import OWNER, VISA, account_with_card, card, charges

import paygate
from paygate.billing import Billing, BillingPermissionDenied
from paygate.billing.models import Actor
from paygate.errors import CardDeclined, InvalidRequest
from paygate.models import StoredPaymentMethod

MASTERCARD = "5555555555554444"


def browser_token(payments: paygate.Payments, number: str = MASTERCARD) -> StoredPaymentMethod:
    """What the payer's browser hands the host: a token, no customer, no card."""
    made = payments.store_payment_method(card(number), idempotency_key=f"browser-{number}")
    return StoredPaymentMethod(provider="sandbox", token=made.token)


def test_a_browser_token_is_stored_then_checked_and_becomes_the_method(
    billing: Billing, payments: paygate.Payments
) -> None:
    acct = billing.create_account(OWNER.ref, currency="EUR", timezone="Europe/Paris")
    token = browser_token(payments)
    before = len(payments.ledger.operations())
    stored = billing.add_payment_method(OWNER, acct.id, token, idempotency_key="k1")
    assert stored.token == token.token and stored.last4 == "4444"
    assert stored.customer_reference is not None  # kept for this account's customer
    assert billing.account(OWNER, acct.id).payment_method == stored
    ops = [op.operation for op in payments.ledger.operations()[before:]]
    # stored before the check: Stripe charges a browser-made method only attached
    assert ops.index("store_payment_method") < ops.index("verify")
    [verify] = [op for op in payments.ledger.operations()[before:] if op.operation == "verify"]
    assert verify.amount == paygate.Money("1.00", "EUR")
    tx = payments.transaction(verify.transaction_id)
    assert tx.status is paygate.TransactionStatus.VOIDED
    # the same form key again: nothing new at the provider
    again = billing.add_payment_method(OWNER, acct.id, token, idempotency_key="k1")
    assert again == stored
    assert [op.operation for op in payments.ledger.operations()[before:]].count("verify") == 1


def test_a_declined_check_keeps_the_old_method_and_raises_the_decline(
    billing: Billing, payments: paygate.Payments
) -> None:
    acct = account_with_card(billing)
    old = billing.account(OWNER, acct).payment_method
    token = browser_token(payments)
    payments.plugin("sandbox").set_stored_outcome(token.token, "decline_on_charge")
    with pytest.raises(CardDeclined):
        billing.add_payment_method(OWNER, acct, token, idempotency_key="k2")
    assert billing.account(OWNER, acct).payment_method == old
    assert old is not None and old.last4 == VISA[-4:]


def test_renewals_charge_the_browser_token(billing: Billing, payments: paygate.Payments) -> None:
    acct = billing.create_account(OWNER.ref, currency="USD", timezone="Europe/Paris")
    token = browser_token(payments)
    billing.add_payment_method(OWNER, acct.id, token, idempotency_key="k3")
    before = charges(payments)
    billing.subscribe(OWNER, acct.id, "webinar/s25", idempotency_key="s")
    assert charges(payments) == before + 1
    [charge] = [op for op in payments.ledger.operations() if op.operation == "charge_recurring"]
    assert payments.transaction(charge.transaction_id).provider == "sandbox"


def test_an_unknown_or_pending_token_is_refused_and_nothing_changes(
    billing: Billing, payments: paygate.Payments
) -> None:
    acct = account_with_card(billing)
    old = billing.account(OWNER, acct).payment_method
    with pytest.raises(paygate.errors.PaygateError) as info:
        billing.add_payment_method(
            OWNER,
            acct,
            StoredPaymentMethod(provider="sandbox", token="pm_sbx_nosuchtoken"),
            idempotency_key="k4",
        )
    assert info.value.code.value == "invalid_request"
    pending = StoredPaymentMethod(
        provider="sandbox", token=browser_token(payments).token, status="requires_action"
    )
    with pytest.raises(InvalidRequest, match="confirm_payment_method"):
        billing.add_payment_method(OWNER, acct, pending, idempotency_key="k5")
    assert billing.account(OWNER, acct).payment_method == old


def test_only_who_may_pay_adds_a_token(billing: Billing, payments: paygate.Payments) -> None:
    acct = account_with_card(billing)
    billing.add_member(acct, "colleague")
    with pytest.raises(BillingPermissionDenied):
        billing.add_payment_method(
            Actor.user("colleague"), acct, browser_token(payments), idempotency_key="k6"
        )

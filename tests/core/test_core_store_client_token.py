"""``Payments.store_payment_method`` with a token the payer's browser made at
the provider (Stripe.js's ``pm_...``), as docs/providers/stripe.md shows: the
provider keeps it for the customer. The sandbox's stand-in for such a token is
a method it stored without a customer."""

from __future__ import annotations

import pytest
from core_helpers import card

import paygate
from paygate.errors import InvalidRequest, PaygateError


@pytest.fixture
def payments() -> paygate.Payments:
    return paygate.Payments({"database_url": "memory"}, load_entrypoints=False)


def test_a_browser_token_is_kept_for_the_customer(payments: paygate.Payments) -> None:
    made = payments.store_payment_method(card(), idempotency_key="browser")
    assert made.customer_reference is None
    token = paygate.StoredPaymentMethod(provider="sandbox", token=made.token)
    customer = paygate.Customer(id="cust-1", email="ann@example.org")
    kept = payments.store_payment_method(token, customer=customer, idempotency_key="keep")
    assert (kept.token, kept.customer_reference) == (made.token, "cust-1")
    assert (kept.brand, kept.last4) == (made.brand, made.last4)
    renewal = payments.charge_recurring(paygate.Money("9.00", "USD"), kept)
    assert renewal.status is paygate.TransactionStatus.CAPTURED


def test_an_unknown_token_is_refused(payments: paygate.Payments) -> None:
    token = paygate.StoredPaymentMethod(provider="sandbox", token="pm_sbx_unknown")
    with pytest.raises(PaygateError) as info:
        payments.store_payment_method(token, idempotency_key="k")
    assert info.value.code.value == "invalid_request"


def test_a_method_waiting_for_approval_is_refused(payments: paygate.Payments) -> None:
    made = payments.store_payment_method(card(), idempotency_key="browser")
    pending = paygate.StoredPaymentMethod(
        provider="sandbox", token=made.token, status="requires_action"
    )
    with pytest.raises(InvalidRequest, match="confirm_payment_method"):
        payments.store_payment_method(pending, idempotency_key="k")
    assert [op.operation for op in payments.ledger.operations()] == ["store_payment_method"]


def test_a_token_of_a_provider_not_installed_is_refused(payments: paygate.Payments) -> None:
    token = paygate.StoredPaymentMethod(provider="stripe", token="pm_1Qabc")
    with pytest.raises(PaygateError):
        payments.store_payment_method(token, idempotency_key="k")
    assert payments.ledger.operations() == []

"""Through paygate's facade, with the recorded sandbox flow the demo uses."""

from __future__ import annotations

from paygate_paypal import recorded

import paygate
from paygate.models import Customer, PayPalWallet, StoredPaymentMethod, TransactionStatus
from paygate.money import Money

S = TransactionStatus
CONFIG = {
    "database_url": "memory",
    "paypal": {"client_id": "demo-id", "client_secret": "demo-secret"},
}


def test_authorize_approve_capture_refund_through_the_facade() -> None:
    with recorded.paypal_sandbox_responses() as rec:
        payments = paygate.Payments(CONFIG)
        buyer = Customer(id="cust_ng_1", country="NG")
        txn = payments.authorize(
            Money("49.00", "USD"), PayPalWallet(), provider="paypal", customer=buyer
        )
        assert txn.status is S.REQUIRES_ACTION
        assert txn.next_action is not None
        assert "checkoutnow?token=" in txn.next_action.redirect_url
        txn = payments.confirm(txn.id)
        assert txn.status is S.AUTHORIZED
        txn = payments.capture(txn.id, Money("20.00", "USD"), final=False)
        assert (txn.status, txn.captured) == (S.PARTIALLY_CAPTURED, Money("20.00", "USD"))
        txn = payments.capture(txn.id, Money("29.00", "USD"))
        assert (txn.status, txn.captured) == (S.CAPTURED, Money("49.00", "USD"))
        txn = payments.refund(txn.id, Money("25.00", "USD"))
        assert txn.status is S.PARTIALLY_REFUNDED
        txn = payments.refund(txn.id)
        assert (txn.status, txn.refunded) == (S.REFUNDED, Money("49.00", "USD"))
    paths = [path for _method, path in rec.calls]
    assert paths.count("/v1/oauth2/token") == 1
    assert sum("/refund" in p for p in paths) == 3  # 25.00 spans both captures, then the rest


def test_purchase_with_vault_then_merchant_initiated_renewal() -> None:
    with recorded.paypal_sandbox_responses():
        payments = paygate.Payments(CONFIG)
        txn = payments.purchase(
            Money("19.00", "USD"),
            PayPalWallet(),
            provider="paypal",
            metadata={"paypal_vault": "on_success"},
        )
        txn = payments.confirm(txn.id)
        assert txn.status is S.CAPTURED
        vault_id = txn.provider_data["vault_id"]
        stored = StoredPaymentMethod(provider="paypal", token=vault_id, method_kind="paypal")
        renewal = payments.charge_recurring(Money("19.00", "USD"), stored)
        assert renewal.status is S.CAPTURED
        assert renewal.captured == Money("19.00", "USD")


def test_void_through_the_facade() -> None:
    with recorded.paypal_sandbox_responses():
        payments = paygate.Payments(CONFIG)
        txn = payments.confirm(
            payments.authorize(Money("5.00", "USD"), PayPalWallet(), provider="paypal").id
        )
        assert payments.void(txn.id).status is S.VOIDED


def test_fees_through_the_facade() -> None:
    payments = paygate.Payments({"database_url": "memory"})
    breakdown = payments.fees(
        Money("100.00", "USD"),
        provider="paypal",
        method_kind="paypal",
        merchant_country="US",
        card_country="NG",
    )
    assert breakdown.merchant_fees == Money("5.48", "USD")  # 3.49 % + 0.49 + 1.5 %

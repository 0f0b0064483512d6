"""The contract check itself: it refuses known-bad requests (the canary), lets a
good one through, and forgives only what ``ALLOWED`` lists, each entry needed.

Every other test of this plugin runs under ``paypal_contract_checked``
(conftest.py), which validates each request the plugin sent.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from paygate_paypal import recorded
from paypal_contract import ALLOWED, SKIP_REASON, specs_dir, violations

import paygate
from paygate.models import Customer, PayPalWallet
from paygate.money import Money
from paygate.testing.wire import Wire

pytestmark = pytest.mark.skipif(specs_dir() is None, reason=SKIP_REASON)

API = "https://api-m.sandbox.paypal.com"
HEADERS = {
    "Content-Type": "application/json",
    "Authorization": "Bearer A21AAtoken",
    "PayPal-Request-Id": "order-1001",
}


def order(**unit: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "custom_id": "txn_1",
        "amount": {"currency_code": "USD", "value": "49.00"},
    }
    base.update(unit)
    return {"intent": "CAPTURE", "purchase_units": [base]}


def check(body: Any, headers: dict[str, str] | None = None) -> list[str]:
    return violations(
        "POST", f"{API}/v2/checkout/orders", headers or HEADERS, json.dumps(body).encode()
    )


def test_a_good_order_keeps_the_contract() -> None:
    assert check(order()) == []


@pytest.mark.parametrize(
    ("what", "body", "headers"),
    [
        ("amount as a number", order(amount={"currency_code": "USD", "value": 49.0}), None),
        ("intent not in the enum", {**order(), "intent": "SALE"}, None),
        ("intent missing", {"purchase_units": order()["purchase_units"]}, None),
        ("custom_id over 127 characters", order(custom_id="x" * 128), None),
        ("currency_code of 4 letters", order(amount={"currency_code": "USDX", "value": "1"}), None),
        (
            "PayPal-Request-Id over 108 characters",
            order(),
            {**HEADERS, "PayPal-Request-Id": "k" * 109},
        ),
    ],
)
def test_canary_known_bad_requests_are_refused(
    what: str, body: Any, headers: dict[str, str] | None
) -> None:
    # A validator that compiled nothing would accept everything: these must fail.
    assert check(body, headers), f"{what} passed PayPal's contract check"


def _sent(wire: Wire, path: str) -> list[Any]:
    return [r for r in wire.requests if r.method == "POST" and r.path == path]


def test_each_allowance_is_needed() -> None:
    """Run the flows that send what ALLOWED forgives; without the allowance
    the request breaks the documents, with it the request passes."""
    assert {a.path for a in ALLOWED} == {
        "/v3/vault/payment-tokens",
        "/v1/notifications/verify-webhook-signature",
    }
    with Wire() as wire, recorded.paypal_sandbox_responses():
        payments = paygate.Payments(
            {
                "database_url": "memory",
                "paypal": {"client_id": "c", "client_secret": "s", "webhook_id": "WH1"},
            }
        )
        stored = payments.store_payment_method(
            PayPalWallet(), customer=Customer(id="cus_1"), provider="paypal"
        )
        payments.confirm_payment_method(stored)
        tx = payments.confirm(payments.purchase(Money("5.00", "USD"), PayPalWallet()).id)
        event = {
            "id": "WH-1",
            "event_type": "PAYMENT.CAPTURE.COMPLETED",
            "resource_type": "capture",
            "create_time": "2026-01-01T00:00:00Z",
            "resource": {"id": "CAP1", "custom_id": tx.id},
        }
        headers = {
            "PAYPAL-AUTH-ALGO": "SHA256withRSA",
            "PAYPAL-CERT-URL": f"{API}/v1/notifications/certs/CERT-1",
            "PAYPAL-TRANSMISSION-ID": "id-1",
            "PAYPAL-TRANSMISSION-SIG": "sig",
            "PAYPAL-TRANSMISSION-TIME": "2026-01-01T00:00:00Z",
        }
        payments.parse_webhook("paypal", headers, json.dumps(event).encode())
        payments.close()
    for path in ("/v3/vault/payment-tokens", "/v1/notifications/verify-webhook-signature"):
        sent = _sent(wire, path)
        assert sent, f"the flow sent no POST {path}"
        for request in sent:
            args = (request.method, request.url, request.headers, request.body)
            assert violations(*args, allow=False), f"the allowance for {path} is not needed"
            assert violations(*args) == []

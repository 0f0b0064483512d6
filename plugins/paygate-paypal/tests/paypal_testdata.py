"""Fixtures for the PayPal plugin's recorded tests.

Response bodies are small examples written to follow the shapes in PayPal's
published OpenAPI documents (checkout_orders_v2, payments_payment_v2,
vault_payment_tokens_v3, notifications_webhooks_v1).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import responses
from paygate_paypal.plugin import PayPalProvider

from paygate.config import Config
from paygate.money import Money
from paygate.operations import Operation

BASE = "https://api-m.sandbox.paypal.com"
CLIENT_ID = "AZtest" + secrets.token_hex(8)
CLIENT_SECRET = "EKtest" + secrets.token_hex(12)
TOKEN = "A21AAtest" + secrets.token_hex(10)
ORDER_ID = "5O190127TN364715T"
AUTH_ID = "0VF52814937998046"
CAPTURE_ID = "2GG279541U471931P"
REFUND_ID = "1JU08902781691411"


def usd(value: str) -> Money:
    return Money(value, "USD")


def token_body(expires_in: int = 32400) -> dict[str, Any]:
    return {
        "scope": "https://uri.paypal.com/services/payments/payment",
        "access_token": TOKEN,
        "token_type": "Bearer",
        "app_id": "APP-80W284485P519543T",
        "expires_in": expires_in,
        "nonce": "2026-09-20T10:00:00Zabc",
    }


def order_created(intent: str = "AUTHORIZE", order_id: str = ORDER_ID) -> dict[str, Any]:
    return {
        "id": order_id,
        "intent": intent,
        "status": "PAYER_ACTION_REQUIRED",
        "payment_source": {"paypal": {}},
        "links": [
            {"href": f"{BASE}/v2/checkout/orders/{order_id}", "rel": "self", "method": "GET"},
            {
                "href": f"https://www.sandbox.paypal.com/checkoutnow?token={order_id}",
                "rel": "payer-action",
                "method": "GET",
            },
        ],
    }


def money(value: str, currency: str = "USD") -> dict[str, str]:
    return {"currency_code": currency, "value": value}


def order_authorized(value: str = "100.00", vault_id: str | None = None) -> dict[str, Any]:
    paypal: dict[str, Any] = {
        "email_address": "buyer@example.com",
        "account_id": "QYR5Z8XDVJNXQ",
        "account_status": "VERIFIED",
    }
    if vault_id:
        paypal["attributes"] = {"vault": {"id": vault_id, "status": "VAULTED"}}
    return {
        "id": ORDER_ID,
        "intent": "AUTHORIZE",
        "status": "COMPLETED",
        "payment_source": {"paypal": paypal},
        "purchase_units": [
            {
                "reference_id": "default",
                "payments": {
                    "authorizations": [
                        {
                            "id": AUTH_ID,
                            "status": "CREATED",
                            "amount": money(value),
                            "custom_id": "txn_test",
                            "expiration_time": "2026-10-19T10:00:00Z",
                            "links": [],
                        }
                    ]
                },
            }
        ],
        "links": [],
    }


def order_captured(
    value: str = "100.00", capture_id: str = CAPTURE_ID, status: str = "COMPLETED"
) -> dict[str, Any]:
    return {
        "id": ORDER_ID,
        "intent": "CAPTURE",
        "status": "COMPLETED",
        "payment_source": {"paypal": {"email_address": "buyer@example.com"}},
        "purchase_units": [
            {
                "reference_id": "default",
                "payments": {
                    "captures": [
                        {
                            "id": capture_id,
                            "status": status,
                            "amount": money(value),
                            "final_capture": True,
                            "custom_id": "txn_test",
                            "seller_receivable_breakdown": {
                                "gross_amount": money(value),
                                "paypal_fee": money("3.98"),
                                "net_amount": money("96.02"),
                            },
                        }
                    ]
                },
            }
        ],
        "links": [],
    }


def capture_body(
    capture_id: str, value: str, *, final: bool, status: str = "COMPLETED"
) -> dict[str, Any]:
    return {
        "id": capture_id,
        "status": status,
        "amount": money(value),
        "final_capture": final,
        "supplementary_data": {"related_ids": {"order_id": ORDER_ID, "authorization_id": AUTH_ID}},
        "links": [],
    }


def refund_body(refund_id: str, value: str) -> dict[str, Any]:
    return {"id": refund_id, "status": "COMPLETED", "amount": money(value), "links": []}


def error_body(name: str, issue: str | None, status_message: str = "") -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "message": status_message or "The requested action could not be performed.",
        "debug_id": "90957fca61718",
    }
    if issue:
        body["details"] = [{"issue": issue, "description": f"{issue} happened."}]
    return body


@pytest.fixture
def provider() -> PayPalProvider:
    plugin = PayPalProvider()
    plugin.paygate_configure(
        Config(
            {
                "paypal": {
                    "client_id": CLIENT_ID,
                    "client_secret": CLIENT_SECRET,
                    "webhook_id": "1JE4291016473214C",
                }
            }
        )
    )
    return plugin


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def token(rsps: responses.RequestsMock) -> Any:
    """The OAuth token endpoint, answering once (a second call fails the test)."""
    return rsps.add(responses.POST, f"{BASE}/v1/oauth2/token", json=token_body())


def common(**extra: Any) -> dict[str, Any]:
    base = {
        "provider": "paypal",
        "transaction_id": "txn_test",
        "idempotency_key": "idem-" + secrets.token_hex(4),
    }
    base.update(extra)
    return base


def sent_json(call: Any) -> Any:
    body = call.request.body
    if isinstance(body, bytes):
        body = body.decode()
    return json.loads(body) if body else None


OP = Operation

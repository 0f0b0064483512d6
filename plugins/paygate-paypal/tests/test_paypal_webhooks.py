"""Webhook verification through PayPal's verify-webhook-signature endpoint."""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses
from paygate_paypal.plugin import PayPalProvider
from paypal_testdata import BASE, CAPTURE_ID, CLIENT_ID, CLIENT_SECRET, ORDER_ID, TOKEN

from paygate.config import Config
from paygate.errors import ConfigurationError, SignatureVerificationError
from paygate.money import Money
from paygate.operations import WebhookRequest

VERIFY = f"{BASE}/v1/notifications/verify-webhook-signature"
HEADERS = {
    "PAYPAL-AUTH-ALGO": "SHA256withRSA",
    "PAYPAL-CERT-URL": "https://api-m.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-1d93a270",
    "PAYPAL-TRANSMISSION-ID": "69cd13f0-d67a-11e5-baa3-778b53f4ae55",
    "PAYPAL-TRANSMISSION-SIG": "lmI95Jx3Y9nhR5SJWlHVIWpg4AgFk7n9bCHSRxbrd8A9zrhdu2rMyFrmz"
    + "+Zjh3s3boXB07VXCXUZy/UFzUlnGJn0wDugt7FlSvdKeIJenLRemUxYCPVoEZzg9VFNqOa48gMkvF==",
    "PAYPAL-TRANSMISSION-TIME": "2026-09-20T10:11:12Z",
}


def event_body() -> bytes:
    # key order and spacing as PayPal sends them; the check must forward these bytes
    event = {
        "id": "WH-2WR32451HC0233532-67976317FL4543714",
        "create_time": "2026-09-20T10:11:10.000Z",
        "resource_type": "capture",
        "event_type": "PAYMENT.CAPTURE.COMPLETED",
        "summary": "Payment completed for $ 100.0 USD",
        "resource": {
            "id": CAPTURE_ID,
            "status": "COMPLETED",
            "amount": {"currency_code": "USD", "value": "100.00"},
            "custom_id": "txn_abc",
            "supplementary_data": {"related_ids": {"order_id": ORDER_ID}},
        },
    }
    return json.dumps(event, indent=1).encode()


def parse(provider: PayPalProvider, body: bytes, headers: dict[str, str] | None = None) -> Any:
    return provider.paygate_parse_webhook(
        WebhookRequest(
            provider="paypal", headers=HEADERS if headers is None else headers, body=body
        )
    )


def test_verified_event_is_translated(
    provider: PayPalProvider, rsps: responses.RequestsMock, token: Any
) -> None:
    rsps.add(responses.POST, VERIFY, json={"verification_status": "SUCCESS"})
    body = event_body()
    event = parse(provider, body, {k.lower(): v for k, v in HEADERS.items()})
    assert event.type == "payment.captured"
    assert event.provider_type == "PAYMENT.CAPTURE.COMPLETED"
    assert event.provider_reference == ORDER_ID
    assert event.transaction_id == "txn_abc"
    assert event.amount == Money("100.00", "USD")
    assert event.id == "WH-2WR32451HC0233532-67976317FL4543714"

    call = rsps.calls[1]
    assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"
    sent = call.request.body.decode()
    assert sent.endswith(body.decode().strip() + "}")  # the event exactly as received
    fields = json.loads(sent)
    assert fields["webhook_id"] == "1JE4291016473214C"
    assert fields["transmission_id"] == HEADERS["PAYPAL-TRANSMISSION-ID"]
    assert fields["transmission_sig"] == HEADERS["PAYPAL-TRANSMISSION-SIG"]
    assert fields["cert_url"] == HEADERS["PAYPAL-CERT-URL"]
    assert fields["auth_algo"] == "SHA256withRSA"
    assert fields["transmission_time"] == HEADERS["PAYPAL-TRANSMISSION-TIME"]
    assert fields["webhook_event"]["resource"]["id"] == CAPTURE_ID


def test_failure_status_raises(
    provider: PayPalProvider, rsps: responses.RequestsMock, token: Any
) -> None:
    rsps.add(responses.POST, VERIFY, json={"verification_status": "FAILURE"})
    with pytest.raises(SignatureVerificationError):
        parse(provider, event_body())


def test_missing_headers_raise_without_calling_paypal(
    provider: PayPalProvider, rsps: responses.RequestsMock
) -> None:
    headers = dict(HEADERS)
    del headers["PAYPAL-TRANSMISSION-SIG"]
    with pytest.raises(SignatureVerificationError) as info:
        parse(provider, event_body(), headers)
    assert "PAYPAL-TRANSMISSION-SIG" in info.value.message
    assert len(rsps.calls) == 0


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"id": "WH-1"}', b"\xff\xfe"])
def test_garbage_bodies_raise_without_calling_paypal(
    provider: PayPalProvider, rsps: responses.RequestsMock, body: bytes
) -> None:
    with pytest.raises(SignatureVerificationError):
        parse(provider, body)
    assert len(rsps.calls) == 0


def test_webhook_id_is_required(
    rsps: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PAYPAL_WEBHOOK_ID", raising=False)
    provider = PayPalProvider()
    provider.paygate_configure(
        Config({"paypal": {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}})
    )
    with pytest.raises(ConfigurationError):
        parse(provider, event_body())
    assert len(rsps.calls) == 0


def test_paypal_rejecting_the_input_is_a_signature_failure(
    provider: PayPalProvider, rsps: responses.RequestsMock, token: Any
) -> None:
    rsps.add(
        responses.POST,
        VERIFY,
        status=400,
        json={
            "name": "VALIDATION_ERROR",
            "message": "Invalid request",
            "details": [{"field": "cert_url", "issue": "INVALID_URL"}],
        },
    )
    with pytest.raises(SignatureVerificationError):
        parse(provider, event_body())


@pytest.mark.parametrize(
    ("paypal_type", "neutral"),
    [
        ("PAYMENT.AUTHORIZATION.VOIDED", "payment.voided"),
        ("PAYMENT.CAPTURE.REFUNDED", "payment.refunded"),
        ("PAYMENT.CAPTURE.DENIED", "payment.failed"),
        ("CUSTOMER.DISPUTE.CREATED", "dispute.opened"),
        ("BILLING.PLAN.CREATED", "other"),
    ],
)
def test_event_types(paypal_type: str, neutral: str) -> None:
    from paygate_paypal.webhooks import to_event

    assert to_event({"id": "WH-1", "event_type": paypal_type, "resource": {}}).type == neutral


def test_order_events_read_the_purchase_unit() -> None:
    from paygate_paypal.webhooks import to_event

    event = to_event(
        {
            "id": "WH-2",
            "event_type": "CHECKOUT.ORDER.COMPLETED",
            "resource": {
                "id": ORDER_ID,
                "purchase_units": [
                    {"custom_id": "txn_9", "amount": {"currency_code": "EUR", "value": "12.00"}}
                ],
            },
        }
    )
    assert (event.type, event.provider_reference, event.transaction_id) == (
        "payment.succeeded",
        ORDER_ID,
        "txn_9",
    )
    assert event.amount == Money("12.00", "EUR")


def _refund_event(resource: dict[str, object]) -> dict[str, object]:
    return {"id": "WH-3", "event_type": "PAYMENT.CAPTURE.REFUNDED", "resource": resource}


def test_a_refund_event_states_the_total_refunded_to_date() -> None:
    # PayPal's refund resource: this refund is 30.00, the capture's refunds
    # add up to 50.00 (seller_payable_breakdown.total_refunded_amount).
    from paygate_paypal.webhooks import to_event

    event = to_event(
        _refund_event(
            {
                "id": "1JU08902781691411",
                "status": "COMPLETED",
                "amount": {"currency_code": "EUR", "value": "30.00"},
                "seller_payable_breakdown": {
                    "gross_amount": {"currency_code": "EUR", "value": "30.00"},
                    "total_refunded_amount": {"currency_code": "EUR", "value": "50.00"},
                },
                "supplementary_data": {"related_ids": {"order_id": ORDER_ID}},
            }
        )
    )
    assert (event.type, event.provider_reference) == ("payment.refunded", ORDER_ID)
    assert event.amount == Money("50.00", "EUR")
    assert event.data["refund_amount"] == {"currency_code": "EUR", "value": "30.00"}


def test_a_refund_event_without_the_total_has_no_amount() -> None:
    # The refund's own amount is not the total: better unknown than wrong.
    from paygate_paypal.webhooks import to_event

    event = to_event(
        _refund_event(
            {"id": "R-2", "amount": {"currency_code": "EUR", "value": "30.00"}},
        )
    )
    assert event.amount is None
    assert event.data["refund_amount"] == {"currency_code": "EUR", "value": "30.00"}

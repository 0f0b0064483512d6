from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from paygate_stripe import webhooks
from stripe_fixtures import make_provider, payment_intent

from paygate.errors import ConfigurationError, InvalidRequest, SignatureVerificationError
from paygate.money import Money
from paygate.operations import WebhookRequest

SECRET = "whsec_test_secret_one"
OLD_SECRET = "whsec_test_secret_old"


def event(event_type: str, obj: dict[str, Any]) -> bytes:
    payload = {
        "id": "evt_1NG8Du2eZvKYlo2CUI79vXWy",
        "object": "event",
        "api_version": "2024-06-20",
        "created": 1686089970,
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }
    return json.dumps(payload).encode()


def deliver(body: bytes, header: str, *, secrets: Any = SECRET, at: float | None = None):
    provider = make_provider({"api_key": "sk_test_x", "webhook_secret": secrets})
    received = datetime.fromtimestamp(at if at is not None else time.time(), UTC)
    return provider.paygate_parse_webhook(
        WebhookRequest(
            provider="stripe",
            headers={"stripe-signature": header, "Content-Type": "application/json"},
            body=body,
            received_at=received,
        )
    )


def test_stripe_webhook_payment_succeeded() -> None:
    pi = payment_intent(
        status="succeeded", amount=2500, metadata={"paygate_transaction_id": "txn_1"}
    )
    body = event("payment_intent.succeeded", pi)
    now = int(time.time())
    got = deliver(body, webhooks.sign(body, SECRET, now))
    assert got.type == "payment.succeeded"
    assert got.provider == "stripe"
    assert got.provider_type == "payment_intent.succeeded"
    assert got.provider_reference == pi["id"]
    assert got.transaction_id == "txn_1"
    assert got.amount == Money("25.00", "USD")
    assert "client_secret" not in got.data["object"]


@pytest.mark.parametrize(
    ("stripe_type", "neutral", "obj"),
    [
        (
            "payment_intent.payment_failed",
            "payment.failed",
            {"object": "payment_intent", "id": "pi_1"},
        ),
        ("payment_intent.canceled", "payment.voided", {"object": "payment_intent", "id": "pi_1"}),
        (
            "payment_intent.amount_capturable_updated",
            "payment.authorized",
            {"object": "payment_intent", "id": "pi_1"},
        ),
        (
            "charge.refunded",
            "payment.refunded",
            {
                "object": "charge",
                "id": "ch_1",
                "payment_intent": "pi_1",
                "amount": 1000,
                "amount_refunded": 400,
                "currency": "usd",
            },
        ),
        (
            "charge.dispute.created",
            "dispute.opened",
            {
                "object": "dispute",
                "id": "dp_1",
                "payment_intent": "pi_1",
                "amount": 1000,
                "currency": "usd",
            },
        ),
        (
            "payment_method.attached",
            "payment_method.saved",
            {"object": "payment_method", "id": "pm_1"},
        ),
        ("customer.created", "other", {"object": "customer", "id": "cus_1"}),
    ],
)
def test_stripe_webhook_event_types(stripe_type: str, neutral: str, obj: dict[str, Any]) -> None:
    body = event(stripe_type, obj)
    got = deliver(body, webhooks.sign(body, SECRET, int(time.time())))
    assert got.type == neutral
    if obj.get("payment_intent") or obj["object"] == "payment_intent":
        assert got.provider_reference == "pi_1"
    if stripe_type == "charge.refunded":
        assert got.amount == Money("4.00", "USD")


def test_stripe_webhook_tampered_body() -> None:
    body = event("payment_intent.succeeded", payment_intent(status="succeeded"))
    header = webhooks.sign(body, SECRET, int(time.time()))
    with pytest.raises(SignatureVerificationError):
        deliver(body.replace(b"1000", b"9000"), header)


def test_stripe_webhook_wrong_secret() -> None:
    body = event("payment_intent.succeeded", payment_intent(status="succeeded"))
    header = webhooks.sign(body, "whsec_someone_else", int(time.time()))
    with pytest.raises(SignatureVerificationError):
        deliver(body, header)


@pytest.mark.parametrize("offset", [-301, 301, -3600])
def test_stripe_webhook_stale_timestamp(offset: int) -> None:
    body = event("payment_intent.succeeded", payment_intent(status="succeeded"))
    now = time.time()
    header = webhooks.sign(body, SECRET, int(now) + offset)
    with pytest.raises(SignatureVerificationError, match="tolerance"):
        deliver(body, header, at=now)


def test_stripe_webhook_within_tolerance() -> None:
    body = event("payment_intent.succeeded", payment_intent(status="succeeded"))
    now = time.time()
    assert deliver(body, webhooks.sign(body, SECRET, int(now) - 299), at=now).type == (
        "payment.succeeded"
    )


def test_stripe_webhook_several_v1_signatures_and_rotation() -> None:
    body = event("payment_intent.succeeded", payment_intent(status="succeeded"))
    t = int(time.time())
    # Stripe sends one v1 per active endpoint secret while a secret rolls.
    header = (
        f"t={t},v1={webhooks.compute_signature(body, 'whsec_unknown', t)},"
        f"v1={webhooks.compute_signature(body, OLD_SECRET, t)},v0=deadbeef"
    )
    assert deliver(body, header, secrets=[SECRET, OLD_SECRET]).type == "payment.succeeded"
    with pytest.raises(SignatureVerificationError):
        deliver(body, header, secrets=[SECRET])


@pytest.mark.parametrize("header", ["", "v1=abc", "t=123", "t=abc,v1=00", "garbage"])
def test_stripe_webhook_malformed_header(header: str) -> None:
    body = event("payment_intent.succeeded", payment_intent(status="succeeded"))
    with pytest.raises(SignatureVerificationError):
        deliver(body, header)


def test_stripe_webhook_signed_but_not_an_event() -> None:
    body = b'{"object": "charge"}'
    with pytest.raises(InvalidRequest):
        deliver(body, webhooks.sign(body, SECRET, int(time.time())))


def test_stripe_webhook_without_secret_is_a_configuration_error() -> None:
    provider = make_provider({"api_key": "sk_test_x"})
    with pytest.raises(ConfigurationError):
        provider.paygate_parse_webhook(WebhookRequest(provider="stripe", headers={}, body=b"{}"))


def test_stripe_webhook_signature_matches_the_sdk() -> None:
    # Our signer and verifier agree with stripe-python's own WebhookSignature.
    import stripe

    body = event("payment_intent.succeeded", payment_intent(status="succeeded"))
    header = webhooks.sign(body, SECRET, int(time.time()))
    assert stripe.WebhookSignature.verify_header(body.decode(), header, SECRET, tolerance=300)


def test_stripe_refund_event_amount_is_the_total_refunded_to_date() -> None:
    # The second of two partial refunds (4.00 then 6.00): Stripe's charge
    # carries amount_refunded, cumulative; the event's amount is that total,
    # as WebhookEvent.amount promises for payment.refunded.
    charge = {
        "object": "charge",
        "id": "ch_1",
        "payment_intent": "pi_1",
        "amount": 2500,
        "amount_refunded": 1000,
        "currency": "usd",
        "refunds": {"data": [{"id": "re_2", "amount": 600}, {"id": "re_1", "amount": 400}]},
    }
    body = event("charge.refunded", charge)
    got = deliver(body, webhooks.sign(body, SECRET, int(time.time())))
    assert got.type == "payment.refunded"
    assert got.amount == Money("10.00", "USD")

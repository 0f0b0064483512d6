"""Hostile Stripe deliveries and the configured rounding of Stripe's fees (issue 15)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
from paygate_stripe import webhooks
from stripe_fixtures import make_provider, payment_intent

from paygate.errors import InvalidRequest, SignatureVerificationError
from paygate.money import Money
from paygate.operations import WebhookRequest
from paygate.pricing.models import FeeContext

SECRET = "whsec_test_hostile_one"


def _deliver(body: bytes, header: str) -> object:
    provider = make_provider({"api_key": "sk_test_x", "webhook_secret": SECRET})
    return provider.paygate_parse_webhook(
        WebhookRequest(
            provider="stripe",
            headers={"Stripe-Signature": header},
            body=body,
            received_at=datetime.now(UTC),
        )
    )


@pytest.mark.parametrize(
    "header",
    [
        f"t={int(time.time())},v1=\u00e9",
        f"t={'9' * 400},v1=00",
        "t=-5,v1=00",
        f"t={int(time.time())},v1=\ud800",
    ],
)
def test_hostile_signature_headers_fail_verification(header: str) -> None:
    with pytest.raises(SignatureVerificationError):
        _deliver(b"{}", header)


def test_a_signed_event_created_in_year_3_trillion_is_invalid_request() -> None:
    payload = {
        "id": "evt_far_future",
        "object": "event",
        "created": 10**20,
        "type": "payment_intent.succeeded",
        "data": {"object": payment_intent(status="succeeded")},
    }
    body = json.dumps(payload).encode()
    now = int(time.time())
    with pytest.raises(InvalidRequest):
        _deliver(body, webhooks.sign(body, SECRET, now))


@pytest.mark.parametrize(
    ("rounding", "expected"), [("ROUND_HALF_UP", "0.66"), ("ROUND_UP", "0.67")]
)
def test_stripe_fees_use_the_configured_rounding(rounding: str, expected: str) -> None:
    # 12.50 x 2.9 % + 0.30 = 0.6625: half-up 0.66, up 0.67.
    provider = make_provider({"api_key": "sk_test_x"})
    context = FeeContext(
        amount=Money("12.50", "USD"),
        provider="stripe",
        card_country="US",
        config={"rounding": rounding},
    )
    (line,) = provider.paygate_calculate_fees(context)
    assert line.amount == Money(expected, "USD")

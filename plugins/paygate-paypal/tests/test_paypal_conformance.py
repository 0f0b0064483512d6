"""paygate-paypal against the provider conformance suite, on recorded answers.

Recorded mode: ``paygate_paypal.recorded`` answers like PayPal's sandbox
(orders are approvable at once, amounts echo the request). The real sandbox
runs the same suite in ``TestPayPalSandboxConformance`` when
``PAYPAL_CLIENT_ID`` and ``PAYPAL_CLIENT_SECRET`` are set.
"""

from __future__ import annotations

import json
import os
import secrets
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest
from paygate_paypal.recorded import Recorder, paypal_sandbox_responses

from paygate.models import Card, PayPalWallet, Transaction
from paygate.testing.conformance import ConformanceRun, ProviderConformance

WEBHOOK_ID = "1JE4291016473214C"


#: paygate's neutral event types -> the PayPal event the suite sends for it.
PAYPAL_EVENTS = {
    "payment.captured": "PAYMENT.CAPTURE.COMPLETED",
    "payment.refunded": "PAYMENT.CAPTURE.REFUNDED",
    "payment.failed": "PAYMENT.CAPTURE.DENIED",
}


class _PayPalSuite(ProviderConformance):
    provider = "paypal"
    idempotency_header = "PayPal-Request-Id"
    # A sample of the currencies PayPal lists: zero-decimal, two-decimal, and
    # the ones with PayPal-specific rules (HUF, TWD take whole units only).
    currencies_to_test = ("USD", "EUR", "JPY", "HUF", "TWD", "GBP")
    waivers: ClassVar[dict[str, str]] = {
        **{
            f"decline:{outcome}": (
                "a PayPal wallet payment is approved by the payer on PayPal's site: there is "
                "no test wallet that declines (declined captures are covered by "
                "test_paypal_errors.py)"
            )
            for outcome in (
                "decline",
                "insufficient_funds",
                "expired_card",
                "incorrect_cvc",
                "processing_error",
            )
        },
        "webhook:stale": (
            "PayPal verifies a delivery's signature and transmission time server-side "
            "(verify-webhook-signature); the plugin does not check PAYPAL-TRANSMISSION-TIME "
            "itself, and the recording always answers SUCCESS"
        ),
    }

    def card(self, outcome: str = "success") -> Card | PayPalWallet | None:
        # The payer approves on PayPal's site: there are no test cards for
        # declines on a PayPal wallet.
        return PayPalWallet() if outcome == "success" else None

    def make_webhook(
        self,
        run: ConformanceRun,
        transaction: Transaction,
        *,
        event_type: str = "payment.captured",
        signed_at: datetime | None = None,
    ) -> tuple[dict[str, str], bytes] | None:
        if signed_at is not None:
            return None  # waived: PayPal checks the transmission time server-side
        kind = PAYPAL_EVENTS[event_type]
        event = {
            "id": "WH-" + secrets.token_hex(10).upper(),
            "create_time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "resource_type": "refund" if kind.endswith("REFUNDED") else "capture",
            "event_type": kind,
            "resource": {
                "id": secrets.token_hex(8).upper(),
                "status": kind.rsplit(".", 1)[1],
                "custom_id": transaction.id,
                "amount": {
                    "currency_code": transaction.currency,
                    "value": str(transaction.amount.amount),
                },
                "supplementary_data": {"related_ids": {"order_id": transaction.provider_reference}},
            },
        }
        if kind.endswith("REFUNDED"):
            # A refund resource also says what was refunded on the capture to date.
            event["resource"]["seller_payable_breakdown"] = {  # type: ignore[index]
                "total_refunded_amount": event["resource"]["amount"]  # type: ignore[index]
            }
        headers = {
            "PAYPAL-AUTH-ALGO": "SHA256withRSA",
            "PAYPAL-CERT-URL": "https://api-m.sandbox.paypal.com/v1/notifications/certs/CERT-1",
            "PAYPAL-TRANSMISSION-ID": str(uuid.uuid4()),
            "PAYPAL-TRANSMISSION-SIG": secrets.token_urlsafe(64),
            "PAYPAL-TRANSMISSION-TIME": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        return headers, json.dumps(event).encode()


class TestPayPalConformance(_PayPalSuite):
    """Recorded mode: nothing leaves the machine."""

    known_gaps: ClassVar[dict[str, str]] = {
        "test_webhook_with_a_bad_signature_is_rejected": (
            "PayPal checks signatures server-side and the recording always answers SUCCESS "
            "(missing headers are covered by test_paypal_webhooks.py)"
        ),
        "test_fetch_transaction_when_the_answer_was_lost": (
            "PayPal cannot search orders by custom_id; the plugin raises ProviderUnavailable "
            "and a retry with the same PayPal-Request-Id replays the answer instead"
        ),
        "test_lost_refund_is_reconciled": (
            "PayPal cannot look a refund up by its PayPal-Request-Id; the plugin raises "
            "ProviderUnavailable and a retry with the same key replays the refund's answer"
        ),
    }

    @pytest.fixture
    def provider_config(self) -> Iterator[dict[str, Any]]:
        with paypal_sandbox_responses() as recorder:
            self.recorded: Recorder = recorder
            yield {
                "paypal": {
                    "client_id": "conformance-client-" + secrets.token_hex(6),
                    "client_secret": "conformance-secret-" + secrets.token_hex(12),
                    "webhook_id": WEBHOOK_ID,
                }
            }


@pytest.mark.sandbox
class TestPayPalSandboxConformance(_PayPalSuite):
    """The real PayPal sandbox; skipped without credentials."""

    requires_env = ("PAYPAL_CLIENT_ID", "PAYPAL_CLIENT_SECRET")

    @pytest.fixture
    def provider_config(self) -> dict[str, Any]:
        return {
            "paypal": {
                "client_id": os.environ["PAYPAL_CLIENT_ID"],
                "client_secret": os.environ["PAYPAL_CLIENT_SECRET"],
                "webhook_id": os.environ.get("PAYPAL_WEBHOOK_ID", WEBHOOK_ID),
            }
        }

    def complete_action(self, run: ConformanceRun, transaction: Transaction) -> dict[str, str]:
        pytest.skip("the real sandbox needs a payer to approve the order in a browser")

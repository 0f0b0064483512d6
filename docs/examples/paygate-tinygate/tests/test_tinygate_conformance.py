"""TinyGate against paygate's provider conformance suite, on a local TinyGate server."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import date as _date
from datetime import datetime
from typing import Any

import pytest
from paygate.models import Card, PayPalWallet, Transaction
from paygate.money import Money
from paygate.testing.conformance import ConformanceRun, ProviderConformance

from paygate_tinygate.plugin import SIGNATURE_HEADER, sign
from paygate_tinygate.server import TinyGateServer, start_server

#: Cards in tests expire three years from now, so they never age into declines.
EXP_YEAR = _date.today().year + 3

WEBHOOK_SECRET = "tgwh_" + secrets.token_hex(16)

CARDS = {
    "success": "4242424242424242",
    "decline": "4000000000000002",
    "insufficient_funds": "4000000000009995",
    "expired_card": "4000000000000069",
    "incorrect_cvc": "4000000000000127",
    "processing_error": "4000000000000119",
}

#: paygate's neutral event types -> TinyGate's event names.
EVENTS = {
    "payment.captured": "charge.captured",
    "payment.refunded": "charge.refunded",
    "payment.failed": "charge.failed",
}


@pytest.fixture(scope="session")
def tinygate_server() -> Iterator[TinyGateServer]:
    server = start_server()
    try:
        yield server
    finally:
        server.stop()


class TestTinyGate(ProviderConformance):
    provider = "tinygate"

    @pytest.fixture
    def provider_config(self, tinygate_server: TinyGateServer) -> dict[str, Any]:
        return {
            "tinygate": {
                "api_key": "tg_test_" + secrets.token_hex(12),
                "api_base": tinygate_server.url,
                "webhook_secret": WEBHOOK_SECRET,
            }
        }

    def card(self, outcome: str = "success") -> Card | PayPalWallet | None:
        number = CARDS.get(outcome)
        return None if number is None else Card(number, 12, EXP_YEAR, "123")

    def make_webhook(
        self,
        run: ConformanceRun,
        transaction: Transaction,
        *,
        event_type: str = "payment.captured",
        signed_at: datetime | None = None,
    ) -> tuple[dict[str, str], bytes]:
        body = json.dumps(
            {
                "id": "evt_" + secrets.token_hex(8),
                "type": EVENTS[event_type],
                "charge": transaction.provider_reference,
                "transaction_id": transaction.id,
                "amount": transaction.amount.minor_units,
                "currency": transaction.currency,
            }
        ).encode()
        timestamp = None if signed_at is None else int(signed_at.timestamp())
        return {SIGNATURE_HEADER: sign(body, WEBHOOK_SECRET, timestamp)}, body

    def invalid_amounts(self) -> list[Money]:
        return [Money("0.49", "USD"), Money("49", "JPY")]

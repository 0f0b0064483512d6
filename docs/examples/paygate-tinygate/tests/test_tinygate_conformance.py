"""TinyGate against paygate's provider conformance suite."""

from __future__ import annotations

import json
import secrets
from collections.abc import Collection
from datetime import date as _date
from typing import Any

import pytest
from paygate.models import Card, PayPalWallet, Transaction
from paygate.money import Money
from paygate.testing.conformance import ConformanceRun, ProviderConformance

from paygate_tinygate.plugin import SIGNATURE_HEADER, sign

#: Cards in tests expire three years from now, so they never age into declines.
EXP_YEAR = _date.today().year + 3

WEBHOOK_SECRET = "tgwh_" + secrets.token_hex(16)

CARDS = {
    "success": "4242424242424242",
    "decline": "4000000000000002",
    "insufficient_funds": "4000000000009995",
    "expired_card": "4000000000000069",
    "incorrect_cvc": "4000000000000127",
}


class TestTinyGate(ProviderConformance):
    provider = "tinygate"

    @pytest.fixture
    def provider_config(self) -> dict[str, Any]:
        return {
            "tinygate": {
                "api_key": "tg_test_" + secrets.token_hex(12),
                "webhook_secret": WEBHOOK_SECRET,
            }
        }

    def card(self, outcome: str = "success") -> Card | PayPalWallet | None:
        number = CARDS.get(outcome)
        return None if number is None else Card(number, 12, EXP_YEAR, "123")

    def make_webhook(
        self, run: ConformanceRun, transaction: Transaction
    ) -> tuple[dict[str, str], bytes]:
        body = json.dumps(
            {
                "id": "evt_" + secrets.token_hex(8),
                "type": "charge.captured",
                "charge": transaction.provider_reference,
                "transaction_id": transaction.id,
                "amount": transaction.amount.minor_units,
                "currency": transaction.currency,
            }
        ).encode()
        return {SIGNATURE_HEADER: sign(body, WEBHOOK_SECRET)}, body

    def sent_idempotency_keys(self, run: ConformanceRun) -> Collection[str]:
        return run.payments.plugin("tinygate").api.keys_received  # type: ignore[no-any-return]

    def invalid_amounts(self) -> list[Money]:
        return [Money("0.49", "USD"), Money("49", "JPY")]

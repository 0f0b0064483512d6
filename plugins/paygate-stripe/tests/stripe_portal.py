"""Helpers of the portal tests with Stripe (card entry by Stripe.js) on
localstripe: a Billing whose payments go through the Stripe plugin, and the
portal over it in Stripe mode."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from paygate_stripe.localserver import LocalStripe
from stripe_fixtures import fake_key

import paygate
from paygate.billing import Actor, Billing

OWNER = Actor.user("owner@example.org")
SECRET = "stripe-portal-secret-0123456789"
PUBLISHABLE = "pk_test_localstripe0123456789"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2027, 1, 31, 10, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class StripeBilling:
    payments: paygate.Payments
    billing: Billing
    clock: Clock
    account: str

    def operations(self, name: str) -> list[Any]:
        return [op for op in self.payments.ledger.operations() if op.operation == name]

    def close(self) -> None:
        self.payments.close()


def stripe_billing(tmp_path: Path, server: LocalStripe) -> StripeBilling:
    """Billing on localstripe (the Stripe plugin's entry point) with one account
    and no payment method yet."""
    payments = paygate.Payments(
        {
            "database_url": f"sqlite:///{tmp_path / 'stripe-portal.sqlite3'}",
            "default_provider": "stripe",
            "pricing": {"nonprofit_discount": "0.10"},
            "stripe": {
                "api_key": fake_key(),
                "api_base": server.url,
                "localstripe": True,
                "max_network_retries": 0,
                "timeout": 10,
            },
        }
    )
    clock = Clock()
    billing = Billing(payments, clock=clock)
    account = billing.create_account(OWNER.ref, currency="USD", timezone="Europe/Paris").id
    return StripeBilling(payments, billing, clock, account)


def hidden_fields(html: str) -> dict[str, str]:
    """The hidden inputs of the page's card form (name -> value)."""
    form = html.split('id="stripe-card-form"', 1)[1].split("</form>", 1)[0]
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))

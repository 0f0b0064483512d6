"""Helpers of the billing tests (a module of its own: every test directory has
a ``conftest``, so importing names from one is ambiguous in a full run)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from paygate_pricing.plugin import PricingRules

import paygate
from paygate.billing import Actor, Billing

PG_ENV = "PAYGATE_TEST_DATABASE_URL"
VISA = "4242424242424242"


def pg_url_or_skip() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"{PG_ENV} is not set (PostgreSQL tests skipped)")
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=3):
            pass
    except Exception as exc:
        pytest.skip(f"PostgreSQL unreachable: {type(exc).__name__}")
    return url


class Clock:
    """The billing clock: tests move it."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def set(self, *args: int, hour: int = 12) -> None:
        self.now = datetime(*args, hour, tzinfo=UTC)  # type: ignore[misc]

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


def make_payments(url: str, **config: Any) -> paygate.Payments:
    return paygate.Payments(
        {"database_url": url, "pricing": {"nonprofit_discount": "0.10"}, **config},
        plugins=[PricingRules],
        load_entrypoints=False,
    )


OWNER = Actor.user("owner-1")
STAFF = Actor.staff_member("billing-team")


def card(number: str = VISA) -> paygate.Card:
    return paygate.Card(number, 12, 2031, "123")


def charges(payments: paygate.Payments) -> int:
    """Charges the sandbox gateway actually made (not replays)."""
    return int(payments.plugin("sandbox").effects.get("charge_recurring", 0))


def account_with_card(
    billing: Billing, *, currency: str = "USD", tz: str = "Europe/Paris", number: str = VISA
) -> str:
    acct = billing.create_account(OWNER.ref, currency=currency, timezone=tz)
    billing.add_payment_method(OWNER, acct.id, card(number), idempotency_key="card-1")
    return acct.id


def card_declines(billing: Billing, account_id: str, declines: bool = True) -> None:
    """The issuer starts (or stops) declining the account's stored card, as a
    real card does when funds run out: the sandbox's stored-method outcome."""
    token = billing.account(OWNER, account_id).payment_method.token  # type: ignore[union-attr]
    sandbox = billing.payments.plugin("sandbox")
    sandbox.set_stored_outcome(token, "decline_on_charge" if declines else "ok")

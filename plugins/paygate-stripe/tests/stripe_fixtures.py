"""Builders shared by the Stripe plugin's tests: requests as the core makes
them, and response bodies shaped like Stripe's API objects."""

from __future__ import annotations

import os
import secrets
import time
from datetime import date as _date
from typing import Any

from paygate_stripe.plugin import StripeProvider

from paygate.config import Config
from paygate.models import Card, StoredPaymentMethod
from paygate.money import Money
from paygate.operations import (
    CaptureRequest,
    ConfirmRequest,
    FetchRequest,
    Operation,
    PaymentRequest,
    RefundRequest,
    StoreRequest,
    VoidRequest,
)

#: Cards in tests expire three years from now, so they never age into declines.
EXP_YEAR = _date.today().year + 3

API = "https://api.stripe.com"


def fake_key() -> str:
    return "sk_test_" + secrets.token_hex(12)


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def make_provider(section: dict[str, Any], *, test_mode: bool = True) -> StripeProvider:
    provider = StripeProvider()
    provider.paygate_configure(Config({"stripe": section, "test_mode": test_mode}))
    return provider


class Requests:
    """Builds the operation requests the core would hand the plugin."""

    def card(self, number: str = "4242424242424242", cvc: str | None = "123") -> Card:
        return Card(number, 12, EXP_YEAR, cvc)

    def payment(
        self,
        amount: str = "10.00",
        currency: str = "USD",
        *,
        method: Any = None,
        capture: bool = False,
        off_session: bool = False,
        operation: Operation = Operation.AUTHORIZE,
        **extra: Any,
    ) -> PaymentRequest:
        return PaymentRequest(
            operation=operation,
            provider="stripe",
            transaction_id=new_id("txn"),
            idempotency_key=new_id("key"),
            amount=Money(amount, currency),
            method=method if method is not None else self.card(),
            capture=capture,
            off_session=off_session,
            **extra,
        )

    def capture(
        self, reference: str, amount: str, authorized: str = "10.00", *, final: bool = True
    ) -> CaptureRequest:
        return CaptureRequest(
            operation=Operation.CAPTURE,
            provider="stripe",
            transaction_id=new_id("txn"),
            idempotency_key=new_id("key"),
            provider_reference=reference,
            amount=Money(amount, "USD"),
            authorized=Money(authorized, "USD"),
            captured=Money("0", "USD"),
            final=final,
        )

    def void(self, reference: str, amount: str = "10.00") -> VoidRequest:
        return VoidRequest(
            operation=Operation.VOID,
            provider="stripe",
            transaction_id=new_id("txn"),
            idempotency_key=new_id("key"),
            provider_reference=reference,
            amount=Money(amount, "USD"),
        )

    def refund(
        self,
        reference: str,
        amount: str,
        captured: str = "10.00",
        refunded: str = "0",
        *,
        transaction_id: str | None = None,
        reason: str | None = None,
    ) -> RefundRequest:
        return RefundRequest(
            operation=Operation.REFUND,
            provider="stripe",
            transaction_id=transaction_id or new_id("txn"),
            idempotency_key=new_id("key"),
            provider_reference=reference,
            amount=Money(amount, "USD"),
            captured=Money(captured, "USD"),
            refunded=Money(refunded, "USD"),
            reason=reason,
        )

    def confirm(self, reference: str, amount: str = "10.00") -> ConfirmRequest:
        return ConfirmRequest(
            operation=Operation.CONFIRM,
            provider="stripe",
            transaction_id=new_id("txn"),
            idempotency_key=new_id("key"),
            provider_reference=reference,
            amount=Money(amount, "USD"),
        )

    def store(self, method: Any = None, **extra: Any) -> StoreRequest:
        return StoreRequest(
            operation=Operation.STORE_PAYMENT_METHOD,
            provider="stripe",
            transaction_id=new_id("spm"),
            idempotency_key=new_id("key"),
            method=method if method is not None else self.card(),
            **extra,
        )

    def fetch(
        self,
        transaction_id: str,
        reference: str | None = None,
        *,
        of: Operation = Operation.AUTHORIZE,
        idempotency_key: str | None = None,
    ) -> FetchRequest:
        return FetchRequest(
            operation=Operation.FETCH_TRANSACTION,
            provider="stripe",
            transaction_id=transaction_id,
            idempotency_key=idempotency_key or new_id("key"),
            provider_reference=reference,
            of_operation=of,
        )

    def stored(self, token: str, customer: str | None) -> StoredPaymentMethod:
        return StoredPaymentMethod(provider="stripe", token=token, customer_reference=customer)


# -- recorded layer -----------------------------------------------------------


def payment_intent(**fields: Any) -> dict[str, Any]:
    """A PaymentIntent as Stripe's API returns it (abridged to the fields Stripe
    always sends for a card payment)."""
    pi_id = fields.pop("id", new_id("pi"))
    amount = fields.pop("amount", 1000)
    status = fields.pop("status", "requires_capture")
    body: dict[str, Any] = {
        "id": pi_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": amount if status == "requires_capture" else 0,
        "amount_received": amount if status == "succeeded" else 0,
        "capture_method": "manual",
        "client_secret": f"{pi_id}_secret_{secrets.token_hex(8)}",
        "confirmation_method": "automatic",
        "created": int(time.time()),
        "currency": "usd",
        "customer": None,
        "description": None,
        "last_payment_error": None,
        "latest_charge": new_id("ch") if status in ("requires_capture", "succeeded") else None,
        "livemode": False,
        "metadata": {},
        "next_action": None,
        "payment_method": new_id("pm"),
        "payment_method_types": ["card"],
        "status": status,
    }
    body.update(fields)
    return body


def payment_method(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": fields.pop("id", new_id("pm")),
        "object": "payment_method",
        "billing_details": {"address": None, "email": None, "name": None, "phone": None},
        "card": {
            "brand": "visa",
            "country": "US",
            "exp_month": 12,
            "exp_year": 2030,
            "fingerprint": "Xt5EWLLDS7FJjR1c",
            "funding": "credit",
            "last4": "4242",
        },
        "created": int(time.time()),
        "customer": None,
        "livemode": False,
        "metadata": {},
        "type": "card",
    }
    body.update(fields)
    return body


def refund_object(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": fields.pop("id", new_id("re")),
        "object": "refund",
        "amount": 400,
        "charge": new_id("ch"),
        "created": int(time.time()),
        "currency": "usd",
        "metadata": {},
        "payment_intent": new_id("pi"),
        "reason": None,
        "status": "succeeded",
    }
    body.update(fields)
    return body


def card_error(
    code: str, decline_code: str | None = None, *, intent: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A 402 body as Stripe sends it for a declined PaymentIntent confirmation."""
    error: dict[str, Any] = {
        "type": "card_error",
        "code": code,
        "message": "Your card was declined.",
        "doc_url": f"https://stripe.com/docs/error-codes/{code}",
        "request_log_url": "https://dashboard.stripe.com/test/logs/req_x",
    }
    if decline_code:
        error["decline_code"] = decline_code
    if intent is not None:
        error["payment_intent"] = intent
        error["charge"] = intent.get("latest_charge")
    return {"error": error}


def sandbox_key() -> str | None:
    key = os.environ.get("STRIPE_API_KEY", "")
    return key if key.startswith("sk_test_") else None


SANDBOX_SKIP = "sandbox: set STRIPE_API_KEY to an sk_test_ key to run against Stripe test mode"

"""TinyGate: a toy gateway and its paygate provider plugin.

TinyGate keeps its payments in memory, like a test-mode processor would keep
them on its servers: :class:`TinyGateAPI` stands for the remote API (it
dedupes on idempotency keys and enforces its own rules), and
:class:`TinyGateProvider` is the plugin, which only translates between
paygate's requests and that API. A real plugin replaces ``TinyGateAPI`` with
HTTP calls; nothing else changes.

Configuration (``[tinygate]`` table)::

    api_key = "tg_test_..."          # tg_live_ keys are refused in test mode
    webhook_secret = "tgwh_..."      # signs webhook deliveries
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from decimal import Decimal
from importlib.resources import files
from typing import Any

import paygate
from paygate.config import Config
from paygate.errors import (
    AuthenticationError,
    ConfigurationError,
    ErrorCode,
    InvalidRequest,
    SignatureVerificationError,
)
from paygate.models import Capabilities, ErrorInfo, ProviderInfo, TransactionStatus, WebhookEvent
from paygate.money import Money
from paygate.operations import (
    CaptureRequest,
    FetchRequest,
    Operation,
    PaymentRequest,
    ProviderResult,
    RefundRequest,
    VoidRequest,
    WebhookRequest,
)
from paygate.pricing.models import FeeContext, FeeLine
from paygate.redaction import get_logger

NAME = "tinygate"
SIGNATURE_HEADER = "TinyGate-Signature"
TOLERANCE_SECONDS = 300
S = TransactionStatus
log = get_logger("paygate_tinygate")

#: TinyGate's test cards: number -> (standard error code, TinyGate's own code).
DECLINING_CARDS: dict[str, tuple[ErrorCode, str]] = {
    "4000000000000002": (ErrorCode.CARD_DECLINED, "do_not_honor"),
    "4000000000009995": (ErrorCode.INSUFFICIENT_FUNDS, "nsf"),
    "4000000000000069": (ErrorCode.EXPIRED_CARD, "expired"),
    "4000000000000127": (ErrorCode.INCORRECT_CVC, "cvc_mismatch"),
}

#: TinyGate's event names -> paygate's neutral webhook types.
EVENT_TYPES = {
    "charge.authorized": "payment.authorized",
    "charge.captured": "payment.captured",
    "charge.voided": "payment.voided",
    "charge.refunded": "payment.refunded",
    "charge.failed": "payment.failed",
}


def sign(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``TinyGate-Signature`` header for ``body``: ``t=<unix>,v1=<hex hmac>``."""
    ts = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={digest}"


# -- the "remote" API ------------------------------------------------------------


@dataclass
class _Charge:
    id: str
    amount: int
    currency: str
    status: str  # authorized, captured, voided, refunded
    captured: int = 0
    refunded: int = 0
    transaction_id: str = ""


class TinyGateAPI:
    """What TinyGate's servers do. Answers are dicts, like decoded JSON."""

    def __init__(self) -> None:
        self.charges: dict[str, _Charge] = {}
        self.answers: dict[str, dict[str, Any]] = {}
        #: Idempotency keys received, in order (tests look at the "wire").
        self.keys_received: list[str] = []

    def call(self, idempotency_key: str, action: Any) -> dict[str, Any]:
        self.keys_received.append(idempotency_key)
        if idempotency_key not in self.answers:
            self.answers[idempotency_key] = action()
        return self.answers[idempotency_key]

    def charge(
        self, pan: str, amount: int, currency: str, capture: bool, transaction_id: str
    ) -> dict[str, Any]:
        if pan in DECLINING_CARDS:
            code, own = DECLINING_CARDS[pan]
            return {"error": {"code": own, "standard": code.value}}
        charge = _Charge(
            id="ch_" + secrets.token_hex(8),
            amount=amount,
            currency=currency,
            status="captured" if capture else "authorized",
            captured=amount if capture else 0,
            transaction_id=transaction_id,
        )
        self.charges[charge.id] = charge
        return {"charge": vars(charge).copy()}

    def capture(self, charge_id: str, amount: int) -> dict[str, Any]:
        charge = self.charges[charge_id]
        if charge.status != "authorized" or amount > charge.amount:
            return {"error": {"code": "bad_state", "standard": ErrorCode.INVALID_STATE.value}}
        charge.status, charge.captured = "captured", amount
        return {"charge": vars(charge).copy(), "capture_id": "cp_" + secrets.token_hex(6)}

    def void(self, charge_id: str) -> dict[str, Any]:
        charge = self.charges[charge_id]
        if charge.status != "authorized":
            return {"error": {"code": "bad_state", "standard": ErrorCode.INVALID_STATE.value}}
        charge.status = "voided"
        return {"charge": vars(charge).copy()}

    def refund(self, charge_id: str, amount: int) -> dict[str, Any]:
        charge = self.charges[charge_id]
        if charge.refunded + amount > charge.captured:
            return {"error": {"code": "too_much", "standard": ErrorCode.INVALID_AMOUNT.value}}
        charge.refunded += amount
        if charge.refunded == charge.captured:
            charge.status = "refunded"
        return {"charge": vars(charge).copy(), "refund_id": "rf_" + secrets.token_hex(6)}

    def find(self, transaction_id: str) -> dict[str, Any] | None:
        for charge in self.charges.values():
            if charge.transaction_id == transaction_id:
                return {"charge": vars(charge).copy()}
        return None


# -- the plugin -------------------------------------------------------------------


class TinyGateProvider:
    """``provider="tinygate"``. paygate makes one instance per ``Payments``."""

    def __init__(self) -> None:
        self.api = TinyGateAPI()
        self.api_key: str | None = None
        self.webhook_secret = ""
        self.test_mode = True

    @paygate.hookimpl
    def paygate_configure(self, config: Config) -> None:
        section = config.section(NAME)
        key = section.get("api_key")
        if key is not None and not isinstance(key, str):
            raise ConfigurationError("[tinygate] api_key must be a string")
        if key and config.test_mode and key.startswith("tg_live_"):
            raise ConfigurationError("[tinygate] a live key (tg_live_) is refused in test mode")
        self.api_key = key
        self.webhook_secret = str(section.get("webhook_secret", ""))
        self.test_mode = config.test_mode

    @paygate.hookimpl
    def paygate_provider_info(self) -> ProviderInfo:
        return ProviderInfo(
            name=NAME,
            display_name="TinyGate",
            version="0.1.0",
            currencies=frozenset({"USD", "EUR", "JPY"}),
            payment_methods=frozenset({"card"}),
            capabilities=Capabilities(
                authorize=True,
                capture=True,
                partial_capture=True,
                void=True,
                refund=True,
                partial_refund=True,
                multiple_refunds=True,
                webhooks=True,
            ),
            test_mode=self.test_mode,
        )

    # -- helpers -----------------------------------------------------------------
    def _check_key(self) -> None:
        if not self.api_key:
            raise ConfigurationError("[tinygate] api_key is not set")
        if not self.api_key.startswith(("tg_test_", "tg_live_")):
            raise AuthenticationError("TinyGate refused the API key")

    @staticmethod
    def _minor(amount: Money) -> int:
        # TinyGate's minimum charge is 0.50 (50 in JPY): refuse before sending anything.
        minimum = Money(Decimal(50) if amount.exponent == 0 else Decimal("0.50"), amount.currency)
        if amount < minimum:
            raise InvalidRequest(
                f"TinyGate's minimum is {minimum}", code=ErrorCode.INVALID_AMOUNT, param="amount"
            )
        return amount.minor_units

    @staticmethod
    def _failed(answer: dict[str, Any], message: str) -> ProviderResult:
        error = answer["error"]
        return ProviderResult(
            status=S.FAILED,
            error=ErrorInfo(code=error["standard"], message=message, decline_code=error["code"]),
            raw=answer,
        )

    # -- operations --------------------------------------------------------------
    @paygate.hookimpl
    def paygate_authorize(self, request: PaymentRequest) -> ProviderResult:
        self._check_key()
        method = request.method
        if method.kind != "card":
            raise InvalidRequest("TinyGate takes cards only", param="method")
        amount = self._minor(request.amount)
        answer = self.api.call(
            request.idempotency_key,
            lambda: self.api.charge(
                method.digits,
                amount,
                request.amount.currency,
                request.capture,
                request.transaction_id,
            ),
        )
        if "error" in answer:
            log.info("tinygate declined %s: %s", request.transaction_id, answer["error"]["code"])
            return self._failed(answer, "The card was declined.")
        charge = answer["charge"]
        log.info("tinygate %s %s", charge["status"], charge["id"])
        return ProviderResult(
            status=S.CAPTURED if request.capture else S.AUTHORIZED,
            provider_reference=charge["id"],
            amount=request.amount if request.capture else None,
            raw=answer,
        )

    @paygate.hookimpl
    def paygate_capture(self, request: CaptureRequest) -> ProviderResult:
        self._check_key()
        ref = str(request.provider_reference)
        amount = request.amount.minor_units
        answer = self.api.call(request.idempotency_key, lambda: self.api.capture(ref, amount))
        if "error" in answer:
            return self._failed(answer, "TinyGate cannot capture this charge.")
        return ProviderResult(
            status=S.CAPTURED,
            provider_reference=ref,
            operation_reference=answer["capture_id"],
            amount=request.amount,
            raw=answer,
        )

    @paygate.hookimpl
    def paygate_void(self, request: VoidRequest) -> ProviderResult:
        self._check_key()
        ref = str(request.provider_reference)
        answer = self.api.call(request.idempotency_key, lambda: self.api.void(ref))
        if "error" in answer:
            return self._failed(answer, "TinyGate cannot void this charge.")
        return ProviderResult(status=S.VOIDED, provider_reference=ref, raw=answer)

    @paygate.hookimpl
    def paygate_refund(self, request: RefundRequest) -> ProviderResult:
        self._check_key()
        ref = str(request.provider_reference)
        amount = request.amount.minor_units
        answer = self.api.call(request.idempotency_key, lambda: self.api.refund(ref, amount))
        if "error" in answer:
            return self._failed(answer, "TinyGate cannot refund this much.")
        charge = answer["charge"]
        done = charge["refunded"] == charge["captured"]
        return ProviderResult(
            status=S.REFUNDED if done else S.PARTIALLY_REFUNDED,
            provider_reference=ref,
            operation_reference=answer["refund_id"],
            amount=request.amount,
            raw=answer,
        )

    @paygate.hookimpl
    def paygate_fetch_transaction(self, request: FetchRequest) -> ProviderResult | None:
        self._check_key()
        # A lost answer: TinyGate replays it for the same idempotency key.
        answer = self.api.answers.get(request.idempotency_key)
        if answer is None and request.of_operation in (Operation.AUTHORIZE, Operation.PURCHASE):
            answer = self.api.find(request.transaction_id)
        if answer is None:
            return None
        if "error" in answer:
            return self._failed(answer, "The card was declined.")
        charge = self.api.charges[answer["charge"]["id"]]
        status = {
            "authorized": S.AUTHORIZED,
            "captured": S.CAPTURED,
            "voided": S.VOIDED,
            "refunded": S.REFUNDED,
        }[charge.status]
        if charge.status == "captured" and charge.refunded:
            status = S.PARTIALLY_REFUNDED
        return ProviderResult(status=status, provider_reference=charge.id, raw=vars(charge).copy())

    @paygate.hookimpl
    def paygate_parse_webhook(self, request: WebhookRequest) -> WebhookEvent:
        header = next(
            (v for k, v in request.headers.items() if k.lower() == SIGNATURE_HEADER.lower()), ""
        )
        parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
        if not self.webhook_secret:
            raise ConfigurationError("[tinygate] webhook_secret is not set")
        if "t" not in parts or "v1" not in parts or not parts["t"].isdigit():
            raise SignatureVerificationError(f"missing or malformed {SIGNATURE_HEADER} header")
        timestamp = int(parts["t"])
        if abs(request.received_at.timestamp() - timestamp) > TOLERANCE_SECONDS:
            raise SignatureVerificationError("webhook signature is too old")
        expected = sign(request.body, self.webhook_secret, timestamp).split("v1=", 1)[1]
        if not hmac.compare_digest(expected, parts["v1"]):
            raise SignatureVerificationError("webhook signature does not match the body")
        try:
            event = json.loads(request.body)
            amount = Money.from_minor(int(event["amount"]), str(event["currency"]))
            return WebhookEvent(
                id=str(event["id"]),
                provider=NAME,
                type=EVENT_TYPES.get(str(event["type"]), "other"),
                provider_type=str(event["type"]),
                provider_reference=str(event["charge"]),
                transaction_id=event.get("transaction_id"),
                amount=amount,
            )
        except (ValueError, KeyError, TypeError):
            raise InvalidRequest("not a TinyGate event", param="body") from None

    # -- fees --------------------------------------------------------------------
    @paygate.hookimpl
    def paygate_calculate_fees(self, context: FeeContext) -> list[FeeLine]:
        table = json.loads(files("paygate_tinygate").joinpath("fees.json").read_text())
        fixed = table["fixed"].get(context.amount.currency)
        return [
            FeeLine(
                code="gateway_fee",
                label="TinyGate processing fee",
                rate=table["rate"],
                fixed=Money(fixed, context.amount.currency) if fixed else None,
                source=NAME,
                table=f"{table['source']} (read {table['read_on']})",
            )
        ]

"""TinyGate's paygate provider plugin: JSON over HTTP with ``requests``.

TinyGate is a toy gateway (:mod:`paygate_tinygate.server` runs one on
127.0.0.1 for tests). The plugin only translates between paygate's requests
and TinyGate's API; everything a real plugin must get right is here: amounts
in minor units, the idempotency key on every money-moving call, network
trouble told apart from declines, the API key kept out of errors and logs,
signed webhooks, and finding an operation again when its answer was lost.

Configuration (``[tinygate]`` table)::

    api_key = "tg_test_..."          # tg_live_ keys are refused in test mode
    api_base = "http://127.0.0.1:..." # TinyGate's URL
    webhook_secret = "tgwh_..."      # signs webhook deliveries
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from decimal import Decimal
from importlib.resources import files
from typing import Any
from urllib.parse import quote

import paygate
import requests
from paygate.config import Config
from paygate.errors import (
    AuthenticationError,
    ConfigurationError,
    ErrorCode,
    InvalidRequest,
    ProviderUnavailable,
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
from paygate.proxies import read_environment_once
from paygate.redaction import get_logger
from urllib3.exceptions import NewConnectionError

NAME = "tinygate"
SIGNATURE_HEADER = "TinyGate-Signature"
TOLERANCE_SECONDS = 300
TIMEOUT_SECONDS = 10
S = TransactionStatus
log = get_logger("paygate_tinygate")

#: TinyGate's decline codes -> paygate's standard codes.
DECLINES: dict[str, ErrorCode] = {
    "do_not_honor": ErrorCode.CARD_DECLINED,
    "nsf": ErrorCode.INSUFFICIENT_FUNDS,
    "expired": ErrorCode.EXPIRED_CARD,
    "cvc_mismatch": ErrorCode.INCORRECT_CVC,
    "processing": ErrorCode.PROCESSING_ERROR,
}

#: TinyGate's event names -> paygate's neutral webhook types.
EVENT_TYPES = {
    "charge.authorized": "payment.authorized",
    "charge.captured": "payment.captured",
    "charge.voided": "payment.voided",
    "charge.refunded": "payment.refunded",
    "charge.failed": "payment.failed",
}

#: TinyGate's charge states -> paygate's statuses.
STATUSES = {
    "authorized": S.AUTHORIZED,
    "captured": S.CAPTURED,
    "voided": S.VOIDED,
    "refunded": S.REFUNDED,
}


def sign(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``TinyGate-Signature`` header for ``body``: ``t=<unix>,v1=<hex hmac>``."""
    ts = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={digest}"


def _never_connected(exc: requests.RequestException) -> bool:
    """True when the request cannot have reached TinyGate (no connection made)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = exc.args[0] if exc.args else None
    return isinstance(getattr(reason, "reason", reason), NewConnectionError)


class TinyGateProvider:
    """``provider="tinygate"``. paygate makes one instance per ``Payments``."""

    def __init__(self) -> None:
        self.api_key: str | None = None
        self.api_base = ""
        self.webhook_secret = ""
        self.test_mode = True
        self.session = requests.Session()

    @paygate.hookimpl
    def paygate_configure(self, config: Config) -> None:
        section = config.section(NAME)
        key = section.get("api_key")
        if key is not None and not isinstance(key, str):
            raise ConfigurationError("[tinygate] api_key must be a string")
        if key and config.test_mode and key.startswith("tg_live_"):
            raise ConfigurationError("[tinygate] a live key (tg_live_) is refused in test mode")
        self.api_key = key
        self.api_base = str(section.get("api_base", "https://api.tinygate.test")).rstrip("/")
        self.webhook_secret = str(section.get("webhook_secret", ""))
        self.test_mode = config.test_mode
        # Proxy settings are read once, for TinyGate's host (see writing-a-provider.md).
        read_environment_once(self.session, self.api_base)

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

    # -- the HTTP call -------------------------------------------------------------
    def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, key: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        """One call to TinyGate: ``(status, decoded JSON)``; network trouble raised
        as :class:`ProviderUnavailable`, a refused key as :class:`AuthenticationError`."""
        if not self.api_key:
            raise ConfigurationError("[tinygate] api_key is not set")
        headers = {"Authorization": f"Bearer {self.api_key}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        try:
            answer = self.session.request(
                method, self.api_base + path, json=body, headers=headers, timeout=TIMEOUT_SECONDS
            )
        except requests.RequestException as exc:
            # Only a connection never made proves the request did not arrive.
            raise ProviderUnavailable(
                f"TinyGate unreachable: {type(exc).__name__}",
                request_sent=not _never_connected(exc),
            ) from None
        if answer.status_code == 401:
            raise AuthenticationError("TinyGate refused the API key")
        if answer.status_code == 429:
            raise ProviderUnavailable(
                "TinyGate is rate limiting",
                code=ErrorCode.RATE_LIMITED,
                request_sent=False,
                status_code=429,
            )
        if answer.status_code >= 500:
            # TinyGate may have acted before failing: the outcome is unknown.
            raise ProviderUnavailable(
                f"TinyGate answered {answer.status_code}",
                request_sent=True,
                status_code=answer.status_code,
            )
        try:
            data = answer.json()
        except ValueError:
            raise ProviderUnavailable(
                "TinyGate answered something that is not JSON", status_code=answer.status_code
            ) from None
        return answer.status_code, data if isinstance(data, dict) else {}

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
    def _failed(status: int, answer: dict[str, Any], message: str) -> ProviderResult:
        own = str((answer.get("error") or {}).get("code", "unknown"))
        if status == 402:
            code = DECLINES.get(own, ErrorCode.CARD_DECLINED)
        elif status == 409:
            code = ErrorCode.INVALID_STATE
        elif own == "not_found":
            code = ErrorCode.NOT_FOUND
        else:
            code = ErrorCode.INVALID_AMOUNT
        return ProviderResult(
            status=S.FAILED,
            error=ErrorInfo(code=code.value, message=message, decline_code=own),
            raw=answer,
        )

    # -- operations ------------------------------------------------------------------
    @paygate.hookimpl
    def paygate_authorize(self, request: PaymentRequest) -> ProviderResult:
        method = request.method
        if method.kind != "card":
            raise InvalidRequest("TinyGate takes cards only", param="method")
        body = {
            "amount": self._minor(request.amount),
            "currency": request.amount.currency,
            "card": {
                "number": method.digits,
                "exp_month": method.exp_month,
                "exp_year": method.exp_year,
                "cvc": method.cvc.get_secret_value() if method.cvc else None,
            },
            "capture": request.capture,
            "transaction_id": request.transaction_id,
        }
        status, answer = self._call("POST", "/v1/charges", body, key=request.idempotency_key)
        if status != 200:
            log.info("tinygate declined %s", request.transaction_id)
            return self._failed(status, answer, "The card was declined.")
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
        ref = str(request.provider_reference)
        status, answer = self._call(
            "POST",
            f"/v1/charges/{ref}/capture",
            {"amount": request.amount.minor_units},
            key=request.idempotency_key,
        )
        if status != 200:
            return self._failed(status, answer, "TinyGate cannot capture this charge.")
        return ProviderResult(
            status=S.CAPTURED,
            provider_reference=ref,
            operation_reference=answer["capture_id"],
            amount=request.amount,
            raw=answer,
        )

    @paygate.hookimpl
    def paygate_void(self, request: VoidRequest) -> ProviderResult:
        ref = str(request.provider_reference)
        status, answer = self._call(
            "POST", f"/v1/charges/{ref}/void", {}, key=request.idempotency_key
        )
        if status != 200:
            return self._failed(status, answer, "TinyGate cannot void this charge.")
        return ProviderResult(status=S.VOIDED, provider_reference=ref, raw=answer)

    @paygate.hookimpl
    def paygate_refund(self, request: RefundRequest) -> ProviderResult:
        ref = str(request.provider_reference)
        status, answer = self._call(
            "POST",
            f"/v1/charges/{ref}/refunds",
            {"amount": request.amount.minor_units},
            key=request.idempotency_key,
        )
        if status != 200:
            return self._failed(status, answer, "TinyGate cannot refund this much.")
        return self._refunded(ref, answer, request.amount)

    @staticmethod
    def _refunded(ref: str, answer: dict[str, Any], amount: Money | None) -> ProviderResult:
        charge = answer["charge"]
        done = charge["refunded"] == charge["captured"]
        return ProviderResult(
            status=S.REFUNDED if done else S.PARTIALLY_REFUNDED,
            provider_reference=ref,
            operation_reference=answer["refund_id"],
            amount=amount,
            raw=answer,
        )

    @paygate.hookimpl
    def paygate_fetch_transaction(self, request: FetchRequest) -> ProviderResult | None:
        # TinyGate keeps the answer it gave to each idempotency key: that is
        # the outcome of exactly the operation asked about (of_operation).
        status, replay = self._call(
            "GET", "/v1/requests/" + quote(request.idempotency_key, safe="")
        )
        if status == 200:
            code, answer = int(replay["status"]), replay["answer"]
            if code != 200:
                return self._failed(code, answer, "TinyGate refused this operation.")
            ref = str(answer["charge"]["id"])
            if request.of_operation is Operation.REFUND:
                return self._refunded(ref, answer, request.amount)
            if request.of_operation is Operation.CAPTURE:
                return ProviderResult(
                    status=S.CAPTURED,
                    provider_reference=ref,
                    operation_reference=answer["capture_id"],
                    amount=request.amount,
                    raw=answer,
                )
            return self._charge_result(answer["charge"])
        # No answer under that key. Only a payment can be found another way
        # (by the transaction id sent with it); a capture, void or refund with
        # no trace under its own key never reached TinyGate.
        if request.of_operation not in (Operation.AUTHORIZE, Operation.PURCHASE):
            return None
        status, found = self._call(
            "GET", "/v1/charges?transaction_id=" + quote(request.transaction_id, safe="")
        )
        if status != 200:
            return None
        return self._charge_result(found["charge"])

    @staticmethod
    def _charge_result(charge: dict[str, Any]) -> ProviderResult:
        status = STATUSES[charge["status"]]
        if charge["status"] == "captured" and charge["refunded"]:
            status = S.PARTIALLY_REFUNDED
        return ProviderResult(status=status, provider_reference=charge["id"], raw=charge)

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

    # -- fees ----------------------------------------------------------------------
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

"""The built-in sandbox: an in-process gateway that behaves like a test-mode processor.

It follows Stripe's test cards (DOMAIN.md): 4242 4242 4242 4242 succeeds,
4000 0000 0000 0002 is declined, 4000 0000 0000 9995 has insufficient funds,
4000 0025 0000 3155 needs 3-D Secure, and so on. Any other Luhn-valid number
succeeds. It enforces a real processor's rules (no capture above the
authorization, no refund above the capture, no capture after a void), dedupes
on idempotency keys like Stripe, signs webhooks like Stripe, and can be told
to add latency and inject faults for reliability tests and benchmarks.
``set_stored_outcome`` makes a stored card start (or stop) declining.

Configuration (``[sandbox]`` table)::

    latency_ms = 0            # added to every call
    max_kept = 10000          # payments and idempotency answers remembered; the
                              # oldest are forgotten beyond it (0: keep all), so a
                              # long-running process stays flat in memory
    webhook_secret = "whsec_..."  # default: a random secret of this instance
                              # (make_webhook and sign use it); there is no
                              # public default that would let anyone sign events
    seed = 0                  # for random faults
    [sandbox.faults]          # probabilities per call, 0..1
    timeout = 0.0             # no answer; the charge may have been made
    server_error = 0.0        # 5xx before anything happened
    rate_limit = 0.0          # 429 before anything happened
    reset_after_charge = 0.0  # the charge is made, then the connection drops

For crash and multi-process tests the gateway's memory can live in a file::

    state_file = "/tmp/sandbox-state.json"  # shared by every process using it,
                                            # written before each answer
    answer_latency_ms = 0                   # delay between doing the work and
                                            # answering (widens a crash window)
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import random
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from paygate._markers import hookimpl
from paygate.config import Config
from paygate.errors import (
    ErrorCode,
    InvalidRequest,
    ProviderUnavailable,
    SignatureVerificationError,
)
from paygate.models import (
    Capabilities,
    ErrorInfo,
    NextAction,
    ProviderInfo,
    StoredPaymentMethod,
    TransactionStatus,
    WebhookEvent,
)
from paygate.money import Money
from paygate.operations import (
    CaptureRequest,
    ConfirmRequest,
    FetchRequest,
    Operation,
    PaymentRequest,
    ProviderResult,
    RefundRequest,
    StoreRequest,
    VoidRequest,
    WebhookRequest,
)
from paygate.pricing.models import FeeContext, FeeLine
from paygate.redaction import luhn_valid

S = TransactionStatus
NAME = "sandbox"
SIGNATURE_HEADER = "Paygate-Signature"
WEBHOOK_TOLERANCE = 300


def _flock(handle: Any, *, exclusive: bool) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: one process per state file
        return
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_UN)


#: Test card -> (outcome, decline_code). Outcomes: ok, decline, 3ds, 3ds_always,
#: decline_on_charge.
TEST_CARDS: dict[str, tuple[str, ErrorCode | None, str | None]] = {
    "4000000000000002": ("decline", ErrorCode.CARD_DECLINED, "generic_decline"),
    "4000000000009995": ("decline", ErrorCode.INSUFFICIENT_FUNDS, "insufficient_funds"),
    "4000000000000069": ("decline", ErrorCode.EXPIRED_CARD, "expired_card"),
    "4000000000000127": ("decline", ErrorCode.INCORRECT_CVC, "incorrect_cvc"),
    "4000000000000119": ("decline", ErrorCode.PROCESSING_ERROR, "processing_error"),
    "4000000000000341": ("decline_on_charge", ErrorCode.CARD_DECLINED, "generic_decline"),
    "4000002500003155": ("3ds", None, None),
    "4000002760003184": ("3ds_always", None, None),
}

#: What a stored payment method can be told to do at its next charges
#: (:meth:`SandboxProvider.set_stored_outcome`): succeed, be declined by the
#: issuer (``card_declined`` / ``generic_decline``), or ask for authentication
#: every time (the charge ends ``requires_action``).
STORED_OUTCOMES = ("ok", "decline_on_charge", "3ds_always")

DEFAULT_MAX_KEPT = 10_000
FAULTS = ("timeout", "server_error", "rate_limit", "reset_after_charge")
APPROVE_BASE = "https://sandbox.paygate.invalid"


@dataclass(slots=True)
class _Payment:
    reference: str
    transaction_id: str
    amount: int
    currency: str
    status: TransactionStatus
    captured: int = 0
    refunded: int = 0
    capture_on_confirm: bool = False
    outcome: str = "ok"
    closed: bool = False


@dataclass(slots=True)
class _Stored:
    outcome: str
    brand: str | None
    last4: str
    customer: str | None


@dataclass
class _Faults:
    rates: dict[str, float] = field(default_factory=dict)
    queued: deque[str] = field(default_factory=deque)
    rng: random.Random = field(default_factory=random.Random)


def _fees_table() -> dict[str, Any]:
    path = Path(__file__).with_name("sandbox_fees.json")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _random_secret() -> str:
    # Unguessable, per instance: a fixed default secret would be public,
    # and anyone could sign events that move the ledger's transactions.
    return "whsec_" + secrets.token_hex(16)


class SandboxProvider:
    """``provider="sandbox"``: the default when nothing else is configured."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._payments: dict[str, _Payment] = {}
        self._by_tx: dict[str, str] = {}
        self._stored: dict[str, _Stored] = {}
        self._idem: dict[str, ProviderResult] = {}
        self._faults = _Faults()
        self.latency = 0.0
        self.webhook_secrets: list[str] = [_random_secret()]
        self.fee_table: dict[str, Any] | None = None
        self.fee_overrides: dict[str, Any] = {}
        #: The last calls made to this provider: (hook, idempotency key, transaction id).
        self.calls: deque[tuple[str, str, str]] = deque(maxlen=10_000)
        #: Every call ever made (the deque above forgets old ones).
        self.call_count = 0
        #: Operations actually carried out (charges made), for fault tests.
        self.effects: dict[str, int] = {}
        self.answer_latency = 0.0
        self._state_path: Path | None = None
        #: Bound on what the gateway remembers (``max_kept``); oldest first out.
        self.max_kept = DEFAULT_MAX_KEPT
        self._kept: deque[tuple[str, str]] = deque()

    # -- set-up ------------------------------------------------------------------
    @hookimpl
    def paygate_configure(self, config: Config) -> None:
        section = config.section(NAME)
        self.latency = float(section.get("latency_ms", 0)) / 1000.0
        self.answer_latency = float(section.get("answer_latency_ms", 0)) / 1000.0
        state_file = section.get("state_file")
        self._state_path = Path(state_file) if state_file else None
        self.max_kept = int(section.get("max_kept", DEFAULT_MAX_KEPT))
        secret = section.get("webhook_secret")
        if secret is not None:
            self.webhook_secrets = list(secret) if isinstance(secret, list) else [str(secret)]
        faults = section.get("faults", {})
        unknown = set(faults) - set(FAULTS)
        if unknown:
            raise InvalidRequest(
                f"unknown sandbox fault(s) {sorted(unknown)}; known: {list(FAULTS)}",
                code=ErrorCode.CONFIG_ERROR,
            )
        # Zero rates are dropped: no fault configured means no lock per call.
        self._faults.rates = {k: float(v) for k, v in faults.items() if float(v)}
        self._faults.rng.seed(section.get("seed", 0))
        self.fee_overrides = dict(section.get("fees", {}))

    @hookimpl
    def paygate_provider_info(self) -> ProviderInfo:
        return ProviderInfo(
            name=NAME,
            display_name="paygate sandbox",
            currencies=None,
            payment_methods=frozenset({"card", "paypal", "stored"}),
            capabilities=Capabilities(
                partial_capture=True,
                multiple_captures=True,
                multiple_refunds=True,
                verify=True,
                recurring=True,
                store_payment_method=True,
                three_d_secure=True,
                webhooks=True,
            ),
            test_mode=True,
        )

    # -- test controls -----------------------------------------------------------
    def inject(self, fault: str, times: int = 1) -> None:
        """Make the next ``times`` calls fail with ``fault`` (one of :data:`FAULTS`)."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; known: {FAULTS}")
        with self._lock:
            self._faults.queued.extend([fault] * times)

    def set_fault_rates(self, **rates: float) -> None:
        self._faults.rates = {k: v for k, v in rates.items() if k in FAULTS and v}

    def refund_outside(self, transaction_id: str, amount: Money) -> None:
        """Refund ``amount`` of a captured payment as the provider's dashboard
        would: the provider's books move, paygate's ledger hears nothing (a
        ``payment.refunded`` webhook from :meth:`make_webhook` then tells)."""
        with self._guarded():
            p = self._payments.get(self._by_tx.get(transaction_id) or "")
            if (
                p is None
                or not isinstance(amount, Money)
                or amount.currency != p.currency
                or amount.minor_units <= 0
            ):
                raise InvalidRequest("no such captured payment, or a bad amount", param="amount")
            if p.refunded + amount.minor_units > p.captured:
                raise InvalidRequest("refund exceeds the captured amount", param="amount")
            p.refunded += amount.minor_units
            p.status = S.REFUNDED if p.refunded == p.captured else S.PARTIALLY_REFUNDED

    def set_stored_outcome(self, token: str, outcome: str) -> None:
        """Make the stored payment method ``token`` answer ``outcome`` (one of
        :data:`STORED_OUTCOMES`) from its next charge on, as a real card does
        when its funds run out (``"decline_on_charge"``) or come back
        (``"ok"``). Answers already given under an idempotency key stay what
        they were (a retry with the same key gets the first answer).

        :raises InvalidRequest: ``outcome`` is not one of :data:`STORED_OUTCOMES`
            (``param="outcome"``), or this sandbox stored no method ``token``
            (``param="token"``).
        """
        if outcome not in STORED_OUTCOMES:
            raise InvalidRequest(
                f"unknown stored-method outcome {outcome!r:.40}; known: {list(STORED_OUTCOMES)}",
                param="outcome",
            )
        with self._guarded():  # with ``state_file``: read, changed and written back
            stored = self._stored.get(token) if isinstance(token, str) else None
            if stored is None:
                raise InvalidRequest(
                    "no stored payment method with that token in this sandbox", param="token"
                )
            stored.outcome = outcome

    def payment(self, reference: str) -> dict[str, Any] | None:
        """The sandbox's own view of a payment (for tests)."""
        p = self._payments.get(reference)
        if p is None:
            return None
        return {
            "status": p.status.value,
            "amount": p.amount,
            "captured": p.captured,
            "refunded": p.refunded,
            "currency": p.currency,
        }

    def state(self) -> dict[str, Any]:
        """What the gateway remembers, for tests: payments by reference, the
        status of the answer kept for each idempotency key, and ``effects``."""
        with self._guarded():
            return {
                "payments": {ref: self.payment(ref) for ref in self._payments},
                "by_transaction": dict(self._by_tx),
                "idempotency": {k: r.status.value for k, r in self._idem.items()},
                "effects": dict(self.effects),
            }

    # -- persistence (``state_file``) ----------------------------------------------
    def _guarded(self) -> AbstractContextManager[Any]:
        # The plain lock when nothing is persisted: no generator per call.
        return self._lock if self._state_path is None else self._state()

    @contextlib.contextmanager
    def _state(self) -> Iterator[None]:
        """The gateway's lock; with ``state_file``, also the file's lock, the
        state read before and written (atomically) after, so several processes
        share one gateway and a killed process loses nothing it answered."""
        with self._lock:
            path = self._state_path
            if path is None:
                yield
                return
            with open(f"{path}.lock", "a+b") as lock:
                _flock(lock, exclusive=True)
                try:
                    self._load_state(path)
                    yield
                    self._save_state(path)
                finally:
                    _flock(lock, exclusive=False)

    def _load_state(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return
        self._payments = {
            ref: _Payment(**{**p, "status": S(p["status"])}) for ref, p in data["payments"].items()
        }
        self._by_tx = dict(data["by_tx"])
        self._stored = {token: _Stored(**v) for token, v in data["stored"].items()}
        self._idem = {k: ProviderResult.model_validate(v) for k, v in data["idem"].items()}
        self.effects = dict(data["effects"])

    def _save_state(self, path: Path) -> None:
        data = {
            "payments": {
                ref: {**asdict(p), "status": p.status.value} for ref, p in self._payments.items()
            },
            "by_tx": self._by_tx,
            "stored": {token: asdict(v) for token, v in self._stored.items()},
            "idem": {k: r.model_dump(mode="json") for k, r in self._idem.items()},
            "effects": self.effects,
        }
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)

    # -- plumbing ----------------------------------------------------------------
    def _forget_oldest(self, key: str, transaction_id: str) -> None:
        """Remember this answer; beyond ``max_kept``, forget the oldest one and
        its payment (called under the lock). A deque keeps this O(1): popping
        the front of a dict would rescan its deleted slots."""
        if not self.max_kept:
            return
        self._kept.append((key, transaction_id))
        while len(self._kept) > self.max_kept:
            old_key, old_tx = self._kept.popleft()
            self._idem.pop(old_key, None)
            ref = self._by_tx.pop(old_tx, None)
            if ref is not None:
                self._payments.pop(ref, None)

    def _draw_fault(self) -> str | None:
        faults = self._faults
        if not faults.queued and not faults.rates:
            # Read without the lock: a fault queued by another thread at
            # this instant goes to the next call, as it would a moment later.
            return None
        with self._lock:
            if self._faults.queued:
                return self._faults.queued.popleft()
            rng = self._faults.rng
            for name, rate in self._faults.rates.items():
                if rate and rng.random() < rate:
                    return name
        return None

    def _call(self, hook: str, request: Any, action: Any) -> ProviderResult:
        self.calls.append((hook, request.idempotency_key, request.transaction_id))
        self.call_count += 1
        if self.latency:
            time.sleep(self.latency)
        fault = self._draw_fault()
        if fault == "server_error":
            raise ProviderUnavailable(
                "sandbox answered 500", request_sent=False, status_code=500, retry_safe=True
            )
        if fault == "rate_limit":
            raise ProviderUnavailable(
                "sandbox answered 429 (rate limited)",
                code=ErrorCode.RATE_LIMITED,
                request_sent=False,
                status_code=429,
                retry_safe=True,
            )
        with self._guarded():
            cached = self._idem.get(request.idempotency_key)
            if cached is None:
                cached = action()
                self._idem[request.idempotency_key] = cached
                self._forget_oldest(request.idempotency_key, request.transaction_id)
                if cached.status is not S.FAILED:
                    self.effects[hook] = self.effects.get(hook, 0) + 1
        if self.answer_latency:
            time.sleep(self.answer_latency)
        if fault in ("timeout", "reset_after_charge"):
            # The gateway did the work; the answer is lost on the way back.
            raise ProviderUnavailable(
                f"sandbox {'timed out' if fault == 'timeout' else 'reset the connection'} "
                "after the request was sent",
                request_sent=True,
                retry_safe=True,
            )
        return cached

    @staticmethod
    def _decline(code: ErrorCode, decline_code: str | None, message: str) -> ProviderResult:
        return ProviderResult(
            status=S.FAILED,
            error=ErrorInfo(code=code.value, message=message, decline_code=decline_code),
        )

    def _new_reference(self) -> str:
        return "sbx_" + secrets.token_hex(10)

    def _card_outcome(self, request: PaymentRequest) -> tuple[str, ProviderResult | None, str]:
        method = request.method
        if method.kind == "card":
            digits = method.digits
            if not (12 <= len(digits) <= 19) or not luhn_valid(digits):
                return (
                    "x",
                    self._decline(
                        ErrorCode.INCORRECT_NUMBER,
                        "incorrect_number",
                        "The card number is incorrect.",
                    ),
                    "",
                )
            if method.cvc is not None and not method.cvc.get_secret_value().isdigit():
                return (
                    "x",
                    self._decline(
                        ErrorCode.INCORRECT_CVC,
                        "incorrect_cvc",
                        "The card's security code is incorrect.",
                    ),
                    "",
                )
            now = datetime.now(UTC)
            if (method.exp_year, method.exp_month) < (now.year, now.month):
                return (
                    "x",
                    self._decline(ErrorCode.EXPIRED_CARD, "expired_card", "The card has expired."),
                    "",
                )
            outcome, code, decline = TEST_CARDS.get(digits, ("ok", None, None))
            if outcome == "decline" and code is not None:
                return outcome, self._decline(code, decline, "The card was declined."), digits[-4:]
            return outcome, None, digits[-4:]
        if method.kind == "stored":
            stored = self._stored.get(method.token)
            if stored is None or method.provider != NAME:
                return (
                    "x",
                    self._decline(
                        ErrorCode.INVALID_REQUEST, None, "No such stored payment method."
                    ),
                    "",
                )
            return stored.outcome, None, stored.last4
        return "paypal", None, ""

    # -- operations --------------------------------------------------------------
    @hookimpl
    def paygate_authorize(self, request: PaymentRequest) -> ProviderResult:
        return self._call("authorize", request, lambda: self._pay(request))

    @hookimpl
    def paygate_charge_recurring(self, request: PaymentRequest) -> ProviderResult:
        return self._call("charge_recurring", request, lambda: self._pay(request))

    def _pay(self, request: PaymentRequest) -> ProviderResult:
        outcome, failure, _last4 = self._card_outcome(request)
        if failure is not None:
            return failure
        if outcome == "decline_on_charge":
            return self._decline(
                ErrorCode.CARD_DECLINED, "generic_decline", "The card was declined."
            )
        ref = self._new_reference()
        amount = request.amount.minor_units
        needs_action = outcome == "paypal" or (
            outcome == "3ds_always" or (outcome == "3ds" and request.method.kind == "card")
        )
        if needs_action and request.off_session:
            return self._decline(
                ErrorCode.AUTHENTICATION_REQUIRED,
                "authentication_required",
                "The issuer requires the payer to authenticate this payment.",
            )
        payment = _Payment(
            ref, request.transaction_id, amount, request.amount.currency, S.AUTHORIZED
        )
        self._payments[ref] = payment
        self._by_tx[request.transaction_id] = ref
        if needs_action:
            payment.status = S.REQUIRES_ACTION
            payment.capture_on_confirm = request.capture
            payment.outcome = outcome
            kind = "approve" if outcome == "paypal" else "redirect"
            return ProviderResult(
                status=S.REQUIRES_ACTION,
                provider_reference=ref,
                next_action=NextAction(
                    type=kind,
                    redirect_url=f"{APPROVE_BASE}/{kind}/{ref}",
                    return_url=request.return_url,
                ),
            )
        if request.capture:
            payment.status = S.CAPTURED
            payment.captured = amount
            payment.closed = True
            return ProviderResult(
                status=S.CAPTURED,
                provider_reference=ref,
                amount=request.amount,
                operation_reference=ref + "_c1",
            )
        return ProviderResult(status=S.AUTHORIZED, provider_reference=ref)

    def _get(self, request: Any) -> _Payment:
        ref = request.provider_reference or self._by_tx.get(request.transaction_id)
        payment = self._payments.get(ref or "")
        if payment is None:
            raise InvalidRequest("sandbox: no such payment", code=ErrorCode.NOT_FOUND)
        return payment

    @hookimpl
    def paygate_capture(self, request: CaptureRequest) -> ProviderResult:
        def act() -> ProviderResult:
            p = self._get(request)
            amount = request.amount.minor_units
            if p.status not in (S.AUTHORIZED, S.PARTIALLY_CAPTURED) or p.closed:
                return self._decline(
                    ErrorCode.INVALID_STATE, None, f"cannot capture a {p.status.value} payment"
                )
            if p.captured + amount > p.amount:
                return self._decline(
                    ErrorCode.INVALID_AMOUNT, None, "capture exceeds the authorized amount"
                )
            p.captured += amount
            p.status = S.CAPTURED if p.captured == p.amount else S.PARTIALLY_CAPTURED
            if request.final:
                p.closed = True
            return ProviderResult(
                status=p.status,
                provider_reference=p.reference,
                operation_reference=f"{p.reference}_c{secrets.token_hex(3)}",
                amount=request.amount,
            )

        return self._call("capture", request, act)

    @hookimpl
    def paygate_void(self, request: VoidRequest) -> ProviderResult:
        def act() -> ProviderResult:
            p = self._get(request)
            if p.status in (S.AUTHORIZED, S.REQUIRES_ACTION):
                p.status = S.VOIDED
            elif p.status is S.PARTIALLY_CAPTURED:
                p.closed = True
            else:
                return self._decline(
                    ErrorCode.INVALID_STATE, None, f"cannot void a {p.status.value} payment"
                )
            p.closed = True
            return ProviderResult(status=S.VOIDED, provider_reference=p.reference)

        return self._call("void", request, act)

    @hookimpl
    def paygate_refund(self, request: RefundRequest) -> ProviderResult:
        def act() -> ProviderResult:
            p = self._get(request)
            amount = request.amount.minor_units
            if p.refunded + amount > p.captured:
                return self._decline(
                    ErrorCode.INVALID_AMOUNT, None, "refund exceeds the captured amount"
                )
            p.refunded += amount
            p.status = S.REFUNDED if p.refunded == p.captured else S.PARTIALLY_REFUNDED
            return ProviderResult(
                status=p.status,
                provider_reference=p.reference,
                operation_reference="re_" + secrets.token_hex(8),
                amount=request.amount,
            )

        return self._call("refund", request, act)

    @hookimpl
    def paygate_confirm(self, request: ConfirmRequest) -> ProviderResult:
        def act() -> ProviderResult:
            p = self._get(request)
            if p.status is not S.REQUIRES_ACTION:
                return self._decline(
                    ErrorCode.INVALID_STATE, None, f"cannot confirm a {p.status.value} payment"
                )
            if request.params.get("outcome") == "fail":
                p.status = S.FAILED
                return self._decline(
                    ErrorCode.AUTHENTICATION_REQUIRED,
                    "authentication_failed",
                    "The payer did not complete authentication.",
                )
            if p.capture_on_confirm:
                p.status = S.CAPTURED
                p.captured = p.amount
                p.closed = True
                return ProviderResult(
                    status=S.CAPTURED,
                    provider_reference=p.reference,
                    amount=Money.from_minor(p.amount, p.currency),
                )
            p.status = S.AUTHORIZED
            return ProviderResult(status=S.AUTHORIZED, provider_reference=p.reference)

        return self._call("confirm", request, act)

    @hookimpl
    def paygate_store_payment_method(self, request: StoreRequest) -> ProviderResult:
        def act() -> ProviderResult:
            method = request.method
            if method.kind == "stored":
                # a method this sandbox made earlier (its "client-side token"):
                # kept as it is, for this customer, like Stripe attaching a pm_
                known = self._stored.get(method.token)
                if known is None or method.provider != NAME:
                    return self._decline(
                        ErrorCode.INVALID_REQUEST, None, "No such stored payment method."
                    )
                customer = request.customer.id if request.customer else known.customer
                known.customer = customer
                return ProviderResult(
                    status=S.AUTHORIZED,
                    stored_method=StoredPaymentMethod(
                        provider=NAME,
                        token=method.token,
                        customer_reference=customer,
                        brand=known.brand if known.brand != "paypal" else None,
                        last4=known.last4 or None,
                        method_kind="paypal" if known.brand == "paypal" else "card",
                    ),
                )
            if method.kind != "card":
                token = "pm_sbx_" + secrets.token_hex(8)
                self._stored[token] = _Stored("ok", "paypal", "", None)
                return ProviderResult(
                    status=S.AUTHORIZED,
                    stored_method=StoredPaymentMethod(
                        provider=NAME, token=token, method_kind="paypal"
                    ),
                )
            digits = method.digits
            if not luhn_valid(digits):
                return self._decline(
                    ErrorCode.INCORRECT_NUMBER, "incorrect_number", "The card number is incorrect."
                )
            outcome, code, decline = TEST_CARDS.get(digits, ("ok", None, None))
            if outcome == "decline" and code is not None:
                return self._decline(code, decline, "The card was declined.")
            # 3155 needs authentication once, at set-up; later off-session charges pass.
            stored_outcome = "ok" if outcome == "3ds" else outcome
            token = "pm_sbx_" + secrets.token_hex(8)
            customer = request.customer.id if request.customer else None
            self._stored[token] = _Stored(stored_outcome, method.brand, digits[-4:], customer)
            return ProviderResult(
                status=S.AUTHORIZED,
                stored_method=StoredPaymentMethod(
                    provider=NAME,
                    token=token,
                    customer_reference=customer,
                    brand=method.brand,
                    last4=digits[-4:],
                ),
            )

        return self._call("store_payment_method", request, act)

    @hookimpl
    def paygate_fetch_transaction(self, request: FetchRequest) -> ProviderResult | None:
        self.calls.append(("fetch_transaction", request.idempotency_key, request.transaction_id))
        if self.latency:
            time.sleep(self.latency)
        with self._guarded():
            # The gateway remembers each request by idempotency key, like Stripe.
            known = self._idem.get(request.idempotency_key)
            if known is not None:
                return known
            if request.of_operation in (Operation.AUTHORIZE, Operation.PURCHASE):
                ref = self._by_tx.get(request.transaction_id)
                payment = self._payments.get(ref or "")
                if payment is not None:
                    return ProviderResult(
                        status=payment.status, provider_reference=payment.reference
                    )
        return None

    # -- webhooks ----------------------------------------------------------------
    def sign(self, body: bytes, *, timestamp: int | None = None, secret: str | None = None) -> str:
        """The ``Paygate-Signature`` header value for ``body`` (Stripe's scheme)."""
        ts = int(time.time()) if timestamp is None else timestamp
        key = (secret or self.webhook_secrets[0]).encode()
        sig = hmac.new(key, f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
        return f"t={ts},v1={sig}"

    def make_webhook(
        self, event_type: str, transaction_id: str, *, event_id: str | None = None
    ) -> tuple[dict[str, str], bytes]:
        """A signed delivery for tests and demos: ``(headers, body)``.

        The amount is the payment's, except for ``payment.refunded``: what
        was refunded on it to date (the contract of ``WebhookEvent.amount``).
        """
        with self._guarded():
            ref = self._by_tx.get(transaction_id)
            payment = self._payments.get(ref or "")
            amount = None
            if payment is not None:
                amount = payment.refunded if event_type == "payment.refunded" else payment.amount
        body = json.dumps(
            {
                "id": event_id or "evt_" + secrets.token_hex(8),
                "type": event_type,
                "created": int(time.time()),
                "data": {
                    "reference": ref,
                    "transaction_id": transaction_id,
                    "amount": amount,
                    "currency": payment.currency if payment else None,
                },
            }
        ).encode()
        return {SIGNATURE_HEADER: self.sign(body), "Content-Type": "application/json"}, body

    @hookimpl
    def paygate_parse_webhook(self, request: WebhookRequest) -> WebhookEvent:
        header = next(
            (v for k, v in request.headers.items() if k.lower() == SIGNATURE_HEADER.lower()), None
        )
        if not header:
            raise SignatureVerificationError(f"missing {SIGNATURE_HEADER} header")
        parts: dict[str, list[str]] = {}
        for item in header.split(","):
            key, _, value = item.strip().partition("=")
            parts.setdefault(key, []).append(value)
        try:
            ts = int(parts.get("t", [""])[0])
        except ValueError:
            raise SignatureVerificationError("signature header has no valid timestamp") from None
        if not 0 <= ts < 10**11:  # beyond year 5138: no real delivery, and no float holds it
            raise SignatureVerificationError("signature header has no valid timestamp")
        if abs(request.received_at.timestamp() - ts) > WEBHOOK_TOLERANCE:
            raise SignatureVerificationError("signature timestamp is outside the 300 s tolerance")
        signed = f"{ts}.".encode() + request.body
        expected = [
            hmac.new(s.encode(), signed, hashlib.sha256).hexdigest() for s in self.webhook_secrets
        ]
        # As bytes: compare_digest refuses non-ASCII str (a forged "v1=é").
        given = [v.encode("utf-8", "replace") for v in parts.get("v1", [])]
        if not any(hmac.compare_digest(e.encode(), v) for e in expected for v in given):
            raise SignatureVerificationError("no signature matches the payload")
        try:
            payload = json.loads(request.body)
            data = payload.get("data", {})
            amount = (
                Money.from_minor(int(data["amount"]), data["currency"])
                if data.get("amount") is not None and data.get("currency")
                else None
            )
            return WebhookEvent(
                id=str(payload["id"]),
                provider=NAME,
                type=str(payload["type"]),
                provider_type=str(payload["type"]),
                provider_reference=data.get("reference"),
                transaction_id=data.get("transaction_id"),
                amount=amount,
                data=data,
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            raise InvalidRequest("webhook body is not a sandbox event") from None

    # -- fees --------------------------------------------------------------------
    @hookimpl
    def paygate_calculate_fees(self, context: FeeContext) -> list[FeeLine]:
        if self.fee_table is None:
            self.fee_table = _fees_table()
        table = {**self.fee_table, **self.fee_overrides}
        fixed_by_ccy: dict[str, str] = table.get("fixed", {})
        fixed = fixed_by_ccy.get(context.amount.currency)
        return [
            FeeLine(
                code="gateway_fee",
                label=f"{table['label']} ({table['rate_display']})",
                rate=table["rate"],
                fixed=Money(fixed, context.amount.currency) if fixed else None,
                source=NAME,
                table=f"{table['source']} (read {table['read_on']})",
            )
        ]

"""The Stripe provider: paygate's hooks on Stripe PaymentIntents.

=================  ==========================================================
paygate            Stripe
=================  ==========================================================
authorize          PaymentIntent ``capture_method=manual``, ``confirm=true``
purchase           PaymentIntent ``capture_method=automatic``, ``confirm=true``
capture            ``POST /v1/payment_intents/{id}/capture`` (``amount_to_capture``)
void               ``POST /v1/payment_intents/{id}/cancel``
refund             ``POST /v1/refunds`` (``payment_intent``, ``amount``)
confirm            retrieve (and confirm when Stripe waits for it) after 3-D Secure
charge_recurring   PaymentIntent ``off_session=true`` with a saved ``pm_...``
store              Customer + PaymentMethod attached to it
fetch_transaction  retrieve, or search/list by ``metadata[paygate_transaction_id]``
parse_webhook      ``Stripe-Signature`` check, neutral event
=================  ==========================================================

Every mutating request carries the core's idempotency key as Stripe's
``Idempotency-Key`` (the SDK's network retries reuse it); requests that one
operation needs several of (PaymentMethod, Customer, attach) get keys derived
from it, so a retried operation replays each of them.

``stripe`` is imported on first use only (see :func:`settings.build_client`),
and so are this package's own error, webhook and fee modules: loading the
plugin must cost next to nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from paygate._markers import hookimpl
from paygate.errors import (
    ErrorCode,
    InvalidRequest,
    InvalidState,
    NotFound,
    ProviderUnavailable,
    UnsupportedFeature,
)
from paygate.models import (
    Capabilities,
    Card,
    ErrorInfo,
    NextAction,
    PayPalWallet,
    ProviderInfo,
    StoredPaymentMethod,
    TransactionStatus,
    WebhookEvent,
    construct,
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
from paygate_stripe import amounts
from paygate_stripe.settings import StripeSettings, build_client, from_config

if TYPE_CHECKING:
    from collections.abc import Mapping

    from stripe import StripeClient
    from stripe._request_options import RequestOptions
    from stripe.params import (
        CustomerCreateParams,
        PaymentIntentConfirmParams,
        PaymentIntentCreateParams,
        PaymentMethodCreateParams,
        RefundCreateParams,
    )

    from paygate.pricing.models import FeeContext, FeeLine

PROVIDER = "stripe"
METADATA_TRANSACTION = "paygate_transaction_id"
METADATA_IDEMPOTENCY = "paygate_idempotency_key"
METADATA_CUSTOMER = "paygate_customer_id"
METADATA_REASON = "paygate_reason"
#: Stripe's own refund reasons; any other reason travels as metadata only.
REFUND_REASONS = frozenset({"duplicate", "fraudulent", "requested_by_customer"})
#: How many recent PaymentIntents to scan when search cannot find one.
LIST_SCAN_LIMIT = 300
MAX_IDEMPOTENCY_KEY = 255

T = TypeVar("T")


class _ConfigLike(Protocol):
    """What the plugin reads of :class:`paygate.config.Config`."""

    @property
    def test_mode(self) -> bool: ...

    def section(self, name: str) -> Mapping[str, Any]: ...


class _Declined(Exception):
    """A Stripe card error, on its way to becoming a failed result."""

    def __init__(self, info: ErrorInfo, payment_intent: str | None, raw: dict[str, Any]) -> None:
        super().__init__(info.code)
        self.info = info
        self.payment_intent = payment_intent
        self.raw = raw


def _digest(key: str) -> str:
    import hashlib

    return hashlib.sha256(key.encode()).hexdigest()


def _subkey(key: str, suffix: str) -> str:
    """An idempotency key for one of an operation's several requests."""
    derived = f"{key}:{suffix}"
    if len(derived) <= MAX_IDEMPOTENCY_KEY:
        return derived
    return f"{_digest(key)}:{suffix}"


def _check_key(key: str) -> str:
    if len(key) > MAX_IDEMPOTENCY_KEY:
        # Stripe refuses longer keys; a digest keeps the key deterministic.
        return _digest(key)
    return key


#: The PaymentIntent fields this plugin reads and the ledger's transcript
#: keeps. An allow-list, not a deny-list: whatever Stripe adds to the object
#: (shipping addresses, receipt e-mails, expanded payment methods, the client
#: secret) never reaches the ledger, and the core scrubs far less per payment.
INTENT_FIELDS = (
    "id",
    "object",
    "status",
    "amount",
    "amount_capturable",
    "amount_received",
    "currency",
    "capture_method",
    "confirmation_method",
    "created",
    "livemode",
    "customer",
    "payment_method",
    "latest_charge",
    "cancellation_reason",
    "description",
    "metadata",
    "last_payment_error",
    "next_action",
)
#: Fields Stripe may expand into whole objects (a PaymentMethod carries
#: billing details): only their id is kept.
_ID_FIELDS = frozenset({"customer", "payment_method", "latest_charge"})
#: What is kept of ``last_payment_error`` (its ``payment_method`` is a whole object).
_ERROR_FIELDS = ("type", "code", "decline_code", "message", "param")
_SCALARS = (str, int, float, bool)


#: The shapes of Stripe's secrets (``paygate_secret_patterns``): API keys
#: (secret, restricted, publishable), webhook signing secrets, and the
#: ``client_secret`` of a PaymentIntent or SetupIntent. Stripe's ids
#: (``pi_...``, ``ch_...``, ``re_...``) match none of them.
SECRET_PATTERNS = (
    r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{6,}",
    r"\bwhsec_[A-Za-z0-9+/=_-]{6,}",
    r"\b(?:pi|seti)_[A-Za-z0-9]+_secret_[A-Za-z0-9]+",
)


def _plain(value: Any) -> Any:
    """A nested Stripe value as plain JSON data.

    One level of ``to_dict(recursive=False)`` at a time: the SDK's recursive
    ``to_dict`` costs several microseconds even for a one-key ``metadata``.
    """
    if value is None or isinstance(value, _SCALARS):
        return value
    to_dict = getattr(value, "to_dict", None)
    if to_dict is not None:  # a StripeObject
        return {k: _plain(v) for k, v in to_dict(recursive=False).items()}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _intent_record(intent: Any) -> dict[str, Any]:
    """The allow-listed fields of a PaymentIntent (SDK object or dict) as plain data.

    Reads the SDK object one level deep instead of ``to_dict()``-ing all of
    it: only the few nested values kept are converted.
    """
    data: Mapping[str, Any] = (
        intent if isinstance(intent, dict) else intent.to_dict(recursive=False)
    )
    out: dict[str, Any] = {}
    for key in INTENT_FIELDS:
        if key not in data:
            continue
        value = data[key]
        if value is not None and not isinstance(value, _SCALARS):
            value = _plain(value)
            if key in _ID_FIELDS and isinstance(value, dict):
                value = value.get("id")
            elif key == "last_payment_error" and isinstance(value, dict):
                value = {k: value[k] for k in _ERROR_FIELDS if k in value}
        out[key] = value
    return out


def _metadata(base: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """Host metadata plus paygate's keys, within Stripe's limits (checked before the call)."""
    merged = {**base, **extra}
    if len(merged) > 50:
        raise InvalidRequest("Stripe takes at most 50 metadata keys", param="metadata")
    for key, value in merged.items():
        if len(key) > 40 or "[" in key or "]" in key:
            raise InvalidRequest(
                f"Stripe metadata keys are at most 40 characters, without brackets: {key[:40]!r}",
                param="metadata",
            )
        if len(value) > 500:
            raise InvalidRequest(
                f"Stripe metadata values are at most 500 characters ({key!r})", param="metadata"
            )
    return merged


class StripeProvider:
    """paygate provider plugin for Stripe (entry point ``stripe`` in group ``paygate``)."""

    def __init__(self) -> None:
        self._settings = from_config({}, environ={})
        self._fee_table: dict[str, Any] | None = None
        self._client: StripeClient | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"StripeProvider({self._settings!r})"

    # -- set-up ------------------------------------------------------------

    @hookimpl
    def paygate_configure(self, config: _ConfigLike) -> None:
        self.configure(config.section(PROVIDER), test_mode=config.test_mode)

    def configure(
        self,
        section: Mapping[str, Any],
        *,
        test_mode: bool = True,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        """Apply the ``[stripe]`` table (what ``paygate_configure`` does)."""
        self._settings = from_config(section, test_mode=test_mode, environ=environ)
        self._fee_table = None
        self._client = None

    @property
    def settings(self) -> StripeSettings:
        return self._settings

    @hookimpl
    def paygate_secret_patterns(self) -> list[str]:
        return list(SECRET_PATTERNS)

    @hookimpl
    def paygate_provider_info(self) -> ProviderInfo:
        from paygate_stripe import __version__

        return ProviderInfo(
            name=PROVIDER,
            display_name="Stripe",
            version=__version__,
            payment_methods=frozenset({"card", "stored"}),
            capabilities=Capabilities(
                authorize=True,
                capture=True,
                partial_capture=True,
                multiple_captures=False,
                void=True,
                refund=True,
                partial_refund=True,
                multiple_refunds=True,
                verify=True,
                recurring=True,
                store_payment_method=True,
                three_d_secure=True,
                webhooks=True,
                reauthorize=False,
            ),
            test_mode=not self._settings.live,
        )

    # -- plumbing ----------------------------------------------------------

    def client(self) -> StripeClient:
        """The SDK client, built once per plugin instance and reused (keep-alive)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = build_client(self._settings)
        return self._client

    def _call(self, fn: Callable[[StripeClient], T]) -> T:
        client = self.client()
        try:
            return fn(client)
        except Exception as exc:
            # stripe and the error table are imported by _raise_mapped, on
            # the error path only: even a cached import statement costs a
            # microsecond on every payment.
            self._raise_mapped(exc)
            raise

    def _raise_mapped(self, exc: Exception) -> None:
        """Raise what a Stripe SDK error means to paygate; return for any other error."""
        import stripe

        from paygate_stripe import errors

        if isinstance(exc, stripe.CardError):
            body = exc.json_body if isinstance(exc.json_body, dict) else {}
            found = body.get("error")
            error: dict[str, Any] = found if isinstance(found, dict) else {}
            intent = error.get("payment_intent")
            intent_id = intent.get("id") if isinstance(intent, dict) else None
            raw = {"error": {k: v for k, v in error.items() if k != "payment_intent"}}
            if isinstance(intent, dict):
                raw["payment_intent"] = _intent_record(intent)
            raise _Declined(errors.card_error_info(exc), intent_id, raw) from None
        if isinstance(exc, stripe.StripeError):
            mapped = errors.to_paygate_error(exc, retries=self._settings.max_network_retries)
            if exc.request_id:
                mapped.message = f"{mapped.message} (Stripe request {exc.request_id})"
                mapped.args = (mapped.message,)
            raise mapped from None

    @staticmethod
    def _options(key: str) -> RequestOptions:
        return {"idempotency_key": _check_key(key)}

    def _declined(self, exc: _Declined, reference: str | None = None) -> ProviderResult:
        return ProviderResult(
            status=TransactionStatus.FAILED,
            provider_reference=exc.payment_intent or reference,
            error=exc.info,
            raw=exc.raw,
        )

    # -- payment methods -----------------------------------------------------

    def _raw_cards_allowed(self) -> bool:
        return self._settings.test_mode and not self._settings.live

    def _create_payment_method(self, card: Card, key: str) -> dict[str, Any]:
        if not self._raw_cards_allowed():
            raise UnsupportedFeature(
                "stripe: raw card numbers are only sent to Stripe in test mode. In live mode, "
                "collect the card with Stripe.js / Elements in the browser and pass "
                "StoredPaymentMethod(provider='stripe', token='pm_...'): card data then never "
                "touches your servers (PCI DSS SAQ A instead of SAQ D).",
                param="method",
            )
        card_params: dict[str, Any] = {
            "number": card.digits,
            "exp_month": card.exp_month,
            "exp_year": card.exp_year,
        }
        if card.cvc is not None:
            card_params["cvc"] = card.cvc.get_secret_value()
        pm = self._call(
            lambda c: c.v1.payment_methods.create(
                cast("PaymentMethodCreateParams", {"type": "card", "card": card_params}),
                self._options(_subkey(key, "payment_method")),
            )
        )
        return pm.to_dict()

    def _payment_method(
        self, method: Card | PayPalWallet | StoredPaymentMethod, key: str
    ) -> tuple[str, str | None]:
        """``(payment method id, customer id)`` to charge."""
        if isinstance(method, Card):
            return str(self._create_payment_method(method, key)["id"]), None
        if isinstance(method, StoredPaymentMethod):
            if method.provider != PROVIDER:
                raise InvalidRequest(
                    f"this stored method belongs to {method.provider!r}, not Stripe",
                    param="method",
                )
            if not method.token.startswith(("pm_", "card_", "src_")):
                raise InvalidRequest(
                    "a Stripe stored method token is a PaymentMethod id (pm_...)", param="method"
                )
            return method.token, method.customer_reference
        raise UnsupportedFeature(
            "stripe: this plugin takes cards and saved Stripe payment methods; "
            "use the paypal provider for PayPal wallets",
            param="method",
        )

    # -- results -------------------------------------------------------------

    def _next_action(self, intent: dict[str, Any], return_url: str | None) -> NextAction:
        action = intent.get("next_action") or {}
        redirect = action.get("redirect_to_url") or {}
        url = redirect.get("url")
        if not url:
            # Without a return_url Stripe answers ``use_stripe_sdk``; its
            # ``stripe_js`` link is the hosted 3-D Secure page.
            url = (action.get("use_stripe_sdk") or {}).get("stripe_js") or None
        if not url and self._settings.localstripe and self._settings.api_base:
            # localstripe has no hosted page: the payer's side is simulated by
            # POSTing to this endpoint with the client secret.
            url = f"{self._settings.api_base}/v1/payment_intents/{intent['id']}/_authenticate"
        return NextAction(
            type="redirect",
            redirect_url=url or "",
            return_url=redirect.get("return_url") or return_url,
        )

    def _from_intent(
        self,
        found: Any,
        *,
        return_url: str | None = None,
        expected: Money | None = None,
    ) -> ProviderResult:
        """The result for a PaymentIntent (the SDK's object or its dict)."""
        # Everything below reads only allow-listed fields: the transcript is them.
        intent = raw = _intent_record(found)
        status = intent.get("status")
        currency = str(intent.get("currency", ""))
        reference = str(intent["id"])

        def money(field: str) -> Money | None:
            # Stripe always sends amount_capturable/amount_received; servers
            # that do not (localstripe) moved what was asked, else the whole.
            for value in (intent.get(field), None, intent.get("amount")):
                if value is None and expected is not None:
                    return expected
                if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                    return amounts.from_stripe(value, currency)
            return None

        # The two answers of nearly every payment are built without validating
        # again what is already typed here: a status member, str, Money, dict.
        if status == "requires_capture":
            return construct(
                ProviderResult,
                status=TransactionStatus.AUTHORIZED,
                provider_reference=reference,
                amount=money("amount_capturable"),
                raw=raw,
            )
        if status == "succeeded":
            return construct(
                ProviderResult,
                status=TransactionStatus.CAPTURED,
                provider_reference=reference,
                amount=money("amount_received"),
                raw=raw,
            )
        if status == "canceled":
            return ProviderResult(
                status=TransactionStatus.VOIDED, provider_reference=reference, raw=raw
            )
        if status == "requires_action":
            return ProviderResult(
                status=TransactionStatus.REQUIRES_ACTION,
                provider_reference=reference,
                next_action=self._next_action(intent, return_url),
                raw=raw,
            )
        if status == "requires_payment_method":
            last = intent.get("last_payment_error") or {}
            from paygate_stripe.errors import decline_info

            info = decline_info(
                last.get("code"),
                last.get("decline_code"),
                last.get("message") or "The payment method was declined or not authenticated.",
            )
            return ProviderResult(
                status=TransactionStatus.FAILED, provider_reference=reference, error=info, raw=raw
            )
        # processing, requires_confirmation: the outcome is not settled yet;
        # ``Payments.reconcile`` asks again later.
        return ProviderResult(
            status=TransactionStatus.UNKNOWN, provider_reference=reference, raw=raw
        )

    # -- operations ----------------------------------------------------------

    def _pay(self, request: PaymentRequest, *, off_session: bool) -> ProviderResult:
        self._settings.require_key()
        amount = amounts.to_stripe(request.amount)
        metadata = _metadata(request.metadata, {METADATA_TRANSACTION: request.transaction_id})
        return_url = request.return_url or self._settings.return_url
        try:
            payment_method, customer = self._payment_method(request.method, request.idempotency_key)
            params: dict[str, Any] = {
                "amount": amount,
                "currency": amounts.stripe_currency(request.amount),
                "payment_method": payment_method,
                "payment_method_types": ["card"],
                "capture_method": "automatic" if request.capture else "manual",
                "confirm": True,
                "metadata": metadata,
            }
            if customer:
                params["customer"] = customer
            if off_session:
                params["off_session"] = True
            if not self._settings.localstripe:
                if request.description:
                    params["description"] = request.description
                if return_url and not off_session:
                    params["return_url"] = return_url
            intent = self._call(
                lambda c: c.v1.payment_intents.create(
                    cast("PaymentIntentCreateParams", params),
                    self._options(request.idempotency_key),
                )
            )
        except _Declined as exc:
            return self._declined(exc)
        return self._from_intent(intent, return_url=return_url, expected=request.amount)

    @hookimpl
    def paygate_authorize(self, request: PaymentRequest) -> ProviderResult:
        return self._pay(request, off_session=request.off_session)

    @hookimpl
    def paygate_charge_recurring(self, request: PaymentRequest) -> ProviderResult:
        if not isinstance(request.method, StoredPaymentMethod):
            raise InvalidRequest(
                "a recurring charge needs a saved Stripe payment method", param="method"
            )
        return self._pay(request, off_session=True)

    def _reference(
        self, request: CaptureRequest | VoidRequest | RefundRequest | ConfirmRequest
    ) -> str:
        if not request.provider_reference:
            raise InvalidState(
                "this transaction has no Stripe PaymentIntent id", code=ErrorCode.INVALID_STATE
            )
        return request.provider_reference

    @hookimpl
    def paygate_capture(self, request: CaptureRequest) -> ProviderResult:
        self._settings.require_key()
        reference = self._reference(request)
        amount = amounts.to_stripe(request.amount)
        if request.captured.is_positive():
            raise InvalidState(
                "Stripe captures a PaymentIntent once; the rest was released at the first capture"
            )
        if not request.final and request.amount < request.authorized:
            raise UnsupportedFeature(
                "Stripe releases the uncaptured rest of a PaymentIntent at its first capture: "
                "a non-final partial capture is not possible",
                param="final",
            )
        try:
            intent = self._call(
                lambda c: c.v1.payment_intents.capture(
                    reference,
                    {"amount_to_capture": amount},
                    self._options(request.idempotency_key),
                )
            )
        except _Declined as exc:
            return self._declined(exc, reference)
        return self._from_intent(intent, expected=request.amount)

    @hookimpl
    def paygate_void(self, request: VoidRequest) -> ProviderResult:
        self._settings.require_key()
        reference = self._reference(request)
        intent = self._call(
            lambda c: c.v1.payment_intents.cancel(
                reference, None, self._options(request.idempotency_key)
            )
        )
        return self._from_intent(intent)

    @hookimpl
    def paygate_refund(self, request: RefundRequest) -> ProviderResult:
        self._settings.require_key()
        reference = self._reference(request)
        remaining = request.captured - request.refunded
        if request.amount > remaining:
            raise InvalidRequest(
                f"refund of {request.amount} is more than what is left to refund ({remaining})",
                code=ErrorCode.INVALID_AMOUNT,
                param="amount",
            )
        amount = amounts.to_stripe(request.amount)
        extra = {
            METADATA_TRANSACTION: request.transaction_id,
            METADATA_IDEMPOTENCY: request.idempotency_key[:500],
        }
        if request.reason:
            extra[METADATA_REASON] = request.reason[:500]
        params: dict[str, Any] = {
            "payment_intent": reference,
            "amount": amount,
            "metadata": _metadata(request.metadata, extra),
        }
        if request.reason in REFUND_REASONS and not self._settings.localstripe:
            params["reason"] = request.reason
        refund = self._call(
            lambda c: c.v1.refunds.create(
                cast("RefundCreateParams", params),
                self._options(request.idempotency_key),
            )
        ).to_dict()
        return self._from_refund(refund, request.captured, request.refunded, reference)

    def _from_refund(
        self, refund: dict[str, Any], captured: Money, refunded_before: Money, reference: str
    ) -> ProviderResult:
        moved = amounts.from_stripe(int(refund["amount"]), str(refund["currency"]))
        if refund.get("status") in ("failed", "canceled"):
            return ProviderResult(
                status=TransactionStatus.FAILED,
                provider_reference=reference,
                operation_reference=str(refund["id"]),
                amount=moved,
                error=ErrorInfo(
                    code=ErrorCode.PROCESSING_ERROR.value,
                    message=f"Stripe refund {refund.get('status')}: "
                    f"{refund.get('failure_reason') or 'no reason given'}",
                ),
                raw=refund,
            )
        fully = refunded_before + moved >= captured
        return ProviderResult(
            status=TransactionStatus.REFUNDED if fully else TransactionStatus.PARTIALLY_REFUNDED,
            provider_reference=reference,
            operation_reference=str(refund["id"]),
            amount=moved,
            raw=refund,
        )

    @hookimpl
    def paygate_confirm(self, request: ConfirmRequest) -> ProviderResult:
        self._settings.require_key()
        reference = self._reference(request)
        try:
            intent = self._call(lambda c: c.v1.payment_intents.retrieve(reference)).to_dict()
            if intent.get("status") == "requires_confirmation":
                params: dict[str, Any] = {}
                if self._settings.return_url and not self._settings.localstripe:
                    params["return_url"] = self._settings.return_url
                intent = self._call(
                    lambda c: c.v1.payment_intents.confirm(
                        reference,
                        cast("PaymentIntentConfirmParams", params),
                        self._options(_subkey(request.idempotency_key, "confirm")),
                    )
                ).to_dict()
        except _Declined as exc:
            return self._declined(exc, reference)
        return self._from_intent(intent, expected=request.amount)

    @hookimpl
    def paygate_store_payment_method(self, request: StoreRequest) -> ProviderResult:
        self._settings.require_key()
        key = request.idempotency_key
        method = request.method
        try:
            if isinstance(method, Card):
                pm = self._create_payment_method(method, key)
            elif isinstance(method, StoredPaymentMethod):
                token, customer_ref = self._payment_method(method, key)
                if customer_ref:
                    pm = self._call(lambda c: c.v1.payment_methods.retrieve(token)).to_dict()
                    return self._stored(pm, customer_ref)
                pm = {"id": token}
            else:
                raise UnsupportedFeature(
                    "stripe: only cards can be saved at Stripe", param="method"
                )
            customer_params: dict[str, Any] = {
                "metadata": {METADATA_TRANSACTION: request.transaction_id}
            }
            if request.customer is not None:
                customer_params["metadata"][METADATA_CUSTOMER] = request.customer.id[:500]
                if request.customer.email:
                    customer_params["email"] = request.customer.email
                if request.customer.name:
                    customer_params["name"] = request.customer.name
            customer = self._call(
                lambda c: c.v1.customers.create(
                    cast("CustomerCreateParams", customer_params),
                    self._options(_subkey(key, "customer")),
                )
            ).to_dict()
            attached = self._call(
                lambda c: c.v1.payment_methods.attach(
                    str(pm["id"]),
                    {"customer": str(customer["id"])},
                    self._options(_subkey(key, "attach")),
                )
            ).to_dict()
        except _Declined as exc:
            return self._declined(exc)
        return self._stored(attached, str(customer["id"]))

    def _stored(self, pm: dict[str, Any], customer: str) -> ProviderResult:
        card = pm.get("card") or {}
        stored = StoredPaymentMethod(
            provider=PROVIDER,
            token=str(pm["id"]),
            customer_reference=customer,
            brand=card.get("brand"),
            last4=card.get("last4"),
            method_kind="card",
        )
        return ProviderResult(
            status=TransactionStatus.AUTHORIZED,
            provider_reference=str(pm["id"]),
            stored_method=stored,
            provider_data={"customer": customer},
            raw=pm,
        )

    # -- reconciling ---------------------------------------------------------

    def _recent_intents(self) -> Iterator[dict[str, Any]]:
        page = self._call(lambda c: c.v1.payment_intents.list({"limit": 100}))
        for seen, intent in enumerate(page.auto_paging_iter()):
            if seen >= LIST_SCAN_LIMIT:
                return
            yield intent.to_dict()

    def find_intent(self, transaction_id: str) -> dict[str, Any] | None:
        """The PaymentIntent whose metadata names ``transaction_id``, if any.

        Uses Stripe's search, then a scan of the latest PaymentIntents: search
        lags behind writes by up to a minute, and some servers (localstripe,
        some regions) have no search.
        """
        safe = transaction_id.replace("\\", "").replace("'", "")
        if safe == transaction_id:
            query = f"metadata['{METADATA_TRANSACTION}']:'{transaction_id}'"
            try:
                found = self._call(lambda c: c.v1.payment_intents.search({"query": query}))
                for intent in found.data:
                    as_dict = intent.to_dict()
                    if as_dict.get("metadata", {}).get(METADATA_TRANSACTION) == transaction_id:
                        return as_dict
            except (InvalidRequest, NotFound, UnsupportedFeature):
                pass
        for recent in self._recent_intents():
            if (recent.get("metadata") or {}).get(METADATA_TRANSACTION) == transaction_id:
                return recent
        return None

    @hookimpl
    def paygate_fetch_transaction(self, request: FetchRequest) -> ProviderResult | None:
        self._settings.require_key()
        intent: dict[str, Any] | None
        if request.provider_reference and request.provider_reference.startswith("pi_"):
            intent = self._retrieve_intent(request.provider_reference)
        else:
            intent = self.find_intent(request.transaction_id)
        if intent is None:
            return None
        if request.of_operation is Operation.REFUND:
            return self._fetch_refund(intent, request)
        return self._from_intent(intent, expected=request.amount)

    def _retrieve_intent(self, reference: str) -> dict[str, Any] | None:
        """The PaymentIntent, or None only when Stripe itself says it does not exist.

        A 404 without Stripe's ``resource_missing`` (a misrouted ``api_base``,
        a proxy's error page) proves nothing about the PaymentIntent: taken
        for "not found", reconcile would settle a possibly made charge as
        failed. It is ``ProviderUnavailable``, and the operation stays unknown.
        """
        client = self.client()
        try:
            return client.v1.payment_intents.retrieve(reference).to_dict()
        except Exception as exc:
            import stripe

            from paygate_stripe import errors

            if isinstance(exc, stripe.StripeError):
                if errors.error_code(exc) == "resource_missing":
                    return None
                if getattr(exc, "http_status", None) == 404:
                    raise ProviderUnavailable(
                        f"Stripe answered 404 without saying whether {reference} exists",
                        request_sent=True,
                        retry_safe=True,
                        status_code=404,
                    ) from None
            self._raise_mapped(exc)
            raise

    def _fetch_refund(self, intent: dict[str, Any], request: FetchRequest) -> ProviderResult | None:
        reference = str(intent["id"])
        page = self._call(lambda c: c.v1.refunds.list({"payment_intent": reference, "limit": 100}))
        refunds = [r.to_dict() for r in page.data]
        mine = [
            r
            for r in refunds
            if (r.get("metadata") or {}).get(METADATA_IDEMPOTENCY) == request.idempotency_key[:500]
        ]
        if not mine:
            return None
        currency = str(intent.get("currency", ""))
        received = int(intent.get("amount_received") or intent.get("amount") or 0)
        total = sum(
            int(r["amount"]) for r in refunds if r.get("status") in ("succeeded", "pending")
        )
        captured = amounts.from_stripe(received, currency)
        refunded_before = amounts.from_stripe(total, currency) - amounts.from_stripe(
            int(mine[0]["amount"]), currency
        )
        return self._from_refund(mine[0], captured, refunded_before, reference)

    # -- webhooks and fees ---------------------------------------------------

    @hookimpl
    def paygate_parse_webhook(self, request: WebhookRequest) -> WebhookEvent:
        if not self._settings.webhook_secrets:
            from paygate.errors import ConfigurationError

            raise ConfigurationError(
                "stripe: no webhook_secret configured; set stripe.webhook_secret "
                "(a list of secrets while rolling them)"
            )
        from paygate_stripe import webhooks

        return webhooks.parse(
            request.headers,
            request.body,
            self._settings.webhook_secrets,
            received_at=request.received_at,
            tolerance=self._settings.webhook_tolerance,
            provider=PROVIDER,
        )

    def fee_table(self) -> dict[str, Any]:
        if self._fee_table is None:
            from paygate_stripe.fees import load_table

            self._fee_table = load_table(self._settings.fees)
        return self._fee_table

    @hookimpl
    def paygate_calculate_fees(self, context: FeeContext) -> list[FeeLine]:
        from paygate_stripe.fees import calculate

        return calculate(context, self.fee_table())


__all__ = ["StripeProvider"]

"""The ledger as a plugin: it wraps every mutating operation hook.

Before the provider is called the operation is written ``pending`` (with its
idempotency key, provider and request digest, and any money it reserves);
after, it is completed ``succeeded``, ``failed`` or ``unknown`` together with
its effect on the transaction, in one database transaction.

Everything it stores is scrubbed first (:mod:`paygate.redaction`): the
payment method is never part of a stored request, provider transcripts and
error messages go through :func:`~paygate.redaction.scrub_data`, and the
transaction's free text (description, metadata values, refund reasons)
through :func:`~paygate.redaction.scrub_text`. Identifiers and
``provider_data`` are stored byte-identical: they are read back. The CVC is
never stored.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Generator, Mapping
from typing import Any

from paygate._markers import hookimpl
from paygate.config import Config
from paygate.errors import PaygateError, PluginError, ProviderUnavailable, UnsupportedFeature
from paygate.ledger import LedgerStore, OperationRecord, OperationState, Reservation, open_ledger
from paygate.ledger.base import StaleFinish
from paygate.ledger.fingerprint import fingerprint
from paygate.ledger.records import GENERATED_KEY_DIGEST
from paygate.ledger.records import OperationRecord as _Record
from paygate.ledger.webhooks import apply_event
from paygate.models import (
    Card,
    ErrorInfo,
    Transaction,
    TransactionStatus,
    WebhookEvent,
    field_names,
    utcnow,
)
from paygate.money import Money
from paygate.operations import (
    CaptureRequest,
    OperationRequest,
    ProviderResult,
    RefundRequest,
    WebhookRequest,
)
from paygate.redaction import (
    REDACTED,
    debug_enabled,
    get_logger,
    install_record_factory,
    is_card_secret_key,
    protect_sdk_loggers,
    scrub_data,
    scrub_strings,
    scrub_text,
)
from paygate.transitions import apply_outcome, method_display

log = get_logger("paygate.ledger")


def error_record(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, PaygateError):
        data = exc.to_dict()
        if isinstance(exc, ProviderUnavailable):
            data["request_sent"] = exc.request_sent
            data["status_code"] = exc.status_code
        if isinstance(exc, PluginError):
            data["plugin"] = exc.plugin
        return dict(scrub_data(data))
    return {"type": type(exc).__name__, "code": "plugin_error", "message": "unexpected error"}


_SUMMARY_FIELDS = (
    "amount",
    "capture",
    "off_session",
    "description",
    "return_url",
    "final",
    "reason",
    "params",
    "of_operation",
)


# payment_method is the core's own display ("Visa •••• 4242"): not scrubbed.
_FREE_TEXT = ("metadata", "description", "reason", "params", "return_url")


def request_summary(request: OperationRequest) -> dict[str, Any]:
    """What reconcile needs to rebuild the request: never the payment method
    itself (so never a PAN or CVC), only how it is displayed."""
    # Built field by field: a model_dump per operation costs more than the rest.
    fields = field_names(type(request))
    data: dict[str, Any] = {
        "operation": request.operation.value,
        "provider": request.provider,
        "transaction_id": request.transaction_id,
        "idempotency_key": request.idempotency_key,
        "provider_reference": request.provider_reference,
        "metadata": dict(request.metadata),
    }
    for name in _SUMMARY_FIELDS:
        if name in fields:
            value = getattr(request, name)
            data[name] = value.to_dict() if isinstance(value, Money) else value
    if "method" in fields and getattr(request, "method", None) is not None:
        data["payment_method"] = method_display(request.method)  # type: ignore[attr-defined]
    customer = getattr(request, "customer", None) if "customer" in fields else None
    if customer is not None:
        data["customer_id"] = customer.id
    # Only the free text a host or payer typed can hold a secret; ids,
    # amounts and flags are the core's own.
    for name in _FREE_TEXT:
        if data.get(name):
            data[name] = scrub_data(data[name])
    return data


def clean_transaction(
    tx: Transaction | None, card_numbers: tuple[str, ...] = ()
) -> Transaction | None:
    """The transaction with secrets scrubbed from its free text.

    A careless host may put a card number in a description or a refund
    reason, a provider may echo one in an error message: neither reaches the
    ledger. Identifiers and ``provider_data`` (what the provider reads back
    on the next operation) are kept byte-identical: a gateway id may hold a
    Luhn-valid digit run (PayPal's ``0VF52814937998046``), and a rewritten id
    sends the next capture to an object that does not exist.
    """
    if tx is None:
        return None
    updates: dict[str, Any] = {}
    if tx.description:
        clean = scrub_text(tx.description)
        if clean != tx.description:
            updates["description"] = clean
    clean_map = clean_metadata(tx.metadata)
    if clean_map != tx.metadata:
        updates["metadata"] = clean_map
    if any(r.reason and scrub_text(r.reason) != r.reason for r in tx.refunds):
        updates["refunds"] = tuple(
            r.model_copy(update={"reason": scrub_text(r.reason)}) if r.reason else r
            for r in tx.refunds
        )
    if tx.error is not None and tx.error.message:
        clean = scrub_text(tx.error.message)
        if clean != tx.error.message:
            updates["error"] = tx.error.model_copy(update={"message": clean})
    if card_numbers and any(_holds(v, card_numbers) for v in tx.provider_data.values()):
        updates["provider_data"] = _without(tx.provider_data, card_numbers)
    return tx.model_copy(update=updates) if updates else tx


def _holds(value: str, card_numbers: tuple[str, ...]) -> bool:
    return any(pan in value for pan in card_numbers)


def _without(value: Any, card_numbers: tuple[str, ...]) -> Any:
    """``value`` with the exact card numbers of this request cut out.

    Identifiers are never scrubbed by shape (a gateway id may look like a
    card number), but the very number the host paid with is a secret
    wherever a provider puts it: an id holding it by chance is not a risk
    worth a leak.
    """
    if isinstance(value, str):
        for pan in card_numbers:
            value = value.replace(pan, REDACTED)
        return value
    if isinstance(value, dict):
        return {k: _without(v, card_numbers) for k, v in value.items()}
    if isinstance(value, list):
        return [_without(v, card_numbers) for v in value]
    return value


def card_numbers_of(request: OperationRequest) -> tuple[str, ...]:
    """The PAN this request pays with, if a card (13 digits or more)."""
    method = getattr(request, "method", None)
    if isinstance(method, Card):
        digits = method.digits
        if len(digits) >= 13:
            return (digits,)
    return ()


def clean_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """A host's metadata with every value scrubbed, and the whole value of a
    key that names a card secret (``cvc``, ``card[cvc]``, ``card_number``...)."""
    return {k: REDACTED if is_card_secret_key(k) else scrub_strings(v) for k, v in metadata.items()}


def cleaned(
    apply: Callable[[Transaction | None], Transaction | None],
    card_numbers: tuple[str, ...] = (),
) -> Callable[[Transaction | None], Transaction | None]:
    return lambda cur: clean_transaction(apply(cur), card_numbers)


def error_dict(error: ErrorInfo | None) -> dict[str, Any] | None:
    return dict(scrub_data(error.model_dump())) if error is not None else None


def result_record(result: ProviderResult, card_numbers: tuple[str, ...] = ()) -> dict[str, Any]:
    """The provider's answer as the ledger keeps it: the fields that differ
    from their defaults (``ProviderResult.model_validate`` restores the rest).

    Only free text is scrubbed, automatically, whatever the provider put in
    it: the transcript (``raw``) and the error message. References,
    ``provider_data``, the stored method and the next action are what the
    core and the provider read back: they are stored byte-identical.
    """
    data: dict[str, Any] = result.model_dump(mode="json", exclude_defaults=True)
    if card_numbers:
        data = _without(data, card_numbers)
    if "raw" in data:
        data["raw"] = scrub_data(data["raw"])
    error = data.get("error")
    if isinstance(error, dict) and error.get("message"):
        data["error"] = {**error, "message": scrub_text(error["message"])}
    return data


class LedgerPlugin:
    """Wraps operation hooks (``tryfirst``: outermost) to keep the books."""

    def __init__(self) -> None:
        self.store: LedgerStore | None = None
        self._url: str | None = None
        self._results: dict[str, Transaction] = {}
        self._results_lock = threading.Lock()
        #: Keys the facade generated for the call now running (set by
        #: ``Payments``; adding and discarding a str is atomic).
        self.fresh_keys: set[str] = set()

    @hookimpl
    def paygate_configure(self, config: Config) -> None:
        protect_sdk_loggers()
        if debug_enabled():
            # The trace and SDKs log at DEBUG: scrub every record of the process.
            install_record_factory()
        if self.store is None:
            url = config.database_url
            self.store = open_ledger(
                url, pool_size=config.database_pool_size, durability=config.durability
            )
            self._url = url

    def use_store(self, store: LedgerStore) -> None:
        """Replace the store (a host's own implementation)."""
        self.store = store

    def take(self, transaction_id: str) -> Transaction | None:
        """The transaction the last operation on it produced (handed to the facade once)."""
        with self._results_lock:
            tx = self._results.pop(transaction_id, None)
        if tx is None and self.store is not None:
            tx = self.store.get_transaction(transaction_id)
        return tx

    # -- the wrapper ---------------------------------------------------------
    def _record(self, request: OperationRequest) -> Generator[None, Any, Any]:
        store = self.store
        assert store is not None, "ledger used before paygate_configure"
        reservation = None
        if isinstance(request, CaptureRequest):
            reservation = Reservation(request.transaction_id, "capture", request.amount)
        elif isinstance(request, RefundRequest):
            reservation = Reservation(request.transaction_id, "refund", request.amount)
        now = utcnow()
        pans = card_numbers_of(request)
        was_unknown = store.begin(
            OperationRecord(
                idempotency_key=request.idempotency_key,
                operation=request.operation.value,
                provider=request.provider,
                transaction_id=request.transaction_id,
                request_digest=(
                    GENERATED_KEY_DIGEST
                    if request.idempotency_key in self.fresh_keys
                    else fingerprint(request)
                ),
                amount=getattr(request, "amount", None),
                request=request_summary(request),
                created_at=now,
            ),
            reservation,
        )
        try:
            result = yield
        except UnsupportedFeature as exc:
            # The provider cannot do this (a hook that raised
            # NotImplementedError): nothing was sent, nothing to reconcile.
            self._not_sent(request, was_unknown, str(exc.message))
            raise
        except BaseException as exc:
            sent = not isinstance(exc, PaygateError) or isinstance(exc, PluginError)
            if isinstance(exc, ProviderUnavailable):
                sent = exc.request_sent
            # An earlier attempt with this key may have reached the provider:
            # this one failing before it was sent proves nothing.
            state = OperationState.UNKNOWN if sent or was_unknown else OperationState.FAILED
            err = exc if isinstance(exc, PaygateError) else None
            # One instant for the operation's and the transaction's update.
            ended = utcnow()
            try:
                tx = store.finish(
                    request.idempotency_key,
                    state,
                    apply=cleaned(
                        lambda cur: apply_outcome(
                            cur,
                            request,
                            None,
                            err,
                            unknown=state is OperationState.UNKNOWN,
                            now=ended,
                        ),
                        pans,
                    ),
                    transaction_id=request.transaction_id,
                    error=error_record(exc),
                    now=ended,
                    expected=(OperationState.PENDING,),
                )
            except StaleFinish:
                self._settled_elsewhere(request)
                tx = store.get_transaction(request.transaction_id)
            except Exception as write_error:
                tx = self._finish_unknown(request, None, write_error)
                state = OperationState.UNKNOWN
            if state is OperationState.UNKNOWN:
                log.warning(
                    "operation %s of %s has an unknown outcome (%s); run reconcile",
                    request.operation.value,
                    request.transaction_id,
                    type(exc).__name__,
                )
            self._keep(request.transaction_id, tx)
            raise
        if result is None:
            # The provider does not implement this hook: nothing was sent.
            self._not_sent(request, was_unknown, None)
            return None
        if result.status is TransactionStatus.FAILED:
            state = OperationState.FAILED
        elif result.status is TransactionStatus.UNKNOWN:
            # The provider has not settled it yet (Stripe's ``processing``):
            # nothing moves until reconcile asks again.
            state = OperationState.UNKNOWN
        else:
            state = OperationState.SUCCEEDED
        ended = utcnow()
        try:
            tx = store.finish(
                request.idempotency_key,
                state,
                apply=lambda cur: clean_transaction(
                    apply_outcome(cur, request, result, None, unknown=False, now=ended), pans
                ),
                transaction_id=request.transaction_id,
                provider_reference=result.provider_reference,
                operation_reference=result.operation_reference,
                error=error_dict(result.error),
                result=result_record(result, pans),
                now=ended,
                expected=(OperationState.PENDING,),
            )
        except StaleFinish:
            self._settled_elsewhere(request)
            tx = store.get_transaction(request.transaction_id)
        except Exception as write_error:
            # The provider answered, the outcome could not be written (a
            # value no column takes, a database error): recorded ``unknown``
            # with the provider's reference instead, so that reconcile can
            # settle it and a retry with the key is not refused forever.
            tx = self._finish_unknown(request, result, write_error)
            self._keep(request.transaction_id, tx)
            raise ProviderUnavailable(
                f"the provider answered the {request.operation.value} of "
                f"{request.transaction_id}, but the ledger could not record the answer "
                f"({type(write_error).__name__}); it is recorded as unknown: run reconcile",
                request_sent=True,
                retry_safe=True,
                transaction=tx,
            ) from None
        if state is OperationState.UNKNOWN:
            log.warning(
                "operation %s of %s is not settled at the provider yet; run reconcile",
                request.operation.value,
                request.transaction_id,
            )
        self._keep(request.transaction_id, tx)
        return result

    def _not_sent(self, request: OperationRequest, was_unknown: bool, message: str | None) -> None:
        """Record an operation the provider could not even start: failed,
        ``request_sent: false`` (retryable), nothing moved; still ``unknown``
        when an earlier attempt with its key may have reached the provider."""
        assert self.store is not None
        error: dict[str, object] = {"code": "unsupported_feature", "request_sent": False}
        if message:
            error["message"] = message
        with contextlib.suppress(StaleFinish):
            self.store.finish(
                request.idempotency_key,
                OperationState.UNKNOWN if was_unknown else OperationState.FAILED,
                apply=lambda cur: cur,
                transaction_id=request.transaction_id,
                error=error,
                now=utcnow(),
                expected=(OperationState.PENDING,),
            )

    def _finish_unknown(
        self, request: OperationRequest, result: ProviderResult | None, write_error: Exception
    ) -> Transaction | None:
        """The smallest record that reconcile can settle, after a failed write.

        No transaction update and no transcript (one of them is what failed):
        the operation becomes ``unknown`` with the provider's reference when
        that can be stored, else without it. Reconcile asks the provider by
        reference, idempotency key or transaction id.
        """
        store = self.store
        assert store is not None
        log.error(
            "operation %s of %s: the ledger could not record the provider's answer (%s); "
            "recording it as unknown",
            request.operation.value,
            request.transaction_id,
            type(write_error).__name__,
        )
        reference = result.provider_reference if result is not None else None
        references = (reference, None) if reference else (None,)
        error = {
            "code": "processing_error",
            "message": "the provider's answer could not be recorded; run reconcile",
            "request_sent": True,
        }
        for ref in references:
            try:
                return store.finish(
                    request.idempotency_key,
                    OperationState.UNKNOWN,
                    apply=lambda cur: cur,
                    transaction_id=request.transaction_id,
                    provider_reference=ref,
                    error=error,
                    now=utcnow(),
                    expected=(OperationState.PENDING,),
                )
            except StaleFinish:
                self._settled_elsewhere(request)
                return store.get_transaction(request.transaction_id)
            except Exception as again:  # try the smaller record
                write_error = again
        # Even the smallest record failed (the database is down): the
        # operation stays pending, and reconcile takes it once it is older
        # than pending_older_than.
        log.error(
            "operation %s of %s stays pending: %s",
            request.operation.value,
            request.transaction_id,
            type(write_error).__name__,
        )
        return None

    @staticmethod
    def _settled_elsewhere(request: OperationRequest) -> None:
        # reconcile took this operation for dead (pending_older_than too small)
        # and settled it from the provider's answer; that record stands.
        log.warning(
            "operation %s of %s was settled by reconcile while still running; "
            "raise pending_older_than above your longest provider call",
            request.operation.value,
            request.transaction_id,
        )

    def _keep(self, transaction_id: str, tx: Transaction | None) -> None:
        if tx is not None:
            with self._results_lock:
                self._results[transaction_id] = tx

    @hookimpl(wrapper=True, tryfirst=True)
    def paygate_authorize(self, request: Any) -> Generator[None, Any, Any]:
        return (yield from self._record(request))

    @hookimpl(wrapper=True, tryfirst=True)
    def paygate_capture(self, request: Any) -> Generator[None, Any, Any]:
        return (yield from self._record(request))

    @hookimpl(wrapper=True, tryfirst=True)
    def paygate_void(self, request: Any) -> Generator[None, Any, Any]:
        return (yield from self._record(request))

    @hookimpl(wrapper=True, tryfirst=True)
    def paygate_refund(self, request: Any) -> Generator[None, Any, Any]:
        return (yield from self._record(request))

    @hookimpl(wrapper=True, tryfirst=True)
    def paygate_confirm(self, request: Any) -> Generator[None, Any, Any]:
        return (yield from self._record(request))

    @hookimpl(wrapper=True, tryfirst=True)
    def paygate_charge_recurring(self, request: Any) -> Generator[None, Any, Any]:
        return (yield from self._record(request))

    @hookimpl(wrapper=True, tryfirst=True)
    def paygate_store_payment_method(self, request: Any) -> Generator[None, Any, Any]:
        return (yield from self._record(request))

    @hookimpl(wrapper=True, tryfirst=True)
    def paygate_parse_webhook(self, request: WebhookRequest) -> Generator[None, Any, Any]:
        # A replayed or duplicated delivery is acknowledged, flagged, applied once;
        # recording and applying happen in one database transaction.
        event: WebhookEvent | None = yield
        if not isinstance(event, WebhookEvent) or self.store is None:
            return event
        outcome: list[str] = []

        def apply(tx: Transaction, holding: list[_Record]) -> tuple[Transaction | None, str]:
            new, what = apply_event(event, tx, holding, utcnow())
            outcome.append(what)
            return clean_transaction(new), what

        fresh = self.store.record_event(
            event.provider,
            event.id,
            event.type,
            transaction_id=event.transaction_id,
            provider_reference=event.provider_reference,
            apply=apply,
        )
        if not fresh:
            return event.model_copy(update={"duplicate": True})
        log.debug(
            "webhook %s %s on %s: %s",
            event.type,
            event.id,
            event.transaction_id or event.provider_reference,
            outcome[0] if outcome else "unknown_transaction",
        )
        return event

"""The ledger as a plugin: it wraps every mutating operation hook.

Before the provider is called the operation is written ``pending`` (with its
idempotency key, provider and request digest, and any money it reserves);
after, it is completed ``succeeded``, ``failed`` or ``unknown`` together with
its effect on the transaction, in one database transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from typing import Any

from paygate._markers import hookimpl
from paygate.config import Config
from paygate.errors import PaygateError, PluginError, ProviderUnavailable
from paygate.ledger import LedgerStore, OperationRecord, OperationState, Reservation, open_ledger
from paygate.ledger.fingerprint import fingerprint
from paygate.models import Transaction, TransactionStatus, WebhookEvent, utcnow
from paygate.operations import (
    CaptureRequest,
    OperationRequest,
    ProviderResult,
    RefundRequest,
    WebhookRequest,
)
from paygate.redaction import get_logger, scrub_data
from paygate.transitions import apply_outcome

log = get_logger("paygate.ledger")


def error_record(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, PaygateError):
        data = exc.to_dict()
        if isinstance(exc, ProviderUnavailable):
            data["request_sent"] = exc.request_sent
            data["status_code"] = exc.status_code
        if isinstance(exc, PluginError):
            data["plugin"] = exc.plugin
        return data
    return {"type": type(exc).__name__, "code": "plugin_error", "message": "unexpected error"}


def request_summary(request: OperationRequest) -> dict[str, Any]:
    """What reconcile needs to rebuild the request; never the payment method."""
    data: dict[str, Any] = request.model_dump(
        mode="json", exclude={"method", "customer", "config", "provider_data"}
    )
    return dict(scrub_data(data))


def result_record(result: ProviderResult) -> dict[str, Any]:
    # The transcript is scrubbed here, automatically, whatever the provider put in it.
    data: dict[str, Any] = scrub_data(result.model_dump(mode="json"))
    return data


class LedgerPlugin:
    """Wraps operation hooks (``tryfirst``: outermost) to keep the books."""

    def __init__(self) -> None:
        self.store: LedgerStore | None = None
        self._url: str | None = None
        self._results: dict[str, Transaction] = {}
        self._results_lock = threading.Lock()

    @hookimpl
    def paygate_configure(self, config: Config) -> None:
        if self.store is None:
            url = config.database_url
            self.store = open_ledger(url)
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
        store.begin(
            OperationRecord(
                idempotency_key=request.idempotency_key,
                operation=request.operation.value,
                provider=request.provider,
                transaction_id=request.transaction_id,
                request_digest=fingerprint(request),
                amount=getattr(request, "amount", None),
                request=request_summary(request),
                created_at=now,
            ),
            reservation,
        )
        try:
            result = yield
        except BaseException as exc:
            sent = not isinstance(exc, PaygateError) or isinstance(exc, PluginError)
            if isinstance(exc, ProviderUnavailable):
                sent = exc.request_sent
            state = OperationState.UNKNOWN if sent else OperationState.FAILED
            err = exc if isinstance(exc, PaygateError) else None
            tx = store.finish(
                request.idempotency_key,
                state,
                apply=lambda cur: apply_outcome(
                    cur, request, None, err, unknown=state is OperationState.UNKNOWN, now=utcnow()
                ),
                transaction_id=request.transaction_id,
                error=error_record(exc),
                now=utcnow(),
            )
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
            store.finish(
                request.idempotency_key,
                OperationState.FAILED,
                apply=lambda cur: cur,
                transaction_id=request.transaction_id,
                error={"code": "unsupported_feature", "request_sent": False},
                now=utcnow(),
            )
            return None
        state = (
            OperationState.FAILED
            if result.status is TransactionStatus.FAILED
            else OperationState.SUCCEEDED
        )
        tx = store.finish(
            request.idempotency_key,
            state,
            apply=lambda cur: apply_outcome(cur, request, result, None, unknown=False, now=utcnow()),
            transaction_id=request.transaction_id,
            provider_reference=result.provider_reference,
            operation_reference=result.operation_reference,
            error=result.error.model_dump() if result.error else None,
            result=result_record(result),
            now=utcnow(),
        )
        self._keep(request.transaction_id, tx)
        return result

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
        # A replayed or duplicated delivery is acknowledged, flagged, applied once.
        event: WebhookEvent | None = yield
        if event is None or self.store is None:
            return event
        if not self.store.record_event(event.provider, event.id, event.type):
            return event.model_copy(update={"duplicate": True})
        return event

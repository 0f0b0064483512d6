"""The pipeline every operation of the facade goes through.

One operation: refuse or replay a call whose idempotency key was used before
(:meth:`Engine.precheck`), run the chosen provider's hook inside every
wrapper (the ledger's first: :meth:`Engine.execute`), and turn a failed
outcome into the error the host gets (:meth:`Engine.raise_failure`). The
facade's concepts (payments, follow-ups, stored methods, reconcile) share one
:class:`Engine`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from paygate.errors import (
    DECLINE_CODES,
    CardDeclined,
    ErrorCode,
    InvalidState,
    NotFound,
    PaygateError,
    PluginError,
    ProviderUnavailable,
    UnsupportedFeature,
)
from paygate.ledger import LedgerStore, OperationRecord, OperationState
from paygate.ledger.base import conflict_for, retryable
from paygate.ledger.fingerprint import fingerprint
from paygate.models import ErrorInfo, ProviderInfo, Transaction, TransactionStatus
from paygate.operations import Operation, OperationRequest, ProviderResult

if TYPE_CHECKING:
    from paygate.builtins.ledger import LedgerPlugin
    from paygate.manager import PaygatePluginManager

S = TransactionStatus

_HOOK_OF: dict[Operation, str] = {
    Operation.AUTHORIZE: "paygate_authorize",
    Operation.PURCHASE: "paygate_authorize",
    Operation.VERIFY: "paygate_authorize",
    Operation.CAPTURE: "paygate_capture",
    Operation.VOID: "paygate_void",
    Operation.REFUND: "paygate_refund",
    Operation.CONFIRM: "paygate_confirm",
    Operation.CHARGE_RECURRING: "paygate_charge_recurring",
    Operation.STORE_PAYMENT_METHOD: "paygate_store_payment_method",
    Operation.FETCH_TRANSACTION: "paygate_fetch_transaction",
    Operation.PARSE_WEBHOOK: "paygate_parse_webhook",
}


class Engine:
    """The plugins, the ledger, and the one way an operation runs."""

    def __init__(self, plugin_manager: PaygatePluginManager, ledger_plugin: LedgerPlugin) -> None:
        self.plugin_manager = plugin_manager
        self.ledger_plugin = ledger_plugin

    @property
    def ledger(self) -> LedgerStore:
        store = self.ledger_plugin.store
        assert store is not None
        return store

    def call_plugins(self, hook_name: str, caller: Any = None, **kwargs: Any) -> Any:
        """Call a collecting or routing hook; a plugin's bug becomes ``PluginError``.

        Done here, not by the guard's wrappers, because these run on every
        payment and every quote: a ``try`` costs nothing until it catches.
        """
        pm = self.plugin_manager
        try:
            return (caller or getattr(pm.hook, hook_name))(**kwargs)
        except PaygateError:
            raise
        except Exception as exc:
            raise pm.plugin_error(hook_name, exc) from exc

    def require(self, info: ProviderInfo, capability: str, what: str) -> None:
        if not getattr(info.capabilities, capability):
            raise UnsupportedFeature(f"provider {info.name!r} does not support {what}")

    def earlier(self, key: str, generated: bool) -> OperationRecord | None:
        """The ledger's record of ``key``: read once per call.

        None without reading for a key the facade generated just now (96
        random bits cannot have been used before); the ledger's ``begin``
        still refuses a recorded key atomically.
        """
        return None if generated else self.ledger.find_operation(key)

    def precheck(
        self, request: OperationRequest, existing: OperationRecord | None
    ) -> OperationRecord | None:
        """Replay, refuse, or let run a call whose key was used before (``existing``).

        Returns the earlier record when this call must replay its outcome.
        """
        if existing is None:
            return None
        digest = fingerprint(request)
        if existing.request_digest != digest or existing.operation != request.operation.value:
            raise conflict_for(
                existing,
                OperationRecord(
                    idempotency_key=request.idempotency_key,
                    operation=request.operation.value,
                    provider=request.provider,
                    transaction_id=request.transaction_id,
                    request_digest=digest,
                ),
            )
        if existing.state is OperationState.PENDING:
            raise conflict_for(existing, existing)
        if retryable(existing):
            return None
        return existing

    def replay(self, record: OperationRecord) -> Transaction:
        tx = self.ledger.get_transaction(record.transaction_id)
        if record.state is OperationState.FAILED:
            self.raise_failure(record.error or {}, tx, record.operation)
        if tx is None:
            raise NotFound(f"the recorded transaction {record.transaction_id} is missing")
        return tx

    @staticmethod
    def raise_failure(error: Mapping[str, Any], tx: Transaction | None, operation: str) -> None:
        code = str(error.get("code") or ErrorCode.PROCESSING_ERROR.value)
        message = str(error.get("message") or f"the {operation} failed")
        try:
            std = ErrorCode(code)
        except ValueError:
            std = ErrorCode.PROCESSING_ERROR
        if std in DECLINE_CODES or operation in (
            "authorize",
            "purchase",
            "verify",
            "charge_recurring",
            "confirm",
        ):
            raise CardDeclined(
                message,
                code=std if std in DECLINE_CODES else ErrorCode.CARD_DECLINED,
                transaction=tx,
                decline_code=error.get("decline_code"),
            )
        if std is ErrorCode.INVALID_STATE:
            raise InvalidState(message)
        if std is ErrorCode.UNSUPPORTED_FEATURE:
            raise UnsupportedFeature(message)
        raise PaygateError(message, code=std)

    def execute(
        self, request: OperationRequest, *, fresh_key: bool = False
    ) -> tuple[ProviderResult | None, Transaction | None]:
        """Run the operation hook of ``request``'s provider.

        ``fresh_key``: the facade generated the idempotency key for this very
        call, so no other request can carry it and the ledger need not take
        the request's digest (it exists to tell a retry from a reused key).
        """
        hook_name = _HOOK_OF[request.operation]
        pm = self.plugin_manager
        if not pm.provider_implements(request.provider, hook_name):
            raise UnsupportedFeature(
                f"provider {request.provider!r} does not implement {hook_name}"
            )
        caller = pm.routed(hook_name, request.provider)
        ledger = self.ledger_plugin
        if fresh_key:
            ledger.fresh_keys.add(request.idempotency_key)
        try:
            result = caller(request=request)
        except PaygateError as exc:
            if isinstance(exc, ProviderUnavailable) and exc.transaction is None:
                exc.transaction = ledger.take(request.transaction_id)
            else:
                ledger.take(request.transaction_id)
            raise
        except Exception as exc:
            ledger.take(request.transaction_id)
            raise pm.plugin_error(hook_name, exc) from exc
        finally:
            if fresh_key:
                ledger.fresh_keys.discard(request.idempotency_key)
        if result is not None and not isinstance(result, ProviderResult):
            ledger.take(request.transaction_id)
            raise PluginError(
                f"provider {request.provider!r} returned {type(result).__name__} from "
                f"{hook_name}, expected ProviderResult",
                plugin=request.provider,
            )
        tx = ledger.take(request.transaction_id)
        if result is not None and result.status is S.UNKNOWN:
            # Recorded ``unknown`` by the ledger: nothing moved yet.
            raise ProviderUnavailable(
                f"provider {request.provider!r} has not settled this "
                f"{request.operation.value} yet; its outcome is unknown until reconcile "
                "(or a retry with the same idempotency key) learns it",
                request_sent=True,
                retry_safe=True,
                transaction=tx,
            )
        return result, tx

    def finish(
        self, request: OperationRequest, existing: OperationRecord | None, *, fresh_key: bool
    ) -> Transaction:
        record = self.precheck(request, existing)
        if record is not None:
            return self.replay(record)
        result, tx = self.execute(request, fresh_key=fresh_key)
        if result is None:
            raise UnsupportedFeature(
                f"provider {request.provider!r} returned nothing for {request.operation.value}"
            )
        if tx is None:
            raise NotFound(f"no transaction {request.transaction_id}")
        if result.status is S.FAILED:
            error = result.error or ErrorInfo(code="processing_error", message="failed")
            self.raise_failure(error.model_dump(), tx, request.operation.value)
        return tx


__all__ = ["Engine"]

"""Webhooks and reconcile: what the provider says happened, applied to the ledger.

:meth:`WebhooksAndReconcile.parse_webhook` verifies a delivery and lets the
ledger apply it (once, forward only, to the transaction of its own object);
:meth:`WebhooksAndReconcile.reconcile` asks the provider about every
operation whose outcome is unknown and records its answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from paygate.builtins.ledger import clean_transaction, error_dict, result_record
from paygate.errors import ErrorCode, InvalidRequest, InvalidState, PaygateError, PluginError
from paygate.facade.engine import Engine
from paygate.ledger import OperationRecord, OperationState
from paygate.ledger.base import StaleFinish
from paygate.models import Transaction, TransactionStatus, WebhookEvent, construct, utcnow
from paygate.money import Money
from paygate.operations import (
    CaptureRequest,
    ConfirmRequest,
    FetchRequest,
    Operation,
    OperationRequest,
    PaymentRequest,
    ProviderResult,
    RefundRequest,
    StoreRequest,
    VoidRequest,
    WebhookRequest,
)
from paygate.redaction import get_logger
from paygate.transitions import apply_outcome

log = get_logger("paygate.payments")
S = TransactionStatus


@dataclass
class ReconcileReport:
    """What :meth:`Payments.reconcile` found and settled."""

    checked: int = 0
    settled: int = 0
    succeeded: int = 0
    failed: int = 0
    still_unknown: int = 0
    details: list[dict[str, str]] = field(default_factory=list)


class WebhooksAndReconcile:
    """Events and answers from providers, applied to the ledger."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def parse_webhook(
        self, provider: str, headers: Mapping[str, str], body: bytes | str
    ) -> WebhookEvent:
        """Verify a webhook delivery and return it as a neutral event.

        A delivery seen before comes back with ``duplicate=True``: acknowledge
        it, do not apply it again. A new event is applied to the stored
        transaction it names only when it moves it forward and needs no money
        paygate did not move itself (see docs/reliability.md): a late
        ``payment.authorized`` after the capture changes nothing.

        :raises SignatureVerificationError: bad, missing or stale signature.
        """
        if not isinstance(provider, str):
            raise InvalidRequest("provider must be a provider name", param="provider")
        info = self.engine.plugin_manager.provider_info(provider)
        self.engine.require(info, "webhooks", "webhooks")
        if not isinstance(headers, Mapping):
            raise InvalidRequest("headers must be a mapping", param="headers")
        # A lone surrogate cannot be UTF-8: replaced, the signature then fails (typed).
        raw = body.encode("utf-8", "replace") if isinstance(body, str) else body
        if not isinstance(raw, bytes):
            raise InvalidRequest("body must be the raw bytes received", param="body")
        request = construct(
            WebhookRequest,
            provider=info.name,
            headers={str(k): str(v) for k, v in headers.items()},
            body=raw,
            received_at=datetime.now(UTC),
            config={},
        )
        caller = self.engine.plugin_manager.routed("paygate_parse_webhook", info.name)
        event = self.engine.call_plugins("paygate_parse_webhook", caller, request=request)
        if not isinstance(event, WebhookEvent):
            raise PluginError(f"provider {info.name!r} returned no WebhookEvent", plugin=info.name)
        return event

    # -- reconciliation ----------------------------------------------------------
    def reconcile(self, *, pending_older_than: float = 300.0) -> ReconcileReport:
        """Settle every operation whose outcome is unknown by asking its provider.

        Operations still ``pending`` after ``pending_older_than`` seconds (their
        process died mid-call) are treated as unknown too.
        """
        if (
            isinstance(pending_older_than, bool)
            or not isinstance(pending_older_than, (int, float))
            or not 0 <= pending_older_than < 10**9
        ):
            raise InvalidRequest(
                "pending_older_than must be a number of seconds >= 0",
                param="pending_older_than",
            )
        report = ReconcileReport()
        cutoff = utcnow() - timedelta(seconds=pending_older_than)
        records = self.engine.ledger.operations(state=OperationState.UNKNOWN) + [
            r
            for r in self.engine.ledger.operations(state=OperationState.PENDING)
            if r.created_at is not None and r.created_at <= cutoff
        ]
        for record in records:
            report.checked += 1
            try:
                outcome = self._settle(record)
            except StaleFinish:
                # A retry with the same key (or another reconcile) got there first.
                outcome = "settled_elsewhere"
            except PaygateError as exc:
                outcome = "unknown"
                log.warning("reconcile: %s still unknown: %s", record.transaction_id, exc.message)
            except Exception as exc:  # a provider plugin's bug must not stop the sweep
                outcome = "unknown"
                log.warning(
                    "reconcile: %s still unknown: %s in paygate_fetch_transaction",
                    record.transaction_id,
                    type(exc).__name__,
                )
            report.details.append(
                {
                    "transaction_id": record.transaction_id,
                    "operation": record.operation,
                    "idempotency_key": record.idempotency_key,
                    "outcome": outcome,
                }
            )
            if outcome == "unknown":
                report.still_unknown += 1
            elif outcome == "settled_elsewhere":
                pass
            else:
                report.settled += 1
                if outcome == "succeeded":
                    report.succeeded += 1
                else:
                    report.failed += 1
        return report

    def _settle(self, record: OperationRecord) -> str:
        op = Operation(record.operation)
        if op in (Operation.FETCH_TRANSACTION, Operation.PARSE_WEBHOOK):
            return "unknown"
        pm = self.engine.plugin_manager
        if record.provider not in pm.providers() or not pm.provider_implements(
            record.provider, "paygate_fetch_transaction"
        ):
            return "unknown"
        tx = self.engine.ledger.get_transaction(record.transaction_id)
        request = _rebuild_request(record, tx)
        fetch = construct(
            FetchRequest,
            operation=Operation.FETCH_TRANSACTION,
            provider=record.provider,
            transaction_id=record.transaction_id,
            idempotency_key=record.idempotency_key,
            provider_reference=record.provider_reference or (tx.provider_reference if tx else None),
            provider_data=dict(tx.provider_data) if tx else {},
            metadata={},
            config={},
            of_operation=op,
            amount=record.amount,
        )
        result = pm.routed("paygate_fetch_transaction", record.provider)(request=fetch)
        if result is not None and not isinstance(result, ProviderResult):
            raise PluginError(
                f"provider {record.provider!r} returned {type(result).__name__} from "
                "paygate_fetch_transaction",
                plugin=record.provider,
            )
        now = utcnow()
        recorded_method = record.request.get("payment_method")

        def settled(cur: Transaction | None, new: Transaction | None) -> Transaction | None:
            # A payment whose process died before its first write is created
            # here, from the request summary (the method as displayed, never more).
            if cur is None and new is not None:
                new = new.model_copy(update={"payment_method": recorded_method})
            return clean_transaction(new)

        if result is None:
            # The provider has no trace of it: it never happened.
            self.engine.ledger.finish(
                record.idempotency_key,
                OperationState.FAILED,
                apply=lambda cur: settled(
                    cur,
                    apply_outcome(
                        cur,
                        request,
                        None,
                        PaygateError(
                            "the provider never received this operation",
                            code=ErrorCode.PROCESSING_ERROR,
                        ),
                        unknown=False,
                        now=now,
                    ),
                ),
                transaction_id=record.transaction_id,
                error={
                    "code": "processing_error",
                    "message": "never reached the provider",
                    "request_sent": False,
                },
                now=now,
                expected=(record.state,),
            )
            return "failed"
        if result.status is S.UNKNOWN:
            # Still not settled at the provider: ask again next time.
            return "unknown"
        state = OperationState.FAILED if result.status is S.FAILED else OperationState.SUCCEEDED
        self.engine.ledger.finish(
            record.idempotency_key,
            state,
            apply=lambda cur: settled(
                cur, apply_outcome(cur, request, result, None, unknown=False, now=now)
            ),
            transaction_id=record.transaction_id,
            provider_reference=result.provider_reference,
            operation_reference=result.operation_reference,
            error=error_dict(result.error),
            result=result_record(result),
            now=now,
            expected=(record.state,),
        )
        return "succeeded" if state is OperationState.SUCCEEDED else "failed"


@dataclass(frozen=True)
class _RecordedMethod:
    """Stands for the payment method of a rebuilt request: the ledger keeps
    only how it was displayed, never the card itself."""

    text: str | None
    kind: str = "card"

    def display(self) -> str:
        return self.text or "unknown"


@dataclass(frozen=True)
class _RecordedCustomer:
    id: str


def _rebuild_request(record: OperationRecord, tx: Transaction | None) -> OperationRequest:
    """The request an operation was made with, from what the ledger kept."""
    data = record.request
    op = Operation(record.operation)
    common: dict[str, Any] = {
        "operation": op,
        "provider": record.provider,
        "transaction_id": record.transaction_id,
        "idempotency_key": record.idempotency_key,
        "provider_reference": record.provider_reference,
        "provider_data": {},
        "metadata": dict(data.get("metadata") or {}),
        "config": {},
    }
    amount: Any = record.amount
    if amount is None and isinstance(data.get("amount"), dict):
        amount = Money.from_dict(data["amount"])
    if op in (Operation.CAPTURE, Operation.REFUND) and (amount is None or tx is None):
        raise InvalidState(f"the ledger lacks what {op.value} {record.idempotency_key} needs")
    if op is Operation.CAPTURE:
        assert amount is not None and tx is not None
        return construct(
            CaptureRequest,
            **common,
            amount=amount,
            authorized=tx.amount,
            captured=tx.captured,
            final=bool(data.get("final", True)),
        )
    if op is Operation.REFUND:
        assert amount is not None and tx is not None
        return construct(
            RefundRequest,
            **common,
            amount=amount,
            captured=tx.captured,
            refunded=tx.refunded,
            reason=data.get("reason"),
        )
    if op is Operation.VOID:
        return construct(VoidRequest, **common, amount=amount)
    if op is Operation.CONFIRM:
        return construct(
            ConfirmRequest, **common, amount=amount, capture=bool(data.get("capture")), params={}
        )
    customer_id = data.get("customer_id")
    # Only what apply_outcome reads of them (display, id) is stood in for.
    customer: Any = _RecordedCustomer(str(customer_id)) if customer_id else None
    method: Any = _RecordedMethod(data.get("payment_method"))
    if op is Operation.STORE_PAYMENT_METHOD:
        return construct(StoreRequest, **common, method=method, customer=customer)
    return construct(
        PaymentRequest,
        **common,
        amount=amount,
        method=method,
        customer=customer,
        capture=bool(data.get("capture")),
        off_session=bool(data.get("off_session")),
        description=data.get("description"),
        return_url=None,
    )


__all__ = ["ReconcileReport", "WebhooksAndReconcile"]

"""The ledger's rows as statement parameters, shared by every SQL write path."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from paygate.ledger.records import OperationRecord, OperationState
from paygate.ledger.schema import operations, transactions
from paygate.models import Transaction

#: What a pending record knows; its outcome columns stay NULL until finished.
PENDING_COLUMNS = tuple(
    c.name for c in operations.columns if c.name not in ("operation_reference", "error", "result")
)
TX_COLUMNS = tuple(c.name for c in transactions.columns)
#: Columns an outcome rewrites on a transaction that already exists.
TX_UPDATED_COLUMNS = tuple(c for c in TX_COLUMNS if c not in ("id", "created_at"))


def pending_row(rec: OperationRecord, now: datetime) -> dict[str, Any]:
    """The row :meth:`LedgerStore.begin` inserts (keys are :data:`PENDING_COLUMNS`)."""
    return {
        "idempotency_key": rec.idempotency_key,
        "operation": rec.operation,
        "provider": rec.provider,
        "transaction_id": rec.transaction_id,
        "request_digest": rec.request_digest,
        "state": rec.state.value,
        "currency": rec.amount.currency if rec.amount else None,
        "amount_minor": rec.amount.minor_units if rec.amount else None,
        "reservation_kind": rec.reservation_kind,
        "provider_reference": rec.provider_reference,
        "request": json.dumps(rec.request, default=str),
        "created_at": now,
        "updated_at": now,
    }


def finish_params(
    idempotency_key: str,
    state: OperationState,
    *,
    provider_reference: str | None,
    operation_reference: str | None,
    error: dict[str, object] | None,
    result: dict[str, object] | None,
    now: datetime,
    expected: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """The ``p_``-prefixed parameters of the statement that settles an operation.

    ``p_provider_reference`` is present only when there is one: an outcome
    without it keeps the reference recorded earlier. ``expected`` (the states
    of the compare-and-set) become ``p_expected0``, ``p_expected1``...
    """
    params: dict[str, Any] = {
        "p_key": idempotency_key,
        "p_state": state.value,
        "p_operation_reference": operation_reference,
        "p_error": json.dumps(error) if error else None,
        "p_result": json.dumps(result or {}, default=str),
        "p_updated_at": now,
    }
    if provider_reference:
        params["p_provider_reference"] = provider_reference
    for i, expected_state in enumerate(expected or ()):
        params[f"p_expected{i}"] = expected_state
    return params


def tx_row(tx: Transaction, now: datetime) -> dict[str, Any]:
    """The transaction's row (keys are :data:`TX_COLUMNS`)."""
    return {
        "id": tx.id,
        "provider": tx.provider,
        "status": tx.status.value,
        "currency": tx.currency,
        "amount_minor": tx.amount.minor_units,
        "captured_minor": tx.captured.minor_units,
        "refunded_minor": tx.refunded.minor_units,
        "provider_reference": tx.provider_reference,
        "customer_id": tx.customer_id,
        "data": tx.model_dump_json(),
        "created_at": tx.created_at,
        "updated_at": now,
    }


__all__ = [
    "PENDING_COLUMNS",
    "TX_COLUMNS",
    "TX_UPDATED_COLUMNS",
    "finish_params",
    "pending_row",
    "tx_row",
]

"""An in-process ledger: for tests, demos and benchmarks. Nothing survives the process."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from paygate.ledger.base import (
    HOLDING_STATES,
    ApplyFn,
    EventFn,
    LedgerStore,
    StaleFinish,
    check_reservation,
    takeover,
)
from paygate.ledger.records import OperationRecord, OperationState, Reservation
from paygate.models import Transaction


class MemoryLedger(LedgerStore):
    """Dictionaries behind one lock: the same semantics as the SQL ledger."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ops: dict[str, OperationRecord] = {}
        self._ops_by_tx: dict[str, list[str]] = {}
        self._txs: dict[str, Transaction] = {}
        self._events: dict[tuple[str, str], dict[str, Any]] = {}

    def find_operation(self, idempotency_key: str) -> OperationRecord | None:
        op = self._ops.get(idempotency_key)
        return replace(op) if op is not None else None

    def begin(self, record: OperationRecord, reservation: Reservation | None = None) -> bool:
        with self._lock:
            existing = self._ops.get(record.idempotency_key)
            held = False
            if existing is not None:
                held = takeover(existing, record)
            if reservation is not None and held:
                record.reservation_kind = reservation.kind
                record.amount = reservation.amount
            elif reservation is not None:
                holding = [
                    self._ops[k]
                    for k in self._ops_by_tx.get(reservation.transaction_id, ())
                    if self._ops[k].state in HOLDING_STATES
                ]
                check_reservation(self._txs.get(reservation.transaction_id), reservation, holding)
                record.reservation_kind = reservation.kind
                record.amount = reservation.amount
            if existing is not None:
                record.created_at = existing.created_at
            else:
                self._ops_by_tx.setdefault(record.transaction_id, []).append(record.idempotency_key)
            # The caller made this record for us and keeps no reference to it.
            self._ops[record.idempotency_key] = record
            return held

    def finish(
        self,
        idempotency_key: str,
        state: OperationState,
        *,
        apply: ApplyFn,
        transaction_id: str,
        provider_reference: str | None = None,
        operation_reference: str | None = None,
        error: dict[str, object] | None = None,
        result: dict[str, object] | None = None,
        now: datetime,
        expected: tuple[OperationState, ...] | None = None,
    ) -> Transaction | None:
        with self._lock:
            op = self._ops[idempotency_key]
            if expected is not None and op.state not in expected:
                raise StaleFinish(idempotency_key)
            op.state = state
            op.provider_reference = provider_reference or op.provider_reference
            op.operation_reference = operation_reference
            op.error = error
            op.result = dict(result or {})
            op.updated_at = now
            tx = apply(self._txs.get(transaction_id))
            if tx is not None:
                self._txs[transaction_id] = tx
            return tx

    def get_transaction(self, transaction_id: str) -> Transaction | None:
        return self._txs.get(transaction_id)

    def find_by_reference(self, provider: str, provider_reference: str) -> Transaction | None:
        with self._lock:
            return next(
                (
                    tx
                    for tx in self._txs.values()
                    if tx.provider == provider and tx.provider_reference == provider_reference
                ),
                None,
            )

    def operations(
        self, *, state: OperationState | None = None, transaction_id: str | None = None
    ) -> list[OperationRecord]:
        with self._lock:
            keys = (
                self._ops_by_tx.get(transaction_id, [])
                if transaction_id is not None
                else list(self._ops)
            )
            return [
                replace(self._ops[k]) for k in keys if state is None or self._ops[k].state is state
            ]

    def record_event(
        self,
        provider: str,
        event_id: str,
        event_type: str,
        *,
        transaction_id: str | None = None,
        provider_reference: str | None = None,
        apply: EventFn | None = None,
    ) -> bool:
        with self._lock:
            if (provider, event_id) in self._events:
                return False
            row: dict[str, Any] = {
                "provider": provider,
                "event_id": event_id,
                "event_type": event_type,
                "received_at": datetime.now(UTC),
                "transaction_id": None,
                "outcome": None,
            }
            self._events[(provider, event_id)] = row
            if apply is None:
                return True
            tx = self._txs.get(transaction_id) if transaction_id else None
            if tx is not None and (
                tx.provider != provider or tx.provider_reference != provider_reference
            ):
                # Not this event's object: the provider's reference decides.
                tx = None
            if tx is None and provider_reference:
                tx = next(
                    (
                        t
                        for t in self._txs.values()
                        if t.provider == provider and t.provider_reference == provider_reference
                    ),
                    None,
                )
            row["outcome"] = "unknown_transaction"
            if tx is None:
                return True
            row["transaction_id"] = tx.id
            holding = [
                replace(self._ops[k])
                for k in self._ops_by_tx.get(tx.id, ())
                if self._ops[k].state in HOLDING_STATES
            ]
            new, row["outcome"] = apply(tx, holding)
            if new is not None:
                self._txs[tx.id] = new
            return True

    def webhook_events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(row) for row in self._events.values()]

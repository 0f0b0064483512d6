"""The ledger's storage interface. A host may pass its own implementation.

Implementations must make :meth:`LedgerStore.begin` atomic (insert-if-absent
of the idempotency key plus the money check of a reservation) and apply
:meth:`LedgerStore.finish`'s ``apply`` to the transaction *as stored*, under
the same lock, so concurrent workers never lose an update.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from paygate.errors import ErrorCode, IdempotencyConflict, InvalidRequest, OperationInProgress
from paygate.ledger.records import OperationRecord, OperationState, Reservation
from paygate.models import Transaction, TransactionStatus
from paygate.money import Money

ApplyFn = Callable[[Transaction | None], Transaction | None]
#: Applies a webhook event to the stored transaction, given the operations
#: still holding money on it: ``(new transaction or None, outcome)``.
EventFn = Callable[[Transaction, list[OperationRecord]], tuple[Transaction | None, str]]


class StaleFinish(Exception):
    """:meth:`LedgerStore.finish` found the operation no longer in an expected
    state (another worker or ``reconcile`` settled it first): nothing applied."""


#: States whose reservation still counts against the transaction's limits.
HOLDING_STATES = (OperationState.PENDING, OperationState.UNKNOWN)


class LedgerStore(ABC):
    """Durable record of every operation and every transaction."""

    @abstractmethod
    def find_operation(self, idempotency_key: str) -> OperationRecord | None:
        """The operation recorded under this key, if any."""

    @abstractmethod
    def begin(self, record: OperationRecord, reservation: Reservation | None = None) -> bool:
        """Record ``record`` as pending, atomically.

        Returns ``True`` when the call takes over an operation whose outcome
        was ``unknown``: an earlier attempt may have reached the provider, so
        this attempt failing before it is sent does not make it ``failed``.

        :raises OperationInProgress: the key is already recorded (a concurrent
            or earlier call); retrying with the same key returns its result.
        :raises IdempotencyConflict: the key was used for another request.
        :raises InvalidRequest: the reservation exceeds what is left
            (code ``invalid_amount``) or the transaction does not exist.
        """

    @abstractmethod
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
        """Complete an operation and apply its effect to its transaction.

        With ``expected``, the operation must still be in one of those states
        (compare-and-set), else :class:`StaleFinish` is raised and nothing
        changes: a settled outcome is never applied twice.
        """

    @abstractmethod
    def get_transaction(self, transaction_id: str) -> Transaction | None:
        """The stored transaction."""

    @abstractmethod
    def operations(
        self, *, state: OperationState | None = None, transaction_id: str | None = None
    ) -> list[OperationRecord]:
        """Operations, oldest first, filtered by state and/or transaction."""

    @abstractmethod
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
        """Remember a webhook event and apply it, atomically.

        The transaction is found by ``transaction_id`` or else by
        ``(provider, provider_reference)``; ``apply`` runs on it as stored,
        under its lock, in the same database transaction as the event's
        insertion. Returns ``False`` (and applies nothing) when the event was
        already recorded.
        """

    def find_by_reference(self, provider: str, provider_reference: str) -> Transaction | None:
        """The stored transaction of ``provider`` whose provider reference is
        ``provider_reference`` (how a webhook without our transaction id, a
        Stripe dispute, is matched). Optional: ``None`` when not kept."""
        return None

    def webhook_events(self) -> list[dict[str, Any]]:
        """Recorded webhook events with the transaction each named and its
        outcome (``applied``, ``stale``, ``deferred``, ``reported``,
        ``unknown_transaction``). Optional: for audits and tests."""
        raise NotImplementedError

    def close(self) -> None:  # noqa: B027 - optional hook for stores holding connections
        """Release connections."""


def retryable(existing: OperationRecord) -> bool:
    """May a call with this record's key run (again)?

    ``unknown``: the provider dedupes on the same key, so asking again is how
    the outcome is learned. ``failed`` before the request left: nothing happened.
    """
    if existing.state is OperationState.UNKNOWN:
        return True
    return (
        existing.state is OperationState.FAILED
        and existing.error is not None
        and existing.error.get("request_sent") is False
    )


def takeover(existing: OperationRecord, record: OperationRecord) -> bool:
    """Decide what :meth:`LedgerStore.begin` does with a key already recorded.

    Returns whether the existing record's reservation is still held (an
    ``unknown`` one is; a failed-before-sending one is not). Raises when the
    call must not run.
    """
    if (
        existing.request_digest == record.request_digest
        and existing.operation == record.operation
        and retryable(existing)
    ):
        return existing.state is OperationState.UNKNOWN
    raise conflict_for(existing, record)


def conflict_for(existing: OperationRecord, record: OperationRecord) -> Exception:
    if existing.request_digest != record.request_digest or existing.operation != record.operation:
        return IdempotencyConflict(
            f"idempotency key already used for a different {existing.operation} request; "
            "use a new key for a new request"
        )
    return OperationInProgress(
        f"an operation with this idempotency key is already {existing.state.value}; "
        "retry later with the same key to get its result"
    )


def check_reservation(
    tx: Transaction | None, reservation: Reservation, holding: Iterable[OperationRecord]
) -> None:
    """Refuse a capture above what is authorized, a refund above what is captured."""
    if tx is None:
        raise InvalidRequest(
            f"no transaction {reservation.transaction_id!r}", code=ErrorCode.NOT_FOUND
        )
    in_flight = Money.zero(tx.currency)
    other_kinds = set()
    for op in holding:
        if op.reservation_kind == reservation.kind and op.amount is not None:
            in_flight = in_flight + op.amount
        elif op.reservation_kind is not None:
            other_kinds.add(op.reservation_kind)
    amount = reservation.amount
    if other_kinds:
        # No capture follows a refund (the transaction is refunded from then
        # on), so a capture and a refund of one transaction never run at
        # once: whichever lands second would be declined by the provider.
        raise InvalidRequest(
            f"transaction {tx.id} has a {other_kinds.pop()} in flight: retry once it is settled",
            code=ErrorCode.INVALID_STATE,
        )
    if reservation.kind == "capture":
        open_states = (TransactionStatus.AUTHORIZED, TransactionStatus.PARTIALLY_CAPTURED)
        if tx.status not in open_states or tx.provider_data.get("capture_closed") == "1":
            raise InvalidRequest(
                f"transaction {tx.id} is {tx.status.value}: nothing left to capture",
                code=ErrorCode.INVALID_STATE,
            )
        left = tx.amount - tx.captured - in_flight
        if amount > left:
            raise InvalidRequest(
                f"cannot capture {amount}: only {left} is left of the {tx.amount} authorized"
                + (f" ({in_flight} in flight)" if in_flight else ""),
                code=ErrorCode.INVALID_AMOUNT,
                param="amount",
            )
    elif reservation.kind == "refund":
        left = tx.captured - tx.refunded - in_flight
        if amount > left:
            raise InvalidRequest(
                f"cannot refund {amount}: only {left} of the {tx.captured} captured is left"
                + (f" ({in_flight} in flight)" if in_flight else ""),
                code=ErrorCode.INVALID_AMOUNT,
                param="amount",
            )

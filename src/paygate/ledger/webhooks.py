"""How a verified webhook event may move the transaction it names.

Rules (docs/reliability.md, "Webhooks"):

* an event is applied at most once: the ledger records its id in the same
  database transaction that applies it;
* an event applies only to a transaction of its own provider whose provider
  reference is the event's object: the transaction id an event names comes
  from metadata anyone with the provider's API can write (and a transaction
  whose answer was lost has no reference yet), so it alone never decides;
  such an event is ``unmatched`` and ``reconcile`` settles the transaction;
* an event never moves a transaction backwards: its status must rank above
  the stored one (:func:`paygate.transitions.status_rank`), so a late
  ``payment.authorized`` after the capture is ``stale``;
* money totals move only through operations paygate made itself (or
  ``reconcile``): a capture is applied only when nothing was captured and the
  event states an amount that is the whole authorization; refund events are ``reported``
  only; while a capture or refund of ours is in flight the event is
  ``deferred`` (that operation's own outcome will move the transaction).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from paygate.ledger.records import OperationRecord
from paygate.models import Capture, ErrorInfo, Transaction, TransactionStatus, WebhookEvent
from paygate.transitions import status_rank

S = TransactionStatus

#: Neutral event type -> the status it reports.
EVENT_STATUS: dict[str, TransactionStatus] = {
    "payment.requires_action": S.REQUIRES_ACTION,
    "payment.authorized": S.AUTHORIZED,
    "payment.failed": S.FAILED,
    "payment.succeeded": S.CAPTURED,
    "payment.captured": S.CAPTURED,
    "payment.voided": S.VOIDED,
    "payment.refunded": S.REFUNDED,
}

APPLIED = "applied"
STALE = "stale"
REPORTED = "reported"
DEFERRED = "deferred"
UNKNOWN_TRANSACTION = "unknown_transaction"
UNMATCHED = "unmatched"


def event_matches(event: WebhookEvent, tx: Transaction) -> bool:
    """Is ``tx`` the transaction ``event`` is about (same provider, same object)?"""
    return (
        tx.provider == event.provider
        and event.provider_reference is not None
        and event.provider_reference == tx.provider_reference
    )


def apply_event(
    event: WebhookEvent,
    tx: Transaction,
    holding: Iterable[OperationRecord],
    now: datetime,
) -> tuple[Transaction | None, str]:
    """``(new transaction or None, outcome)`` for ``event`` on stored ``tx``."""
    if not event_matches(event, tx):
        return None, UNMATCHED
    target = EVENT_STATUS.get(event.type)
    if target is None:
        return None, REPORTED
    if status_rank(target) <= status_rank(tx.status):
        return None, STALE
    if any(op.reservation_kind is not None for op in holding):
        return None, DEFERRED
    updates: dict[str, Any] = {"status": target, "updated_at": now}
    if target in (S.AUTHORIZED, S.REQUIRES_ACTION):
        if target is S.AUTHORIZED:
            updates["next_action"] = None
            updates["error"] = None
    elif target is S.FAILED:
        updates["next_action"] = None
        updates["error"] = ErrorInfo(
            code="processing_error", message=f"the provider reported {event.type}"
        )
    elif target is S.CAPTURED:
        # An event that does not say how much was captured cannot prove the
        # whole authorization was: reported, never applied as a full capture.
        if tx.captured or event.amount is None or event.amount != tx.amount:
            return None, REPORTED
        updates["captured"] = tx.amount
        updates["captures"] = (Capture(id=f"{tx.id}_c1", amount=tx.amount, created_at=now),)
        updates["next_action"] = None
        updates["error"] = None
        updates["provider_data"] = {**tx.provider_data, "capture_closed": "1"}
    elif target is S.VOIDED:
        if tx.captured:
            return None, REPORTED
        updates["next_action"] = None
        updates["provider_data"] = {**tx.provider_data, "capture_closed": "1"}
    else:  # refunds: money we did not move ourselves is only reported
        return None, REPORTED
    return tx.model_copy(update=updates), APPLIED


__all__ = ["EVENT_STATUS", "UNMATCHED", "apply_event", "event_matches"]

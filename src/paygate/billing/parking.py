"""Parked subscriptions (``needs_review``) whose charge had gone through.

The runner never charges a parked subscription. But a charge may have been
sent before it was parked (a crash, or an answer lost on the way back, left
the attempt ``pending``): if the ledger says that charge *succeeded*, the
money moved, and the invoice is settled as paid, without a new call to the
gateway, while the subscription stays parked for anything further. An attempt
whose outcome the ledger does not know as a success waits for the review
(asking again with its key could make the charge now).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import and_, select, update

from paygate.billing.models import BillingState
from paygate.billing.store import DRAFT, OPEN
from paygate.ledger.billing_schema import invoices, payment_attempts, subscriptions
from paygate.ledger.records import OperationState
from paygate.models import TransactionStatus

if TYPE_CHECKING:
    from paygate.billing.service import Billing

_WENT_THROUGH = (TransactionStatus.CAPTURED, TransactionStatus.PARTIALLY_CAPTURED)


def settle_parked(billing: Billing) -> int:
    """Mark paid the invoices of parked subscriptions whose pending attempt's
    charge the ledger records as succeeded; returns how many."""
    with billing.store.read() as conn:
        rows = conn.execute(
            select(payment_attempts.c.invoice_id, payment_attempts.c.idempotency_key)
            .join(invoices, invoices.c.id == payment_attempts.c.invoice_id)
            .join(subscriptions, subscriptions.c.id == invoices.c.subscription_id)
            .where(
                and_(
                    payment_attempts.c.status == "pending",
                    invoices.c.status.in_((DRAFT, OPEN)),
                    subscriptions.c.billing_state == BillingState.NEEDS_REVIEW.value,
                )
            )
            .order_by(payment_attempts.c.created_at)
        ).all()
    settled = 0
    for row in rows:
        op = billing.payments.ledger.find_operation(row.idempotency_key)
        if op is None or op.state is not OperationState.SUCCEEDED:
            continue
        tx = billing.payments.transaction(op.transaction_id)
        if tx.status not in _WENT_THROUGH:
            continue
        with billing.store.write() as conn:
            inv = billing.store.invoice(conn, row.invoice_id, lock=True)
            done = conn.execute(
                update(payment_attempts)
                .where(
                    and_(
                        payment_attempts.c.idempotency_key == row.idempotency_key,
                        payment_attempts.c.status == "pending",
                    )
                )
                .values(status="succeeded", transaction_id=tx.id, finished_at=billing.now())
            ).rowcount
            if done != 1 or inv.status not in (DRAFT, OPEN):
                continue  # settled meanwhile (another worker, a review)
            billing._paid(conn, inv, tx.id)
            settled += 1
    return settled


__all__ = ["settle_parked"]

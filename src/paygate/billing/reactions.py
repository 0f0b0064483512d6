"""Billing's reaction to the providers' webhook events (``Billing.on_webhook``).

``paygate.web.webhook_endpoint(payments, on_event=billing.on_webhook)`` hands
each new verified event here after the ledger applied it. Billing reacts to
the two it cares about:

* ``payment.refunded`` on the charge of a billing invoice: every refund not
  yet credited gets its credit note (381) linked to the invoice's 380,
  including a refund made outside paygate (a provider dashboard), whose
  amount is what the provider reports refunded *in total* minus what is
  already credited; an ``invoice.refunded`` event is emitted for each;
* ``dispute.opened`` on such a charge: a row in ``paygate_billing_disputes``
  and a ``dispute.opened`` event.

Everything else, and any event about a charge billing did not make, is
ignored, with the reason in the answer. Reacting is idempotent: a duplicate
delivery, or a redelivery under a new event id, finds the credit notes and
the dispute already there and does nothing new. Duplicates are handled, not
skipped, so that a reaction that failed (the database was down) happens when
the provider delivers again, although the ledger already recorded the event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, select

from paygate.billing.core import BillingCore
from paygate.billing.documents.models import Document
from paygate.billing.models import Action, Actor, Invoice
from paygate.billing.store import new_id, utc
from paygate.errors import InvalidRequest, NotFound
from paygate.ledger.billing_schema import disputes as disputes_table
from paygate.ledger.billing_schema import invoices as invoices_table
from paygate.ledger.billing_schema import payment_attempts
from paygate.ledger.webhooks import event_matches
from paygate.models import Transaction, WebhookEvent
from paygate.money import Money

#: The reason written on a credit note for a refund the provider reported.
REFUND_REASON = "Remboursement / Refund"


class Reaction(StrEnum):
    """What billing did with an event."""

    CREDITED = "credited"  # credit notes issued for refunds
    REFUND_RECORDED = "refund_recorded"  # refund emitted, no document to credit
    DISPUTE_RECORDED = "dispute_recorded"
    REVIEW = "review"  # emitted for a person to look at; nothing issued
    IGNORED = "ignored"


@dataclass(frozen=True, slots=True)
class WebhookReaction:
    """The answer of :meth:`Reactions.on_webhook`: what billing did and why.

    ``credit_notes`` are the ids of the documents issued by *this* call and
    ``credited`` their total; ``problems`` say what a person should review.
    """

    event_id: str
    event_type: str
    outcome: Reaction
    reason: str
    account_id: str | None = None
    invoice_id: str | None = None
    transaction_id: str | None = None
    credit_notes: tuple[str, ...] = ()
    credited: Money | None = None
    dispute_id: str | None = None
    problems: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Dispute:
    """A dispute (chargeback) a provider opened on a billing charge."""

    id: str
    account_id: str
    invoice_id: str
    transaction_id: str
    provider: str
    provider_event_id: str
    provider_type: str
    provider_dispute_id: str | None
    amount: Money | None
    reason: str | None
    status: str
    opened_at: datetime


def _dispute(row: Any) -> Dispute:
    amount = (
        Money.from_minor(row.amount_minor, row.currency)
        if row.amount_minor is not None and row.currency
        else None
    )
    opened_at = utc(row.opened_at)
    assert opened_at is not None  # the column is NOT NULL
    return Dispute(
        id=row.id,
        account_id=row.account_id,
        invoice_id=row.invoice_id,
        transaction_id=row.transaction_id,
        provider=row.provider,
        provider_event_id=row.provider_event_id,
        provider_type=row.provider_type,
        provider_dispute_id=row.provider_dispute_id,
        amount=amount,
        reason=row.reason,
        status=row.status,
        opened_at=opened_at,
    )


def _text(value: object) -> str | None:
    """A provider's string as stored (exactly), or None when it is not one
    that fits the column."""
    return value if isinstance(value, str) and 0 < len(value) <= 255 else None


def _dispute_fields(event: WebhookEvent) -> tuple[str | None, str | None]:
    """``(provider dispute id, reason)`` from a dispute event's data: Stripe
    puts the dispute object in ``data["object"]``, PayPal its id in
    ``data["resource_id"]``."""
    obj = event.data.get("object")
    if isinstance(obj, dict):
        return _text(obj.get("id")), _text(obj.get("reason"))
    return _text(event.data.get("resource_id")), _text(event.data.get("reason"))


class Reactions(BillingCore):
    """``on_webhook`` and ``disputes``."""

    def on_webhook(self, event: WebhookEvent) -> WebhookReaction:
        """React to a verified provider event (pass it as ``on_event`` to
        :func:`paygate.web.webhook_endpoint`, or call it with what
        :meth:`paygate.Payments.parse_webhook` returned).

        ``payment.refunded`` credits the refunds of a billing invoice's charge;
        ``dispute.opened`` records the dispute; both emit billing events.
        Another event type, or an event about a charge billing did not make,
        is ignored. A duplicate delivery (``event.duplicate``) is handled like
        the first one and finds everything already done, so that a first
        reaction that failed is completed by the provider's redelivery.

        :raises InvalidRequest: ``event`` is not a :class:`~paygate.models.WebhookEvent`.
        """
        if not isinstance(event, WebhookEvent):
            raise InvalidRequest("event must be a paygate.models.WebhookEvent", param="event")

        def ignored(reason: str, **kw: Any) -> WebhookReaction:
            return WebhookReaction(event.id, event.type, Reaction.IGNORED, reason, **kw)

        if event.type not in ("payment.refunded", "dispute.opened"):
            return ignored(f"billing does not react to {event.type}")
        tx = self._charge_of(event)
        if tx is None:
            return ignored("no transaction of this provider matches the event")
        inv = self._invoice_of(tx.id)
        if inv is None:
            return ignored("not a billing charge", transaction_id=tx.id)
        if event.type == "dispute.opened":
            return self._on_dispute(event, tx, inv)
        return self._on_refund(event, tx, inv)

    def disputes(self, actor: Actor, account: str) -> list[Dispute]:
        """The disputes opened on ``account``'s charges, oldest first (the
        owner, or billing staff, as ``paygate_billing_authorize`` allows)."""
        with self.store.read() as conn:
            acct = self.store.account(conn, account)
            self._authorize(actor, Action.VIEW, acct)
            return self._disputes(conn, acct.id)

    # -- internals -----------------------------------------------------------------
    def _disputes(self, conn: Connection, account_id: str) -> list[Dispute]:
        rows = conn.execute(
            select(disputes_table)
            .where(disputes_table.c.account_id == account_id)
            .order_by(disputes_table.c.opened_at, disputes_table.c.id)
        ).all()
        return [_dispute(r) for r in rows]

    def _charge_of(self, event: WebhookEvent) -> Transaction | None:
        """The ledger transaction the event is about. The transaction id an
        event names comes from metadata anyone with the provider's API can
        write: it counts only if the provider and its reference agree, as for
        the ledger (:func:`paygate.ledger.webhooks.event_matches`)."""
        if event.transaction_id:
            try:
                tx = self.payments.transaction(event.transaction_id)
            except (NotFound, InvalidRequest):
                tx = None
            if tx is not None and event_matches(event, tx):
                return tx
        if event.provider_reference:
            found = self.payments.ledger.find_by_reference(event.provider, event.provider_reference)
            if found is not None and event_matches(event, found):
                return found
        return None

    def _invoice_of(self, transaction_id: str) -> Invoice | None:
        """The billing invoice whose charge (or one of whose payment attempts)
        is ``transaction_id``."""
        with self.store.read() as conn:
            found = conn.execute(
                select(invoices_table.c.id).where(invoices_table.c.transaction_id == transaction_id)
            ).first()
            if found is None:
                found = conn.execute(
                    select(payment_attempts.c.invoice_id).where(
                        payment_attempts.c.transaction_id == transaction_id
                    )
                ).first()
            return self.store.invoice(conn, found[0]) if found is not None else None

    def _on_refund(self, event: WebhookEvent, tx: Transaction, inv: Invoice) -> WebhookReaction:
        total = event.amount
        known = [(r.id, r.amount) for r in tx.refunds]
        base: dict[str, Any] = {
            "account_id": inv.account_id,
            "invoice_id": inv.id,
            "transaction_id": tx.id,
        }
        doc = self.invoices.invoice_document(inv.id)
        problems: list[str] = []
        issued: list[Document] = []
        if doc is not None:
            issued, problems = self.invoices.credit_charge_refunds(
                doc.id, known, charge_id=tx.id, refunded_total=total, reason=REFUND_REASON
            )
        if total is None:
            problems.append("the provider reported a refund without its amount")
        credited = (
            sum((d.total for d in issued), Money.zero(issued[0].currency)) if issued else None
        )
        with self.store.write() as conn:
            for credit in issued:
                self._emit(
                    conn,
                    "invoice.refunded",
                    inv.account_id,
                    f"invoice.refunded:{credit.id}",
                    subscription_id=inv.subscription_id,
                    invoice_id=inv.id,
                    payload={
                        "credit_note_id": credit.id,
                        "credit_note": credit.number_text,
                        "amount": str(credit.total),
                        "refunded_total": str(total) if total is not None else None,
                        "transaction_id": tx.id,
                    },
                )
            if doc is None and total is not None:
                # No legal document to credit (no billing profile): the host
                # still hears of it, once per refunded total.
                self._emit(
                    conn,
                    "invoice.refunded",
                    inv.account_id,
                    f"invoice.refunded:{tx.id}:{total.currency}:{total.minor_units}",
                    subscription_id=inv.subscription_id,
                    invoice_id=inv.id,
                    payload={"refunded_total": str(total), "transaction_id": tx.id},
                )
            if problems:
                self._emit(
                    conn,
                    "invoice.refund_review",
                    inv.account_id,
                    f"invoice.refund_review:{event.provider}:{event.id}",
                    subscription_id=inv.subscription_id,
                    invoice_id=inv.id,
                    payload={
                        "problems": problems,
                        "event_id": event.id,
                        "provider": event.provider,
                        "refunded_total": str(total) if total is not None else None,
                        "transaction_id": tx.id,
                    },
                )
        self._deliver()
        if issued:
            return WebhookReaction(
                event.id,
                event.type,
                Reaction.CREDITED,
                f"{len(issued)} credit note(s) issued",
                credit_notes=tuple(d.id for d in issued),
                credited=credited,
                problems=tuple(problems),
                **base,
            )
        if problems:
            return WebhookReaction(
                event.id,
                event.type,
                Reaction.REVIEW,
                "; ".join(problems),
                problems=tuple(problems),
                **base,
            )
        if doc is None:
            return WebhookReaction(
                event.id,
                event.type,
                Reaction.REFUND_RECORDED,
                "no invoice document to credit (no billing profile): event emitted",
                **base,
            )
        return WebhookReaction(
            event.id, event.type, Reaction.IGNORED, "every refund is already credited", **base
        )

    def _on_dispute(self, event: WebhookEvent, tx: Transaction, inv: Invoice) -> WebhookReaction:
        dispute_ref, reason = _dispute_fields(event)
        amount = event.amount  # a dispute may be for part of the charge: never guessed
        now = self.now()
        with self.store.write() as conn:
            # A redelivery finds the row its first delivery wrote.
            seen = conn.execute(
                select(disputes_table.c.id).where(
                    disputes_table.c.provider == event.provider,
                    disputes_table.c.provider_event_id == event.id,
                )
            ).first()
            conn.execute(
                self.store._insert(disputes_table).values(
                    id=new_id("dsp"),
                    provider=event.provider,
                    provider_event_id=event.id,
                    provider_type=event.provider_type,
                    provider_dispute_id=dispute_ref,
                    account_id=inv.account_id,
                    invoice_id=inv.id,
                    transaction_id=tx.id,
                    amount_minor=amount.minor_units if amount is not None else None,
                    currency=amount.currency if amount is not None else None,
                    reason=reason,
                    status="open",
                    opened_at=event.created_at,
                    created_at=now,
                )
            )
            row = conn.execute(
                select(disputes_table).where(
                    disputes_table.c.provider == event.provider,
                    disputes_table.c.provider_event_id == event.id,
                )
            ).one()
            found = _dispute(row)
            self._emit(
                conn,
                "dispute.opened",
                inv.account_id,
                f"dispute.opened:{found.id}",
                subscription_id=inv.subscription_id,
                invoice_id=inv.id,
                payload={
                    "dispute_id": found.id,
                    "provider": found.provider,
                    "provider_dispute_id": found.provider_dispute_id,
                    "amount": str(found.amount) if found.amount is not None else None,
                    "reason": found.reason,
                    "transaction_id": tx.id,
                },
            )
        self._deliver()
        return WebhookReaction(
            event.id,
            event.type,
            Reaction.DISPUTE_RECORDED if seen is None else Reaction.IGNORED,
            "dispute recorded" if seen is None else "dispute already recorded",
            account_id=inv.account_id,
            invoice_id=inv.id,
            transaction_id=tx.id,
            dispute_id=found.id,
        )


__all__ = ["REFUND_REASON", "Dispute", "Reaction", "Reactions", "WebhookReaction"]

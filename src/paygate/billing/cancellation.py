"""Cancelling a subscription: at the period end, or now with a prorated refund.

Money moves back the way collection charges it: a short transaction writes a
credit record (a draft with negative lines, each linked to the paid line it
credits, so the credit is counted against that line at once); the refund
runs outside any transaction, with a key derived from the record
(``paygate-billing:{record}:refund``); a second short transaction marks the
record refunded. A crash in between is settled by calling ``cancel`` again
or by the next ``run_once``, which refunds again *with the same key*: the
ledger answers with the first refund, never a second one.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, exists, func, literal, select, update

from paygate.billing.errors import (
    InvalidTransition,
    StalePreview,
)
from paygate.billing.models import (
    Account,
    Action,
    Actor,
    BillingState,
    DraftLine,
    Entitlement,
    Invoice,
    Subscription,
)
from paygate.billing.periods import local_date, zone
from paygate.billing.planner import fingerprint, lines_digest, proration_lines
from paygate.billing.proration import ProrationPolicy
from paygate.billing.store import DRAFT, OPEN, PAID, REFUNDED, VOID
from paygate.billing.subscribing import Subscribing
from paygate.errors import (
    InvalidRequest,
    OperationInProgress,
    PaygateError,
    ProviderUnavailable,
)
from paygate.ledger.billing_schema import (
    invoice_lines,
    invoices,
)
from paygate.ledger.invoices_schema import documents
from paygate.money import Money
from paygate.redaction import get_logger

if TYPE_CHECKING:
    from paygate.billing.previews import Preview

log = get_logger(__name__)

#: What an immediate cancel pays back: the unused part of the paid period
#: (under the ``paygate_billing_proration`` policy for change ``"cancel"``),
#: or nothing.
CANCEL_REFUNDS = ("prorated", "none")
#: The reason of a cancel's credit record (a billing invoice with a negative total).
CANCEL_CREDIT = "cancel"
#: Who issues the credit note (381) of a cancel's refund: billing itself.
_BILLING = Actor.staff_member("paygate-billing")
_REFUND_REASON = "Unused part of the period, subscription canceled"


class Cancellation(Subscribing):
    """``cancel``, ``preview_cancel`` and the refunds an immediate cancel owes."""

    def _stop_retries(self, conn: Connection, sub: Subscription) -> None:
        """Cancelling stops dunning: open invoices are not tried again (lesson 9)."""
        conn.execute(
            update(invoices)
            .where(and_(invoices.c.subscription_id == sub.id, invoices.c.status == OPEN))
            .values(next_attempt_at=None)
        )

    def cancel(
        self,
        actor: Actor,
        subscription_id: str,
        *,
        at: str = "period_end",
        refund: str = "prorated",
    ) -> Subscription:
        """Cancel at the period end (access until then, nothing refunded) or now.

        ``at="now"`` ends access now and, with ``refund="prorated"`` (the
        default), pays back the unused part of the paid period: each paid
        line of the current period is credited from what it charged (minus
        what earlier credits already gave back) under the proration policy
        the ``paygate_billing_proration`` hook names for change ``"cancel"``
        (``none``: nothing), and refunded on the charge that paid it.
        ``refund="none"`` keeps the money. The credit record shows in the
        account's invoices (reason ``cancel``, status ``refunded``) and, when
        the paid invoice has a legal document, a credit note (381) links to it.

        Calling ``cancel`` again on a subscription whose refund had no answer
        (or crashed) finishes that refund, with the same key, and returns."""
        if at not in ("period_end", "now"):
            raise InvalidRequest("at must be 'period_end' or 'now'", param="at")
        if refund not in CANCEL_REFUNDS:
            raise InvalidRequest("refund must be 'prorated' or 'none'", param="refund")
        self._cancel(actor, subscription_id, at=at, refund=refund, expect=None)
        return (
            self.subscription(actor, subscription_id)
            if not actor.staff
            else self._get(subscription_id)
        )

    def preview_cancel(self, actor: Actor, subscription_id: str) -> Preview:
        """What ``cancel(at="now")`` would pay back, line by line (negative
        amounts); hand it to :meth:`apply` to cancel now exactly so."""
        from paygate.billing.previews import Preview

        now = self.now()
        with self.store.read() as conn:
            sub = self.store.subscription(conn, subscription_id)
            acct = self.store.account(conn, sub.account_id)
            self._authorize(actor, Action.CANCEL, acct)
            if sub.billing_state is BillingState.CANCELED:
                raise InvalidTransition(f"subscription {sub.id} is already canceled")
            policy, plan = self._cancel_credits(conn, acct, sub, now, "prorated")
        lines = tuple(ln for _, group in plan for ln in group)
        return Preview(
            kind="cancel",
            subscription_id=sub.id,
            timing="now",
            policy=policy.value,
            lines=lines,
            total=sum((ln.amount for ln in lines), Money.zero(acct.currency)),
            effective=local_date(now, zone(acct.timezone)),
            params={"refund": "prorated"},
            fingerprint=self._cancel_fingerprint(sub, policy, lines),
        )

    @staticmethod
    def _cancel_fingerprint(
        sub: Subscription, policy: ProrationPolicy, lines: tuple[DraftLine, ...]
    ) -> str:
        return fingerprint("cancel", sub.id, sub.version, policy.value, lines_digest(lines))

    def _apply_cancel(self, actor: Actor, preview: Preview) -> Subscription:
        """``apply`` of a :meth:`preview_cancel`: refused if it would now refund otherwise."""
        self._cancel(
            actor, preview.subscription_id, at="now", refund="prorated", expect=preview.fingerprint
        )
        return self._get(preview.subscription_id)

    def _cancel(
        self, actor: Actor, subscription_id: str, *, at: str, refund: str, expect: str | None
    ) -> None:
        now = self.now()
        with self.store.write() as conn:
            sub = self.store.subscription(conn, subscription_id, lock=True)
            acct = self.store.account(conn, sub.account_id)
            self._authorize(actor, Action.CANCEL, acct)
            # Canceled already: a call again only finishes a refund left
            # pending (no answer, a crash), with the same key.
            settle_only = sub.billing_state is BillingState.CANCELED
            if settle_only and (expect is not None or not self._unsettled(conn, sub.id)):
                raise InvalidTransition(f"subscription {sub.id} is already canceled")
            if settle_only:
                pass
            elif at == "now" or sub.billing_state is BillingState.FROZEN:
                self._stop_retries(conn, sub)
                # Only an active subscription's paid period is refunded now (a
                # frozen one keeps its unused days for a resume it will not get:
                # see docs/billing.md).
                credits: list[tuple[str, list[DraftLine]]] = []
                if at == "now" and sub.billing_state is BillingState.ACTIVE:
                    policy, credits = self._cancel_credits(conn, acct, sub, now, refund)
                    if expect is not None and expect != self._cancel_fingerprint(
                        sub, policy, tuple(ln for _, group in credits for ln in group)
                    ):
                        raise StalePreview(
                            "this preview of cancel is stale (the subscription or the date "
                            "changed since): preview again"
                        )
                refunded = Money.zero(acct.currency)
                for paid_invoice, lines in credits:
                    record = self.store.create_draft(
                        conn,
                        dedupe_key=f"{sub.id}:{CANCEL_CREDIT}:{paid_invoice}",
                        account_id=acct.id,
                        subscription_id=sub.id,
                        reason=CANCEL_CREDIT,
                        currency=acct.currency,
                        lines=lines,
                        now=now,
                        period=(sub.period_index, sub.period_start, sub.period_end),
                        credit=True,
                    )
                    refunded -= record.total
                self.store.update_subscription(
                    conn,
                    sub,
                    now,
                    billing_state=BillingState.CANCELED.value,
                    entitlement=Entitlement.NONE.value,
                    next_action_at=None,
                    pending=None,
                )
                self._emit(
                    conn,
                    "subscription.canceled",
                    acct.id,
                    f"{sub.id}:canceled",
                    subscription_id=sub.id,
                    payload={"by": actor.ref, "at": "now", "refund": str(refunded)},
                )
            else:
                self._stop_retries(conn, sub)
                self.store.update_subscription(conn, sub, now, cancel_at_period_end=True)
                self._emit(
                    conn,
                    "subscription.cancel_scheduled",
                    acct.id,
                    f"{sub.id}:cancel_scheduled:{sub.version}",
                    subscription_id=sub.id,
                    payload={"by": actor.ref, "at": sub.period_end.isoformat()},
                )
        self._settle_refunds(subscription_id)
        self._deliver()  # the events, and the paid invoices' 380s if due
        self._credit_notes_due(subscription_id)

    # -- a cancel's refund: plan, settle, document ------------------------------------
    def _cancel_credits(
        self, conn: Connection, acct: Account, sub: Subscription, now: datetime, refund: str
    ) -> tuple[ProrationPolicy, list[tuple[str, list[DraftLine]]]]:
        """The credit lines of a cancel now, grouped by the paid invoice whose
        charge each gives back (one refund per charge)."""
        if refund == "none":
            return ProrationPolicy.NONE, []
        policy = self._policy(acct, sub, "cancel")
        if policy is ProrationPolicy.NONE:
            return policy, []
        from paygate.billing.previews import _line_from_row

        # What paid invoices of this subscription charged for the current
        # period (the renewal, then upgrades and add-ons bought in it).
        rows = conn.execute(
            select(
                invoice_lines,
                invoices.c.currency.label("invoice_currency"),
                invoices.c.transaction_id.label("invoice_transaction"),
            )
            .join(invoices, invoices.c.id == invoice_lines.c.invoice_id)
            .where(
                and_(
                    invoices.c.subscription_id == sub.id,
                    invoices.c.status == PAID,
                    invoices.c.transaction_id.is_not(None),
                    invoice_lines.c.kind.in_(("recurring", "proration_debit")),
                    invoice_lines.c.period_end == sub.period_end,
                )
            )
            .order_by(invoices.c.created_at, invoices.c.id, invoice_lines.c.position)
        ).all()
        charged: dict[str, list[Any]] = {}
        transaction_of: dict[str, str] = {}
        for r in rows:
            charged.setdefault(r.invoice_id, []).append(_line_from_row(r, r.invoice_currency))
            transaction_of[r.invoice_id] = r.invoice_transaction
        credited = self.store.credited(conn, [ln.id for group in charged.values() for ln in group])
        wanted: dict[str, list[DraftLine]] = {}
        for invoice_id, group in charged.items():
            wanted[invoice_id] = proration_lines(
                policy=policy,
                tz=zone(acct.timezone),
                at=now,
                period=self._period(sub),
                charged=group,
                credited=credited,
                new_net=None,
                new_offer=None,
                new_item_id=None,
                new_version=None,
            )
        # Each part goes back on a charge that can take it. A line's credit
        # can exceed its own invoice's charge: an upgrade's invoice charged
        # its debit minus the old plan's credit, so cancelling soon after it
        # owes more than that charge; the rest goes back on the period's
        # other charges (the renewal's), never beyond what each has left.
        spare = {
            i: self.payments.transaction(transaction_of[i]).refundable.minor_units for i in charged
        }
        ccy = acct.currency
        placed: dict[str, list[DraftLine]] = {i: [] for i in charged}
        for invoice_id, lines in wanted.items():
            for line in lines:
                owed = -line.amount.minor_units
                for target in [invoice_id, *(i for i in charged if i != invoice_id)]:
                    take = min(owed, spare[target])
                    if take <= 0:
                        continue
                    spare[target] -= take
                    owed -= take
                    placed[target].append(replace(line, amount=Money.from_minor(-take, ccy)))
                    if not owed:
                        break
        out: list[tuple[str, list[DraftLine]]] = []
        for invoice_id, lines in placed.items():
            if lines:
                lines += self._taxes(acct, lines)
                if sum(ln.amount.minor_units for ln in lines) < 0:
                    out.append((invoice_id, lines))
        return policy, out

    def _paid_invoice_of(self, conn: Connection, record_id: str) -> Invoice:
        """The paid invoice whose charge a cancel credit record refunds (named
        by its dedupe key, ``{subscription}:cancel:{paid invoice}``)."""
        key = conn.execute(
            select(invoices.c.dedupe_key).where(invoices.c.id == record_id)
        ).scalar_one()
        return self.store.invoice(conn, str(key).rsplit(":", 1)[1])

    def _unsettled(self, conn: Connection, sub_id: str | None = None) -> list[str]:
        """Cancel credit records whose refund is not done yet."""
        q = select(invoices.c.id).where(
            and_(invoices.c.reason == CANCEL_CREDIT, invoices.c.status == DRAFT)
        )
        if sub_id is not None:
            q = q.where(invoices.c.subscription_id == sub_id)
        return [r[0] for r in conn.execute(q.order_by(invoices.c.created_at)).all()]

    def _settle_refunds(self, sub_id: str | None = None) -> int:
        """Refund every cancel credit not refunded yet (of one subscription,
        or all: the renewal runner). Returns how many were refunded now; the
        caller delivers events and then issues credit notes
        (:meth:`_credit_notes_due`, after the 380s are issued)."""
        with self.store.read() as conn:
            pending = self._unsettled(conn, sub_id)
        return sum(1 for record in pending if self._refund_credit(record).status == REFUNDED)

    def _refund_credit(self, record_id: str) -> Invoice:
        with self.store.read() as conn:
            record = self.store.invoice(conn, record_id)
            if record.status != DRAFT:
                return record
            paid = self._paid_invoice_of(conn, record.id)
        assert paid.transaction_id is not None  # only charged invoices are credited
        amount = Money.from_minor(-record.total.minor_units, record.currency)
        error: str | None = None
        refund_id: str | None = None
        try:
            tx = self.payments.refund(
                paid.transaction_id,
                amount,
                reason=_REFUND_REASON,
                idempotency_key=f"paygate-billing:{record.id}:refund",
            )
            # The refund this key made (a replay answers with the same one).
            mine = [r for r in tx.refunds if r.amount == amount]
            refund_id = (mine or tx.refunds)[-1].id if tx.refunds else tx.id
        except (ProviderUnavailable, OperationInProgress):
            return record  # no answer: the next cancel call or run asks again, same key
        except PaygateError as exc:
            error = exc.code.value
        now = self.now()
        with self.store.write() as conn:
            record = self.store.invoice(conn, record_id, lock=True)
            if record.status != DRAFT:
                return record
            if refund_id is None:
                # Refused for good (the charge was refunded by other means...):
                # the credit is voided, so the line can still be credited, and
                # staff hear of it.
                record = self.store.finalize(
                    conn, record, series=self._series(record), status=VOID, now=now
                )
                self._emit(
                    conn,
                    "refund.failed",
                    record.account_id,
                    f"{record.id}:refund_failed",
                    subscription_id=record.subscription_id,
                    invoice_id=record.id,
                    payload={"error": error, "amount": str(amount), "paid_invoice": paid.id},
                )
                return self.store.invoice(conn, record_id)
            record = self.store.finalize(
                conn, record, series=self._series(record), status=REFUNDED, now=now
            )
            self.store.update_invoice(
                conn,
                record,
                amount_paid_minor=record.total.minor_units,
                transaction_id=refund_id,
                closed_at=now,
            )
            self._emit(
                conn,
                "invoice.refunded",
                record.account_id,
                f"{record.id}:refunded",
                subscription_id=record.subscription_id,
                invoice_id=record.id,
                payload={"amount": str(amount), "paid_invoice": paid.id, "refund": refund_id},
            )
            return self.store.invoice(conn, record_id)

    def _credit_notes_due(self, sub_id: str | None = None) -> None:
        """The credit note (381) of each refunded cancel credit whose paid
        invoice has its 380 and that has no credit note yet (keyed by the
        refund: issued once)."""
        if not self.invoices.ready():
            return
        notes = documents.alias("notes")
        noted = exists().where(notes.c.source_key == literal("refund:") + invoices.c.transaction_id)
        # The paid invoice's 380, found in SQL: the record's dedupe key is
        # "{subscription}:cancel:{paid invoice}" and the 380's source key
        # "inv:{paid invoice}".
        paid_id = func.replace(
            invoices.c.dedupe_key, invoices.c.subscription_id + literal(f":{CANCEL_CREDIT}:"), ""
        )
        q = (
            select(invoices.c.id, documents.c.id.label("doc_id"))
            .join(documents, documents.c.source_key == literal("inv:") + paid_id)
            .where(and_(invoices.c.reason == CANCEL_CREDIT, invoices.c.status == REFUNDED, ~noted))
        )
        if sub_id is not None:
            q = q.where(invoices.c.subscription_id == sub_id)
        with self.store.read() as conn:
            found = [(self.store.invoice(conn, r.id), str(r.doc_id)) for r in conn.execute(q).all()]
        for record, doc_id in found:
            try:
                self.invoices.credit_refund(
                    _BILLING,
                    doc_id,
                    Money.from_minor(-record.total.minor_units, record.currency),
                    transaction_id=str(record.transaction_id),
                    reason=_REFUND_REASON,
                )
            except PaygateError as exc:
                log.warning("credit note for %s not issued: %s", record.id, exc)


__all__ = ["CANCEL_CREDIT", "CANCEL_REFUNDS", "Cancellation"]

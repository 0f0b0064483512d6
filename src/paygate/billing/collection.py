"""Collection: the one place that charges an invoice, and what a paid or a
failed charge does (numbering, dunning, the end state, a paid change applied).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, insert, or_, select, update

from paygate.billing.core import BillingCore
from paygate.billing.errors import (
    PaymentFailed,
)
from paygate.billing.models import (
    DUNNING_ENDS,
    Account,
    BillingState,
    CollectionState,
    DunningContext,
    Entitlement,
    Invoice,
    RetryDecision,
    Subscription,
)
from paygate.billing.periods import local_date, zone
from paygate.billing.planner import (
    customer_of,
)
from paygate.billing.store import DRAFT, OPEN, PAID, UNCOLLECTIBLE, new_id
from paygate.errors import (
    CardDeclined,
    ConfigurationError,
    OperationInProgress,
    PaygateError,
    ProviderUnavailable,
)
from paygate.ledger.billing_schema import (
    invoices,
    items,
    payment_attempts,
    subscriptions,
)
from paygate.models import TransactionStatus

#: How soon the runner asks again about a charge that had no answer.
UNKNOWN_BACKOFF = timedelta(minutes=1)
_UNKNOWN_BACKOFF = UNKNOWN_BACKOFF  # its name before the split (paygate.billing.service)


class Collection(BillingCore):
    """Charging invoices (see :meth:`_collect`)."""

    def _raise_if_aborted(self, inv: Invoice) -> None:
        """A purchase made now whose charge failed: say so (nothing was bought)."""
        if inv.status != DRAFT:
            return
        with self.store.read() as conn:
            # A concurrent call with the same key may pay the invoice meanwhile.
            # Its attempt row and the invoice's PAID commit together, and under
            # READ COMMITTED each statement sees the latest commit: so read the
            # attempt FIRST, then the invoice. Read the other way round, the
            # invoice could be seen as a draft and the attempt as succeeded
            # (committed in between), and a paid purchase reported as failed.
            row = conn.execute(
                select(payment_attempts.c.error_code, payment_attempts.c.status)
                .where(payment_attempts.c.invoice_id == inv.id)
                .order_by(payment_attempts.c.attempt_no.desc())
            ).first()
            if self.store.invoice(conn, inv.id).status != DRAFT:
                return
        if row is not None and row.status == "succeeded":
            return  # paid by the concurrent call; its invoice row is being written
        if row is not None and row.status == "pending":
            raise ProviderUnavailable(
                f"the charge for invoice {inv.id} has no answer yet: the renewal runner "
                "settles it with the same idempotency key",
                retry_safe=True,
            )
        code = (row.error_code if row is not None else None) or "no_payment_method"
        raise PaymentFailed(f"the charge for invoice {inv.id} failed: {code}", decline_code=code)

    # -- collection: the one place that charges --------------------------------------
    def _collect(self, invoice_id: str, *, retry_now: bool = False) -> Invoice:
        """Charge an invoice (draft or open) with the account's method.

        1. short transaction: the attempt row and its deterministic key (an
           attempt still pending from a crashed run is reused, key and all);
        2. the charge, outside any transaction;
        3. short transaction: paid (numbered now if it was a draft), or failed
           and scheduled by the retry hook, or left pending if the outcome is
           unknown (the next run asks again with the same key).
        """
        now = self.now()
        with self.store.write() as conn:
            inv = self.store.invoice(conn, invoice_id, lock=True)
            # An uncollectible invoice is charged again only when asked (a new
            # payment method, Billing.pay): dunning gave up on it.
            if inv.status not in (DRAFT, OPEN) and not (inv.status == UNCOLLECTIBLE and retry_now):
                return inv
            # Retries stopped (a cancel) or not yet due: nothing to charge.
            if (
                inv.status == OPEN
                and not retry_now
                and (inv.next_attempt_at is None or inv.next_attempt_at > now)
            ):
                return inv
            acct = self.store.account(conn, inv.account_id)
            method = acct.payment_method
            pending = conn.execute(
                select(payment_attempts)
                .where(
                    and_(
                        payment_attempts.c.invoice_id == inv.id,
                        payment_attempts.c.status == "pending",
                    )
                )
                .order_by(payment_attempts.c.attempt_no.desc())
            ).first()
            if pending is not None:
                key, attempt_no = pending.idempotency_key, pending.attempt_no
            elif inv.total.minor_units == 0:
                key, attempt_no = "", inv.attempt_count
            elif method is None:
                return self._failed(conn, inv, acct, inv.attempt_count + 1, "no_payment_method")
            else:
                attempt_no = inv.attempt_count + 1
                key = f"paygate-billing:{inv.id}:try:{attempt_no}"
                conn.execute(
                    insert(payment_attempts).values(
                        id=new_id("att"),
                        invoice_id=inv.id,
                        attempt_no=attempt_no,
                        idempotency_key=key,
                        status="pending",
                        created_at=now,
                    )
                )
                self.store.update_invoice(conn, inv, attempt_count=attempt_no)
        if not key:
            with self.store.write() as conn:
                inv = self.store.invoice(conn, invoice_id)
                return self._paid(conn, inv, None)
        assert method is not None or pending is not None
        use = method or (acct.payment_method)
        error: str | None = None
        tx_id: str | None = None
        try:
            tx = self.payments.charge_recurring(
                inv.total,
                use,  # type: ignore[arg-type]
                customer=customer_of(acct),
                description=f"Invoice {inv.id}",
                metadata={"paygate_invoice": inv.id, "paygate_attempt": str(attempt_no)},
                idempotency_key=key,
            )
            if tx.status in (TransactionStatus.CAPTURED, TransactionStatus.PARTIALLY_CAPTURED):
                tx_id = tx.id
            else:
                error = (
                    "authentication_required"
                    if tx.status is TransactionStatus.REQUIRES_ACTION
                    else tx.status.value
                )
        except CardDeclined as exc:
            error = exc.code.value
        except (ProviderUnavailable, OperationInProgress):
            # Unknown: the charge may have been made. The runner asks again
            # soon, with the same key.
            with self.store.write() as conn:
                if inv.subscription_id is not None:
                    soon = now + UNKNOWN_BACKOFF
                    conn.execute(
                        update(subscriptions)
                        .where(subscriptions.c.id == inv.subscription_id)
                        .where(
                            or_(
                                subscriptions.c.next_action_at.is_(None),
                                subscriptions.c.next_action_at > soon,
                            )
                        )
                        .values(next_action_at=soon)
                    )
                return self.store.invoice(conn, invoice_id)
        except PaygateError as exc:
            error = exc.code.value
        with self.store.write() as conn:
            inv = self.store.invoice(conn, invoice_id, lock=True)
            status = "succeeded" if tx_id else "failed"
            conn.execute(
                update(payment_attempts)
                .where(payment_attempts.c.idempotency_key == key)
                .values(
                    status=status, transaction_id=tx_id, error_code=error, finished_at=self.now()
                )
            )
            if tx_id is not None:
                return self._paid(conn, inv, tx_id)
            # The account is read again only for a failure (a success needs nothing of it).
            acct = self.store.account(conn, inv.account_id)
            return self._failed(conn, inv, acct, attempt_no, error or "card_declined")

    def _paid(self, conn: Connection, inv: Invoice, tx_id: str | None) -> Invoice:
        now = self.now()
        was_given_up = inv.status == UNCOLLECTIBLE
        if inv.status == DRAFT:
            inv = self.store.finalize(conn, inv, series=self._series(inv), status=OPEN, now=now)
        self.store.update_invoice(
            conn,
            inv,
            status=PAID,
            amount_paid_minor=inv.total.minor_units,
            transaction_id=tx_id,
            next_attempt_at=None,
            closed_at=now,
        )
        if inv.subscription_id:
            sub = self.store.subscription(conn, inv.subscription_id)
            if inv.reason == "change":
                sub = self._apply_paid_change(conn, sub, inv, now)
            if sub.collection_state is CollectionState.PAST_DUE:
                self._restore(conn, sub, inv, now, was_given_up)
            elif sub.collection_state is not CollectionState.CURRENT:
                self.store.update_subscription(
                    conn, sub, now, collection_state=CollectionState.CURRENT.value
                )
        self._emit(
            conn,
            "invoice.paid",
            inv.account_id,
            f"{inv.id}:paid",
            subscription_id=inv.subscription_id,
            invoice_id=inv.id,
            payload={
                "total": str(inv.total),
                "number": inv.number,
                "series": inv.series,
                "transaction": tx_id,
            },
        )
        # What the row now holds, without reading it (and its lines) back.
        return replace(
            inv,
            status=PAID,
            amount_paid=inv.total,
            transaction_id=tx_id,
            next_attempt_at=None,
            closed_at=now,
        )

    def _failed(
        self,
        conn: Connection,
        inv: Invoice,
        acct: Account,
        attempt_no: int,
        error: str,
    ) -> Invoice:
        now = self.now()
        if inv.reason in ("subscribe", "change") and inv.status == DRAFT:
            # A purchase made now failed: nothing is bought, and the draft is
            # never numbered (no hole in the series).
            if inv.subscription_id and inv.reason == "change":
                sub = self.store.subscription(conn, inv.subscription_id)
                pending = dict(sub.pending or {})
                if pending.pop("on_paid", {}).get("invoice") == inv.id:
                    self.store.update_subscription(conn, sub, now, pending=pending or None)
            elif inv.subscription_id:
                sub = self.store.subscription(conn, inv.subscription_id)
                self.store.update_subscription(
                    conn,
                    sub,
                    now,
                    billing_state=BillingState.CANCELED.value,
                    entitlement=Entitlement.NONE.value,
                    next_action_at=None,
                    review_reason=f"first payment failed: {error}",
                )
            self._emit(
                conn,
                "payment.failed",
                inv.account_id,
                f"{inv.id}:fail:{attempt_no}",
                subscription_id=inv.subscription_id,
                invoice_id=inv.id,
                payload={"error": error},
            )
            return self.store.invoice(conn, inv.id)
        if inv.status == DRAFT:
            inv = self.store.finalize(conn, inv, series=self._series(inv), status=OPEN, now=now)
        decision = self.hook.paygate_billing_retry_schedule(
            invoice=inv, attempt=attempt_no, error=error
        )
        if not isinstance(decision, RetryDecision):
            decision = RetryDecision(None, "no retry schedule")
        owner: Subscription | None = (
            self.store.subscription(conn, inv.subscription_id) if inv.subscription_id else None
        )
        if owner is not None and owner.billing_state is BillingState.CANCELED:
            decision = RetryDecision(None, "subscription canceled")
        if inv.status == UNCOLLECTIBLE:  # asked again after dunning ended: no new dunning
            decision = RetryDecision(None, "already given up")
        next_at = now + decision.retry_in if decision.retry_in is not None else None
        self._emit(
            conn,
            "payment.failed",
            inv.account_id,
            f"{inv.id}:fail:{attempt_no}",
            subscription_id=inv.subscription_id,
            invoice_id=inv.id,
            payload={
                "error": error,
                "attempt": attempt_no,
                "next_attempt_at": next_at,
                "why": decision.reason,
            },
        )
        if next_at is not None:
            self.store.update_invoice(conn, inv, next_attempt_at=next_at)
            if owner is not None:
                self.store.update_subscription(
                    conn,
                    owner,
                    now,
                    collection_state=CollectionState.RETRYING.value,
                    next_action_at=min(x for x in (next_at, owner.next_action_at) if x is not None),
                )
            return self.store.invoice(conn, inv.id)
        # Final failure: past due, and the end state the policy declares.
        self.store.update_invoice(
            conn, inv, status=UNCOLLECTIBLE, next_attempt_at=None, closed_at=now
        )
        if owner is not None and owner.billing_state is not BillingState.CANCELED:
            end = self._dunning_end(acct, owner, inv, error)
            values: dict[str, object] = {"collection_state": CollectionState.PAST_DUE.value}
            if end == "cancel":
                values.update(
                    billing_state=BillingState.CANCELED.value,
                    entitlement=Entitlement.NONE.value,
                    next_action_at=None,
                )
            elif end == "unpaid":
                values.update(entitlement=Entitlement.NONE.value)
            elif end == "freeze" and owner.billing_state is BillingState.ACTIVE:
                # Frozen with no end date: no access and no renewal until paid
                # (paying resumes it, the period moved by the days frozen).
                values.update(
                    billing_state=BillingState.FROZEN.value,
                    entitlement=Entitlement.NONE.value,
                    frozen_on=local_date(now, zone(acct.timezone)),
                    frozen_until=None,
                    next_action_at=None,
                )
            self.store.update_subscription(conn, owner, now, **values)
            self._emit(
                conn,
                "subscription.past_due",
                inv.account_id,
                f"{owner.id}:past_due:{inv.id}",
                subscription_id=owner.id,
                invoice_id=inv.id,
                payload={"end": end},
            )
            if end == "cancel":
                self._emit(
                    conn,
                    "subscription.canceled",
                    inv.account_id,
                    f"{owner.id}:canceled",
                    subscription_id=owner.id,
                    payload={"why": "unpaid"},
                )
            elif end == "freeze":
                self._emit(
                    conn,
                    "subscription.frozen",
                    inv.account_id,
                    f"{owner.id}:frozen:{owner.version}",
                    subscription_id=owner.id,
                    payload={"why": "unpaid"},
                )
        return self.store.invoice(conn, inv.id)

    def _dunning_end(self, acct: Account, sub: Subscription, inv: Invoice, error: str) -> str:
        found = self.hook.paygate_billing_dunning_end(
            context=DunningContext(account=acct, subscription=sub, invoice=inv, error=error)
        )
        end = found if found is not None else "cancel"
        if end not in DUNNING_ENDS:
            raise ConfigurationError(
                f"paygate_billing_dunning_end answered {end!r:.40}; one of {list(DUNNING_ENDS)}"
            )
        return str(end)

    def _restore(
        self, conn: Connection, sub: Subscription, inv: Invoice, now: datetime, was_given_up: bool
    ) -> None:
        """A past-due subscription's invoice is paid: back to current once
        nothing else is uncollectible, and, if dunning left it without access
        (``unpaid``) or frozen (``freeze``), active again."""
        still_owed = conn.execute(
            select(invoices.c.id).where(
                and_(
                    invoices.c.subscription_id == sub.id,
                    invoices.c.status == UNCOLLECTIBLE,
                    invoices.c.id != inv.id,
                )
            )
        ).first()
        if still_owed is not None:
            return
        # A dunning freeze has no end date (a freeze the owner asked for has
        # one, and paying does not cut it short).
        if sub.billing_state is BillingState.FROZEN and was_given_up and sub.frozen_until is None:
            acct = self.store.account(conn, sub.account_id)
            self._whole()._resume(conn, sub, acct, now)
            sub = self.store.subscription(conn, sub.id)
        values: dict[str, object] = {"collection_state": CollectionState.CURRENT.value}
        if sub.billing_state is BillingState.ACTIVE and sub.entitlement is Entitlement.NONE:
            values["entitlement"] = Entitlement.ACTIVE.value
        self.store.update_subscription(conn, sub, now, **values)
        if sub.billing_state is BillingState.ACTIVE:
            self._emit(
                conn,
                "subscription.restored",
                sub.account_id,
                f"{sub.id}:restored:{inv.id}",
                subscription_id=sub.id,
                invoice_id=inv.id,
            )

    def _apply_paid_change(
        self, conn: Connection, sub: Subscription, inv: Invoice, now: datetime
    ) -> Subscription:
        """The change an invoice paid for, applied in the transaction that marks it paid."""
        pending = dict(sub.pending or {})
        action = pending.pop("on_paid", None)
        if not action or action.get("invoice") != inv.id:
            return sub
        if "set_offer" in action:
            item_id, offer = action["set_offer"]
            conn.execute(update(items).where(items.c.id == item_id).values(offer=offer))
            self.store.update_subscription(conn, sub, now, offer=offer, pending=pending or None)
        elif "add_item" in action:
            item_id, offer, qty = action["add_item"]
            conn.execute(
                insert(items).values(
                    id=item_id,
                    subscription_id=sub.id,
                    kind=self.catalog.offer(offer).kind,
                    offer=offer,
                    quantity=qty,
                    added_at=now,
                )
            )
            self.store.update_subscription(conn, sub, now, pending=pending or None)
        self._emit(
            conn,
            "subscription.updated",
            sub.account_id,
            f"{inv.id}:applied",
            subscription_id=sub.id,
            invoice_id=inv.id,
            payload={k: v for k, v in action.items() if k != "invoice"},
        )
        return self.store.subscription(conn, sub.id)


__all__ = ["Collection"]

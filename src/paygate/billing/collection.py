"""Collection: the one place that charges an invoice, and what a paid or a
failed charge does (numbering, dunning, the end state, a paid change applied).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, insert, or_, select, update

from paygate.billing.core import BillingCore
from paygate.billing.errors import (
    PaymentFailed,
    StalePreview,
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


# Statements of every charge, built once (``b_``: the WHERE clause's parameters).
_SETTLE = update(payment_attempts).where(payment_attempts.c.idempotency_key == bindparam("b_key"))
_SETTLE_PENDING = _SETTLE.where(payment_attempts.c.status == "pending")
_INSERT_ATTEMPT = insert(payment_attempts)


class _Contended(StalePreview):
    """An invoice or attempt was not as read: the transaction rolls back."""


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
                key = self._add_attempt(conn, inv, attempt_no, now)
                inv = replace(inv, attempt_count=attempt_no)
        if not key:
            with self.store.write() as conn:
                inv = self.store.invoice(conn, invoice_id, lock=True)
                return self._paid(conn, inv, None)
        assert method is not None or pending is not None
        return self._charge(inv, acct, key, attempt_no, now)[0]

    def _add_attempt(self, conn: Connection, inv: Invoice, attempt_no: int, now: datetime) -> str:
        """A pending attempt row and its deterministic key (committed with the
        caller's transaction, before the charge leaves), counted on the invoice."""
        key = self._record_attempt(conn, inv, attempt_no, now)
        self.store.update_invoice(conn, inv, attempt_count=attempt_no)
        return key

    def _record_attempt(
        self, conn: Connection, inv: Invoice, attempt_no: int, now: datetime
    ) -> str:
        """The attempt row alone: for an invoice written with its count already."""
        key = f"paygate-billing:{inv.id}:try:{attempt_no}"
        conn.execute(
            _INSERT_ATTEMPT,
            {
                "id": new_id("att"),
                "invoice_id": inv.id,
                "attempt_no": attempt_no,
                "idempotency_key": key,
                "status": "pending",
                "created_at": now,
            },
        )
        return key

    def _charge(
        self,
        inv: Invoice,
        acct: Account,
        key: str,
        attempt_no: int,
        now: datetime,
        *,
        then: Callable[[Connection], bool] | None = None,
    ) -> tuple[Invoice, bool]:
        """Steps 2 and 3 of :meth:`_collect` for an attempt already recorded
        (``key``), with ``inv`` as it was when that attempt was written.

        ``then``: run in the transaction that records a success, once the
        attempt is settled and before the invoice is paid (the runner
        releases its lease there); it returns whether it read the
        subscription as current in that transaction (then paying need not
        look). The flag returned says whether it ran.
        """
        error: str | None = None
        tx_id: str | None = None
        try:
            tx = self.payments.charge_recurring(
                inv.total,
                acct.payment_method,  # type: ignore[arg-type]
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
                return self.store.invoice(conn, inv.id), False
        except PaygateError as exc:
            error = exc.code.value
        if tx_id is not None:
            # The usual case, without reading the invoice again: the attempt
            # goes from pending to succeeded only here (compare-and-set), and
            # the invoice's status is checked by the statement that pays it.
            # Anyone else got there first (a concurrent run, a status
            # changed meanwhile): all of it rolls back, the number taken
            # too, and the locked path below decides.
            try:
                with self.store.write() as conn:
                    if not self._settle_attempt(conn, key, "succeeded", tx_id, None, pending=True):
                        raise _Contended(f"attempt {key} settled meanwhile")
                    current = then(conn) if then is not None else False
                    return self._paid(conn, inv, tx_id, sub_current=current), then is not None
            except _Contended:
                pass
        with self.store.write() as conn:
            locked = self.store.invoice(conn, inv.id, lock=True)
            status = "succeeded" if tx_id else "failed"
            self._settle_attempt(conn, key, status, tx_id, error, pending=False)
            if tx_id is not None:
                return self._paid(conn, locked, tx_id), False
            # The account is read again only for a failure (a success needs nothing of it).
            acct = self.store.account(conn, locked.account_id)
            return self._failed(conn, locked, acct, attempt_no, error or "card_declined"), False

    def _settle_attempt(
        self,
        conn: Connection,
        key: str,
        status: str,
        tx_id: str | None,
        error: str | None,
        *,
        pending: bool,
    ) -> bool:
        """Record an attempt's outcome; ``pending``: only if it is still
        pending (whether it was is returned)."""
        done = conn.execute(
            _SETTLE_PENDING if pending else _SETTLE,
            {
                "b_key": key,
                "status": status,
                "transaction_id": tx_id,
                "error_code": error,
                "finished_at": self.now(),
            },
        )
        return bool(done.rowcount == 1)

    def _paid(
        self, conn: Connection, inv: Invoice, tx_id: str | None, *, sub_current: bool = False
    ) -> Invoice:
        """Mark ``inv`` paid (numbered first if it is a draft), as the caller
        read it: a row no longer in ``inv.status`` raises (a subclass of
        :class:`StalePreview`), rolling the transaction back.

        ``sub_current``: the caller read the subscription's collection state
        as current in this transaction (nothing to put back)."""
        now = self.now()
        was_given_up = inv.status == UNCOLLECTIBLE
        values: dict[str, Any] = {
            "status": PAID,
            "amount_paid_minor": inv.total.minor_units,
            "transaction_id": tx_id,
            "next_attempt_at": None,
            "closed_at": now,
        }
        if inv.status == DRAFT:
            # Numbered and paid in one statement: the number is taken from the
            # series' counter row in this transaction (given back if it rolls
            # back), and the draft is final and paid at the same commit.
            series = self._series(inv)
            number = self.store.take_number(conn, series)
            values.update(series=series, number=number, finalized_at=now)
            self.store.check_invoice_change(inv, {"status": PAID})
            inv = replace(inv, status=OPEN, series=series, number=number, finalized_at=now)
            expected = DRAFT
        else:
            self.store.check_invoice_change(inv, values)
            expected = inv.status
        if not self.store.update_invoice_if(conn, inv, expected, values):
            raise _Contended(f"invoice {inv.id} changed while it was being paid: try again")
        if inv.subscription_id:
            sub: Subscription | None = None
            if inv.reason == "change":
                sub = self.store.subscription(conn, inv.subscription_id)
                sub = self._apply_paid_change(conn, sub, inv, now)
            # Put back to current (restored if past due) unless the caller
            # read it as current in this transaction.
            if inv.reason == "change" or not sub_current:
                if sub is None:
                    sub = self.store.subscription(conn, inv.subscription_id)
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

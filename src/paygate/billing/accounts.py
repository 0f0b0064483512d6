"""Accounts, their members and payment methods."""

from __future__ import annotations

from sqlalchemy import and_, insert, or_, select, update

from paygate.billing.collection import Collection
from paygate.billing.core import check_key
from paygate.billing.errors import InvalidTransition, PaymentFailed
from paygate.billing.models import (
    Account,
    Action,
    Actor,
    BillingState,
    Invoice,
)
from paygate.billing.periods import zone
from paygate.billing.planner import (
    customer_of,
)
from paygate.billing.store import OPEN, PAID, UNCOLLECTIBLE, new_id
from paygate.errors import (
    InvalidRequest,
    ProviderUnavailable,
)
from paygate.ledger.billing_schema import (
    accounts,
    invoices,
    members,
    payment_attempts,
    subscriptions,
)
from paygate.models import Card, PayPalWallet, StoredPaymentMethod
from paygate.money import Money


class Accounts(Collection):
    """Opening accounts, members, the nonprofit grant and payment methods."""

    def create_account(
        self,
        owner: str,
        *,
        currency: str,
        timezone: str = "UTC",
        nonprofit: bool = False,
        parent_id: str | None = None,
        account_id: str | None = None,
    ) -> Account:
        """Open a billing account owned by the host user ``owner``."""
        if not isinstance(owner, str) or not 1 <= len(owner) <= 255:
            raise InvalidRequest("owner is the host's user id (1-255 characters)", param="owner")
        ccy = Money.zero(currency).currency
        zone(timezone)
        now = self.now()
        with self.store.write() as conn:
            if parent_id is not None:
                self.store.account(conn, parent_id)
            new = account_id or new_id("acct")
            conn.execute(
                insert(accounts).values(
                    id=new,
                    owner_ref=owner,
                    parent_id=parent_id,
                    currency=ccy,
                    timezone=timezone,
                    nonprofit=bool(nonprofit),
                    payment_method=None,
                    created_at=now,
                    updated_at=now,
                )
            )
            self._emit(conn, "account.created", new, f"account:{new}:created")
            made = self.store.account(conn, new)
        self._deliver()
        return made

    def add_member(self, account_id: str, user: str, role: str = "multi_user") -> None:
        """Add a multi-user to an account (they use it; they never see its billing)."""
        if role != "multi_user":
            raise InvalidRequest("role must be 'multi_user'", param="role")
        with self.store.write() as conn:
            self.store.account(conn, account_id)
            conn.execute(insert(members).values(account_id=account_id, actor_ref=user, role=role))

    def account(self, actor: Actor, account_id: str) -> Account:
        with self.store.read() as conn:
            acct = self.store.account(conn, account_id)
        self._authorize(actor, Action.VIEW, acct)
        return acct

    def grant_nonprofit(self, actor: Actor, account_id: str, granted: bool = True) -> Account:
        """Staff grant (or take back) the nonprofit discount; it applies from the
        next invoice (the pricing plugin computes it)."""
        with self.store.write() as conn:
            acct = self.store.account(conn, account_id)
            self._authorize(actor, Action.GRANT_DISCOUNT, acct)
            conn.execute(
                update(accounts)
                .where(accounts.c.id == account_id)
                .values(nonprofit=bool(granted), updated_at=self.now())
            )
            self._emit(
                conn,
                "account.nonprofit_" + ("granted" if granted else "removed"),
                account_id,
                f"account:{account_id}:nonprofit:{granted}:{self.now().isoformat()}",
                payload={"by": actor.ref},
            )
            granted_now = self.store.account(conn, account_id)
        self._deliver()
        return granted_now

    def add_payment_method(
        self,
        actor: Actor,
        account_id: str,
        method: Card | PayPalWallet | StoredPaymentMethod,
        *,
        idempotency_key: str,
    ) -> StoredPaymentMethod:
        """Check the card (the $1 verify, voided at once), store it, make it the
        account's method, and retry the account's open invoices at once.

        ``method`` may be a token the payer's browser made at the provider
        (``StoredPaymentMethod(provider="stripe", token="pm_...")`` from
        Stripe.js): it is stored first, then checked, because Stripe charges
        a browser-made PaymentMethod only once it is attached to a customer.
        A declined check leaves the account's method as it was."""
        with self.store.read() as conn:
            acct = self.store.account(conn, account_id)
        self._authorize(actor, Action.PAY, acct)
        check_key(idempotency_key)
        customer = customer_of(acct)
        key = f"paygate-billing:{account_id}:pm:{idempotency_key}"
        if isinstance(method, StoredPaymentMethod):
            stored = self.payments.store_payment_method(
                method, customer=customer, idempotency_key=f"{key}:store"
            )
            if stored.method_kind == "card":
                self.payments.verify(
                    stored,
                    currency=acct.currency,
                    customer=customer,
                    idempotency_key=f"{key}:verify",
                )
        else:
            if isinstance(method, Card):
                self.payments.verify(
                    method,
                    currency=acct.currency,
                    customer=customer,
                    idempotency_key=f"{key}:verify",
                )
            stored = self.payments.store_payment_method(
                method, customer=customer, idempotency_key=f"{key}:store"
            )
        with self.store.write() as conn:
            conn.execute(
                update(accounts)
                .where(accounts.c.id == account_id)
                .values(payment_method=stored.model_dump_json(), updated_at=self.now())
            )
            self._emit(
                conn,
                "payment_method.updated",
                account_id,
                f"{key}:updated",
                payload={"method": _method_text(stored)},
            )
            open_ids = [
                r.id
                for r in conn.execute(
                    select(invoices.c.id)
                    .outerjoin(subscriptions, subscriptions.c.id == invoices.c.subscription_id)
                    .where(
                        and_(
                            invoices.c.account_id == account_id,
                            or_(
                                and_(
                                    invoices.c.status == OPEN,
                                    # still in dunning: a cancel stopped the others' retries
                                    invoices.c.next_attempt_at.is_not(None),
                                ),
                                # dunning gave up but left the subscription on
                                # (past_due, unpaid, freeze): the new card pays it
                                and_(
                                    invoices.c.status == UNCOLLECTIBLE,
                                    subscriptions.c.billing_state != BillingState.CANCELED.value,
                                ),
                            ),
                        )
                    )
                    .order_by(invoices.c.created_at)
                ).all()
            ]
        for invoice_id in open_ids:  # a new card retries what is owed, now
            self._collect(invoice_id, retry_now=True)
        self._deliver()
        return stored

    def pay(self, actor: Actor, invoice_id: str) -> Invoice:
        """Charge an open or uncollectible invoice now with the account's
        payment method (the owner settling what dunning gave up on: a
        ``past_due``, ``unpaid`` or ``freeze`` subscription is active again
        once nothing is left unpaid). Raises :class:`PaymentFailed` if the
        charge is refused; a paid invoice is returned as it is."""
        with self.store.read() as conn:
            inv = self.store.invoice(conn, invoice_id)
            acct = self.store.account(conn, inv.account_id)
        self._authorize(actor, Action.PAY, acct)
        if inv.status not in (OPEN, UNCOLLECTIBLE, PAID):
            raise InvalidTransition(f"invoice {inv.id} is {inv.status}: nothing to pay")
        settled = self._collect(invoice_id, retry_now=True)
        self._deliver()
        if settled.status == PAID:
            return settled
        with self.store.read() as conn:
            last = conn.execute(
                select(payment_attempts.c.error_code, payment_attempts.c.status)
                .where(payment_attempts.c.invoice_id == inv.id)
                .order_by(payment_attempts.c.attempt_no.desc())
            ).first()
        if last is not None and last.status == "pending":
            raise ProviderUnavailable(
                f"the charge for invoice {inv.id} has no answer yet: the renewal runner "
                "settles it with the same idempotency key",
                retry_safe=True,
            )
        if acct.payment_method is None or last is None:
            code = "no_payment_method"
        else:
            code = last.error_code or "card_declined"
        raise PaymentFailed(f"the charge for invoice {inv.id} failed: {code}", decline_code=code)

    def remove_payment_method(self, actor: Actor, account_id: str) -> None:
        """Forget the account's payment method (renewals then fail as
        ``no_payment_method``, which is never retried: add a new one)."""
        with self.store.write() as conn:
            acct = self.store.account(conn, account_id)
            self._authorize(actor, Action.PAY, acct)
            conn.execute(
                update(accounts)
                .where(accounts.c.id == account_id)
                .values(payment_method=None, updated_at=self.now())
            )
            self._emit(
                conn,
                "payment_method.removed",
                account_id,
                f"account:{account_id}:pm_removed:{self.now().isoformat()}",
            )
        self._deliver()


def _method_text(method: StoredPaymentMethod | None) -> str | None:
    """``Visa •••• 4242`` (never more than the last four digits)."""
    if method is None:
        return None
    if method.method_kind == "paypal":
        return "PayPal"
    brand = (method.brand or "card").replace("_", " ").title()
    if brand in ("Amex", "American Express"):
        brand = "American Express"
    return f"{brand} •••• {method.last4}" if method.last4 else brand


__all__ = ["Accounts"]

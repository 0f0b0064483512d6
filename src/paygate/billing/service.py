"""``paygate.billing.Billing``: accounts, subscriptions, invoices and renewals,
built on the public :class:`paygate.Payments` facade.

Money moves only through ``Payments.charge_recurring`` / ``verify`` /
``store_payment_method``, each with a deterministic idempotency key, and every
price comes from ``Payments.quote``. A charge is never made inside a database
transaction: a short transaction writes the draft invoice and the payment
attempt (with its key), the charge runs, and a second short transaction
records the outcome. A crash in between is settled by the next run, which
charges again *with the same key* (the ledger and the provider answer with
the first result): one charge per invoice attempt whatever happens.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from paygate.billing.catalog import Catalog
from paygate.billing.errors import (
    BillingPermissionDenied,
    CurrencyMismatch,
    InvalidTransition,
    PaymentFailed,
    StalePreview,
)
from paygate.billing.models import (
    Account,
    Action,
    Actor,
    BillingEvent,
    BillingState,
    CollectionState,
    DraftLine,
    Entitlement,
    Invoice,
    ProrationContext,
    RetryDecision,
    Subscription,
    TaxContext,
)
from paygate.billing.periods import Period, local_date, local_midnight, period, zone
from paygate.billing.planner import (
    Entry,
    customer_of,
    fingerprint,
    overage_items,
    price_period,
)
from paygate.billing.proration import ProrationPolicy
from paygate.billing.store import DRAFT, OPEN, PAID, UNCOLLECTIBLE, Store, new_id
from paygate.errors import (
    CardDeclined,
    ConfigurationError,
    InvalidRequest,
    OperationInProgress,
    PaygateError,
    ProviderUnavailable,
)
from paygate.ledger.billing_schema import (
    accounts,
    invoices,
    items,
    members,
    payment_attempts,
    subscriptions,
)
from paygate.models import Card, PayPalWallet, StoredPaymentMethod, TransactionStatus
from paygate.money import Money

if TYPE_CHECKING:
    from paygate.payments import Payments

Clock = Callable[[], datetime]
#: Longest freeze the default policy allows (the seed: 60 or 90 days).
MAX_FREEZE_DAYS = 90
#: Renewal invoices one subscription may get in 24 hours before it is parked.
SAFETY_BOUND = 15
#: How soon the runner asks again about a charge that had no answer.
_UNKNOWN_BACKOFF = timedelta(minutes=1)


def seed_catalog() -> Catalog:
    """The catalog shipped for the demo and the docs (the seed's plans)."""
    text = resources.files("paygate.billing").joinpath("seed_catalog.toml").read_text("utf-8")
    return Catalog.loads(text, source="paygate/billing/seed_catalog.toml")


@dataclass(frozen=True, slots=True)
class Preview:
    """What a change will do, line by line; hand it back to :meth:`Billing.apply`."""

    kind: str
    subscription_id: str
    timing: str  # "now" or "period_end"
    policy: str
    lines: tuple[DraftLine, ...]
    total: Money
    effective: date
    params: dict[str, Any]
    fingerprint: str


@dataclass(frozen=True, slots=True)
class Details:
    """What the owner's billing-details page shows."""

    account_id: str
    status: str
    plan: str
    plan_size: int | None
    cycle: str
    schedule: str
    price: Money
    renewal_date: date | None
    payment_method: str | None
    addons: tuple[tuple[str, int], ...]
    allowances: dict[str, tuple[int, int, int]]
    next_charge: tuple[DraftLine, ...]
    next_charge_total: Money
    subscription_id: str


@dataclass
class RunReport:
    """What one :meth:`Billing.run_once` did."""

    claimed: int = 0
    renewed: int = 0
    paid: int = 0
    failed: int = 0
    unknown: int = 0
    canceled: int = 0
    parked: int = 0
    resumed: int = 0
    conflicts: int = 0
    invoices: list[str] = field(default_factory=list)


class Billing:
    """Plans, subscriptions, invoices and renewals for one host.

    :param payments: the :class:`paygate.Payments` every charge goes through.
    :param catalog: the :class:`~paygate.billing.Catalog` (default: the seed's).
    :param database_url: where billing rows live; default: the ledger's own
        database (an SQL ledger is needed: ``"memory"`` has no tables).
    :param clock: returns the current instant (aware, UTC); tests and
        ``paygate billing simulate`` travel in time with it.
    :param safety_bound: renewal invoices per subscription per 24 h before
        the subscription is parked for review instead of charged.
    """

    def __init__(
        self,
        payments: Payments,
        *,
        catalog: Catalog | None = None,
        database_url: str | None = None,
        clock: Clock | None = None,
        safety_bound: int = SAFETY_BOUND,
    ) -> None:
        self.payments = payments
        self.catalog = catalog if catalog is not None else seed_catalog()
        if database_url is not None:
            from paygate.ledger.migrations import upgrade
            from paygate.ledger.sql import make_engine

            engine: Engine | None = make_engine(database_url)
            assert engine is not None
            upgrade(engine)
        else:
            engine = getattr(payments.ledger, "engine", None)
            if not isinstance(engine, Engine):
                raise ConfigurationError(
                    "billing needs an SQL database: use an SQL ledger "
                    "(database_url = 'sqlite:///...') or pass Billing(database_url=...)"
                )
        self.store = Store(engine)
        self.clock: Clock = clock or (lambda: datetime.now(UTC))
        self.safety_bound = safety_bound
        self.rounding = payments.rounding
        # Legal documents, history, PDF, corrections (paygate.billing.documents);
        # billing.invoices(actor, account) still lists the billing records.
        from paygate.billing.documents.service import Invoices

        self.invoices = Invoices(self)

    # -- helpers -----------------------------------------------------------------
    def now(self) -> datetime:
        now = self.clock()
        if now.tzinfo is None:
            raise ConfigurationError("the billing clock must return aware datetimes (UTC)")
        return now.astimezone(UTC)

    @property
    def hook(self) -> Any:
        return self.payments.hook

    def _authorize(self, actor: object, action: Action, account: Account) -> None:
        if not isinstance(actor, Actor):
            raise InvalidRequest("actor must be a paygate.billing.Actor", param="actor")
        allowed = self.hook.paygate_billing_authorize(
            actor=actor, action=action.value, account=account
        )
        if allowed is not True:
            raise BillingPermissionDenied(
                f"{actor.ref!r} may not {action.value} on account {account.id}"
                + (
                    " (a sub-account: billing belongs to the main account)"
                    if account.parent_id
                    else ""
                )
            )

    def _policy(self, account: Account, sub: Subscription, change: str) -> ProrationPolicy:
        found = self.hook.paygate_billing_proration(
            context=ProrationContext(account=account, subscription=sub, change=change)
        )
        return ProrationPolicy.parse(found or ProrationPolicy.ACTUAL_DAYS.value)

    def _series(self, invoice: Invoice) -> str:
        found = self.hook.paygate_billing_number_series(invoice=invoice)
        if not isinstance(found, str) or not 1 <= len(found) <= 64:
            raise ConfigurationError("paygate_billing_number_series must name a 1-64 char series")
        return found

    def _emit(
        self, conn: Connection, event_type: str, account_id: str, key: str, **kw: Any
    ) -> None:
        self.store.add_event(
            conn, type=event_type, account_id=account_id, dedupe_key=key, now=self.now(), **kw
        )

    def _deliver(self) -> None:
        """Hand undelivered outbox events to ``paygate_billing_event``, in order,
        then mark them delivered (at least once: a crash in between, or two
        processes at once, may deliver an event twice; ``seq`` tells)."""
        with self.store.read() as conn:
            found = self.store.events(conn, undelivered=True)
        for event in found:
            self.hook.paygate_billing_event(event=event)
        if found:
            with self.store.write() as conn:
                self.store.mark_delivered(conn, [e.seq for e in found], self.now())
        self.invoices.issue_due()

    def _entries(self, sub: Subscription) -> list[Entry]:
        return [Entry(i.id, self.catalog.offer(i.offer), i.quantity) for i in sub.active_items()]

    def _period(self, sub: Subscription) -> Period:
        return Period(sub.period_index, sub.period_start, sub.period_end)

    # -- accounts ----------------------------------------------------------------------
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
        method: Card | PayPalWallet,
        *,
        idempotency_key: str,
    ) -> StoredPaymentMethod:
        """Check the card (the $1 verify, voided at once), store it, make it the
        account's method, and retry the account's open invoices at once."""
        with self.store.read() as conn:
            acct = self.store.account(conn, account_id)
        self._authorize(actor, Action.PAY, acct)
        if not isinstance(idempotency_key, str) or not 1 <= len(idempotency_key) <= 200:
            raise InvalidRequest(
                "idempotency_key is a 1-200 character string", param="idempotency_key"
            )
        customer = customer_of(acct)
        key = f"paygate-billing:{account_id}:pm:{idempotency_key}"
        if isinstance(method, Card):
            self.payments.verify(
                method, currency=acct.currency, customer=customer, idempotency_key=f"{key}:verify"
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
                    select(invoices.c.id).where(
                        and_(
                            invoices.c.account_id == account_id,
                            invoices.c.status == OPEN,
                            # still in dunning: a cancel stopped the others' retries
                            invoices.c.next_attempt_at.is_not(None),
                        )
                    )
                ).all()
            ]
        for invoice_id in open_ids:  # a new card retries what is owed, now
            self._collect(invoice_id, retry_now=True)
        self._deliver()
        return stored

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

    # -- subscriptions -------------------------------------------------------------------
    def subscription(self, actor: Actor, subscription_id: str) -> Subscription:
        with self.store.read() as conn:
            sub = self.store.subscription(conn, subscription_id)
            acct = self.store.account(conn, sub.account_id)
        self._authorize(actor, Action.VIEW, acct)
        return sub

    def subscribe(
        self,
        actor: Actor,
        account_id: str,
        plan: str,
        *,
        cycle: str = "monthly",
        addons: Sequence[tuple[str, int]] = (),
        idempotency_key: str,
    ) -> Subscription:
        """Start a subscription, charged in advance for its first period with
        the account's stored method. The same ``idempotency_key`` returns the
        same subscription and never charges twice."""
        if not isinstance(idempotency_key, str) or not 1 <= len(idempotency_key) <= 200:
            raise InvalidRequest(
                "idempotency_key is a 1-200 character string", param="idempotency_key"
            )
        offer = self.catalog.offer(plan)
        if offer.kind != "plan":
            raise InvalidRequest(f"{plan} is an add-on, not a plan", param="plan")
        cyc = self.catalog.cycle(cycle, offer)
        extras = [(self.catalog.offer(code), int(qty)) for code, qty in addons]
        for extra, qty in extras:
            self.catalog.cycle(cycle, extra)
            if extra.kind == "plan" or qty < 1:
                raise InvalidRequest(
                    f"{extra.code} x {qty} is not an add-on purchase", param="addons"
                )
        now = self.now()
        sub_id = "sub_" + fingerprint(account_id, idempotency_key)[:24]

        def start() -> Invoice:
            with self.store.write() as conn:
                acct = self.store.account(conn, account_id)
                self._authorize(actor, Action.BUY, acct)
                existing = conn.execute(
                    select(subscriptions.c.id).where(subscriptions.c.id == sub_id)
                ).first()
                if existing is None:
                    for o in [offer, *(e for e, _ in extras)]:
                        if acct.currency not in o.currencies():
                            raise CurrencyMismatch(
                                f"{o.code} is not priced in the account's currency {acct.currency}",
                                param="plan",
                            )
                        o.price(acct.currency, local_date(now, zone(acct.timezone)))
                    if acct.payment_method is None:
                        raise InvalidTransition(
                            "add a payment method first (subscriptions are charged in advance)",
                            param="payment_method",
                        )
                    tz = zone(acct.timezone)
                    anchor = local_date(now, tz)
                    first = period(anchor, cyc.interval, 0)
                    conn.execute(
                        insert(subscriptions).values(
                            id=sub_id,
                            account_id=account_id,
                            offer=offer.code,
                            cycle=cyc.code,
                            anchor=anchor,
                            anchor_index=0,
                            period_index=0,
                            period_start=first.start,
                            period_end=first.end,
                            entitlement=Entitlement.ACTIVE.value,
                            billing_state=BillingState.ACTIVE.value,
                            collection_state=CollectionState.CURRENT.value,
                            cancel_at_period_end=False,
                            next_action_at=first.end_at(tz),
                            version=1,
                            created_at=now,
                            updated_at=now,
                        )
                    )
                    rows = [(f"{sub_id}-plan", offer, 1)] + [
                        (f"{sub_id}-add{i}", o, q) for i, (o, q) in enumerate(extras, start=1)
                    ]
                    conn.execute(
                        insert(items),
                        [
                            {
                                "id": item_id,
                                "subscription_id": sub_id,
                                "kind": o.kind,
                                "offer": o.code,
                                "quantity": q,
                                "added_at": now,
                            }
                            for item_id, o, q in rows
                        ],
                    )
                    sub = self.store.subscription(conn, sub_id)
                    lines, _ = price_period(
                        self.payments.quote, acct, self._entries(sub), cyc, first
                    )
                    lines += self._taxes(acct, lines)
                    invoice = self.store.create_draft(
                        conn,
                        dedupe_key=f"{sub_id}:start",
                        account_id=account_id,
                        subscription_id=sub_id,
                        reason="subscribe",
                        currency=acct.currency,
                        lines=lines,
                        now=now,
                        period=(0, first.start, first.end),
                    )
                    self._emit(
                        conn,
                        "subscription.created",
                        account_id,
                        f"{sub_id}:created",
                        subscription_id=sub_id,
                    )
                else:
                    found = self.store.invoice_by_key(conn, f"{sub_id}:start")
                    assert found is not None  # made with the subscription, in one transaction
                    invoice = found
            return invoice

        try:
            invoice = start()
        except IntegrityError:
            # The same key at the same moment from another process: it made
            # the subscription; this call returns it (and its first charge).
            invoice = start()
        settled = self._collect(invoice.id)
        self._deliver()
        self._raise_if_aborted(settled)
        with self.store.read() as conn:
            return self.store.subscription(conn, sub_id)

    def _raise_if_aborted(self, inv: Invoice) -> None:
        """A purchase made now whose charge failed: say so (nothing was bought)."""
        if inv.status != DRAFT:
            return
        with self.store.read() as conn:
            row = conn.execute(
                select(payment_attempts.c.error_code, payment_attempts.c.status)
                .where(payment_attempts.c.invoice_id == inv.id)
                .order_by(payment_attempts.c.attempt_no.desc())
            ).first()
        if row is not None and row.status == "pending":
            raise ProviderUnavailable(
                f"the charge for invoice {inv.id} has no answer yet: the renewal runner "
                "settles it with the same idempotency key",
                retry_safe=True,
            )
        code = (row.error_code if row is not None else None) or "no_payment_method"
        raise PaymentFailed(f"the charge for invoice {inv.id} failed: {code}", decline_code=code)

    def _taxes(self, account: Account, lines: Sequence[DraftLine]) -> list[DraftLine]:
        found = self.hook.paygate_billing_tax_lines(
            context=TaxContext(account=account, currency=account.currency, lines=tuple(lines))
        )
        out = []
        for group in found or ():
            for tax in group or ():
                if tax.amount.currency != account.currency:
                    raise CurrencyMismatch(
                        f"a tax line in {tax.amount.currency} on a {account.currency} invoice"
                    )
                out.append(DraftLine(kind="tax", description=tax.label, amount=tax.amount))
        return out

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
            if inv.status not in (DRAFT, OPEN):
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
                    soon = now + _UNKNOWN_BACKOFF
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
            acct = self.store.account(conn, inv.account_id)
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
            return self._failed(conn, inv, acct, attempt_no, error or "card_declined")

    def _paid(self, conn: Connection, inv: Invoice, tx_id: str | None) -> Invoice:
        now = self.now()
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
            if sub.collection_state is not CollectionState.CURRENT:
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
        return self.store.invoice(conn, inv.id)

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
        # Final failure: past due, and the policy's end state (cancel, access cut).
        self.store.update_invoice(
            conn, inv, status=UNCOLLECTIBLE, next_attempt_at=None, closed_at=now
        )
        if owner is not None and owner.billing_state is not BillingState.CANCELED:
            self.store.update_subscription(
                conn,
                owner,
                now,
                collection_state=CollectionState.PAST_DUE.value,
                billing_state=BillingState.CANCELED.value,
                entitlement=Entitlement.NONE.value,
                next_action_at=None,
            )
            self._emit(
                conn,
                "subscription.past_due",
                inv.account_id,
                f"{owner.id}:past_due:{inv.id}",
                subscription_id=owner.id,
                invoice_id=inv.id,
            )
            self._emit(
                conn,
                "subscription.canceled",
                inv.account_id,
                f"{owner.id}:canceled",
                subscription_id=owner.id,
                payload={"why": "unpaid"},
            )
        return self.store.invoice(conn, inv.id)

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

    # -- changes: preview and apply ------------------------------------------------------
    def _preview(
        self, actor: Actor, subscription_id: str, kind: str, params: dict[str, Any]
    ) -> Preview:
        from paygate.billing.changes import plan_change, to_preview

        now = self.now()
        with self.store.read() as conn:
            sub = self.store.subscription(conn, subscription_id)
            acct = self.store.account(conn, sub.account_id)
            self._authorize(actor, _ACTION_OF[kind], acct)
            planned = plan_change(self, conn, acct, sub, kind, params, now)
            return to_preview(self, acct, sub, kind, params, planned, now)

    def preview_change(
        self,
        actor: Actor,
        subscription_id: str,
        *,
        plan: str | None = None,
        cycle: str | None = None,
    ) -> Preview:
        """Upgrade (now, prorated), downgrade or switch cycle (at the period end)."""
        params: dict[str, Any] = {}
        if plan is not None:
            params["plan"] = plan
        if cycle is not None:
            params["cycle"] = cycle
        if not params:
            raise InvalidRequest("name a plan or a cycle to change to", param="plan")
        return self._preview(actor, subscription_id, "change_plan", params)

    def preview_add_addon(
        self, actor: Actor, subscription_id: str, addon: str, *, quantity: int = 1
    ) -> Preview:
        """Buy an add-on or a toll-free number now, prorated to the period end."""
        return self._preview(
            actor, subscription_id, "add_addon", {"addon": addon, "quantity": quantity}
        )

    def preview_remove_addon(self, actor: Actor, subscription_id: str, item_id: str) -> Preview:
        """Drop an add-on at the period end (nothing is prorated)."""
        return self._preview(actor, subscription_id, "remove_addon", {"item": item_id})

    def apply(self, actor: Actor, preview: Preview) -> Subscription:
        """Do what ``preview`` showed, or refuse with :class:`StalePreview` if it
        would now do anything else."""
        from paygate.billing.changes import plan_change, to_preview

        if not isinstance(preview, Preview):
            raise InvalidRequest("apply takes a Preview from a preview_* call", param="preview")
        now = self.now()
        with self.store.write() as conn:
            sub = self.store.subscription(conn, preview.subscription_id, lock=True)
            acct = self.store.account(conn, sub.account_id)
            self._authorize(actor, _ACTION_OF[preview.kind], acct)
            planned = plan_change(self, conn, acct, sub, preview.kind, preview.params, now)
            fresh = to_preview(self, acct, sub, preview.kind, preview.params, planned, now)
            if fresh.fingerprint != preview.fingerprint:
                raise StalePreview(
                    f"this preview of {preview.kind} is stale (the subscription, the date or "
                    "a price changed since): preview again"
                )
            if planned.timing == "period_end":
                self.store.update_subscription(conn, sub, now, pending=planned.pending or None)
                self._emit(
                    conn,
                    "subscription.change_scheduled",
                    acct.id,
                    f"{sub.id}:scheduled:{fresh.fingerprint}",
                    subscription_id=sub.id,
                    payload={"at": sub.period_end.isoformat(), **preview.params},
                )
                invoice = None
            else:
                invoice = self.store.create_draft(
                    conn,
                    dedupe_key=f"{sub.id}:change:{fresh.fingerprint}",
                    account_id=acct.id,
                    subscription_id=sub.id,
                    reason="change",
                    currency=acct.currency,
                    lines=list(planned.lines) + self._taxes(acct, planned.lines),
                    now=now,
                    period=(sub.period_index, sub.period_start, sub.period_end),
                )
                pending = dict(planned.pending)
                pending["on_paid"] = {"invoice": invoice.id, **planned.on_paid}
                self.store.update_subscription(conn, sub, now, pending=pending)
        if invoice is not None:
            settled = self._collect(invoice.id)
            self._raise_if_aborted(settled)
        self._deliver()
        with self.store.read() as conn:
            return self.store.subscription(conn, preview.subscription_id)

    # -- lifecycle -----------------------------------------------------------------------
    def _stop_retries(self, conn: Connection, sub: Subscription) -> None:
        """Cancelling stops dunning: open invoices are not tried again (lesson 9)."""
        conn.execute(
            update(invoices)
            .where(and_(invoices.c.subscription_id == sub.id, invoices.c.status == OPEN))
            .values(next_attempt_at=None)
        )

    def cancel(self, actor: Actor, subscription_id: str, *, at: str = "period_end") -> Subscription:
        """Cancel at the period end (access until then) or now (access ends now;
        nothing is refunded here: credit notes belong to the invoices layer)."""
        if at not in ("period_end", "now"):
            raise InvalidRequest("at must be 'period_end' or 'now'", param="at")
        now = self.now()
        with self.store.write() as conn:
            sub = self.store.subscription(conn, subscription_id, lock=True)
            acct = self.store.account(conn, sub.account_id)
            self._authorize(actor, Action.CANCEL, acct)
            if sub.billing_state is BillingState.CANCELED:
                raise InvalidTransition(f"subscription {sub.id} is already canceled")
            self._stop_retries(conn, sub)
            if at == "now" or sub.billing_state is BillingState.FROZEN:
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
                    payload={"by": actor.ref, "at": "now"},
                )
            else:
                self.store.update_subscription(conn, sub, now, cancel_at_period_end=True)
                self._emit(
                    conn,
                    "subscription.cancel_scheduled",
                    acct.id,
                    f"{sub.id}:cancel_scheduled:{sub.version}",
                    subscription_id=sub.id,
                    payload={"by": actor.ref, "at": sub.period_end.isoformat()},
                )
        self._deliver()
        return (
            self.subscription(actor, subscription_id)
            if not actor.staff
            else self._get(subscription_id)
        )

    def reactivate(self, actor: Actor, subscription_id: str) -> Subscription:
        """Take back a cancel-at-period-end before the period ends."""
        now = self.now()
        with self.store.write() as conn:
            sub = self.store.subscription(conn, subscription_id, lock=True)
            acct = self.store.account(conn, sub.account_id)
            self._authorize(actor, Action.BUY, acct)
            if sub.billing_state is not BillingState.ACTIVE or not sub.cancel_at_period_end:
                raise InvalidTransition(f"subscription {sub.id} is not cancelling")
            self.store.update_subscription(conn, sub, now, cancel_at_period_end=False)
            self._emit(
                conn,
                "subscription.reactivated",
                acct.id,
                f"{sub.id}:reactivated:{sub.version}",
                subscription_id=sub.id,
            )
        self._deliver()
        return self._get(subscription_id)

    def freeze(self, actor: Actor, subscription_id: str, *, days: int) -> Subscription:
        """Freeze for ``days`` (at most the policy's 90): no access, no charge,
        no renewal; the unused part of the period is kept for the resume."""
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_FREEZE_DAYS:
            raise InvalidTransition(
                f"a freeze lasts 1 to {MAX_FREEZE_DAYS} days, not {days!r:.20}", param="days"
            )
        now = self.now()
        with self.store.write() as conn:
            sub = self.store.subscription(conn, subscription_id, lock=True)
            acct = self.store.account(conn, sub.account_id)
            self._authorize(actor, Action.FREEZE, acct)
            from paygate.billing.changes import check_changeable

            check_changeable(sub)
            tz = zone(acct.timezone)
            today = local_date(now, tz)
            until = today + timedelta(days=days)
            self.store.update_subscription(
                conn,
                sub,
                now,
                billing_state=BillingState.FROZEN.value,
                entitlement=Entitlement.NONE.value,
                frozen_on=today,
                frozen_until=until,
                next_action_at=local_midnight(until, tz),
            )
            self._emit(
                conn,
                "subscription.frozen",
                acct.id,
                f"{sub.id}:frozen:{sub.version}",
                subscription_id=sub.id,
                payload={"until": until.isoformat()},
            )
        self._deliver()
        return self._get(subscription_id)

    def unfreeze(self, actor: Actor, subscription_id: str) -> Subscription:
        """Resume now: the period moves by the days spent frozen."""
        now = self.now()
        with self.store.write() as conn:
            sub = self.store.subscription(conn, subscription_id, lock=True)
            acct = self.store.account(conn, sub.account_id)
            self._authorize(actor, Action.FREEZE, acct)
            self._resume(conn, sub, acct, now)
        self._deliver()
        return self._get(subscription_id)

    def _resume(self, conn: Connection, sub: Subscription, acct: Account, now: datetime) -> None:
        if sub.billing_state is not BillingState.FROZEN or sub.frozen_on is None:
            raise InvalidTransition(f"subscription {sub.id} is not frozen")
        tz = zone(acct.timezone)
        today = min(local_date(now, tz), sub.frozen_until or local_date(now, tz))
        # The current period ends later by the days spent frozen (what was
        # paid for and not used is kept); later periods count from that end.
        shift = timedelta(days=max((today - sub.frozen_on).days, 0))
        moved = Period(sub.period_index, sub.period_start + shift, sub.period_end + shift)
        self.store.update_subscription(
            conn,
            sub,
            now,
            billing_state=BillingState.ACTIVE.value,
            entitlement=Entitlement.ACTIVE.value,
            anchor=moved.end,
            anchor_index=sub.period_index + 1,
            period_start=moved.start,
            period_end=moved.end,
            frozen_on=None,
            frozen_until=None,
            next_action_at=moved.end_at(tz),
        )
        self._emit(
            conn,
            "subscription.unfrozen",
            acct.id,
            f"{sub.id}:unfrozen:{sub.version}",
            subscription_id=sub.id,
            payload={"period_end": moved.end.isoformat()},
        )

    def _get(self, subscription_id: str) -> Subscription:
        with self.store.read() as conn:
            return self.store.subscription(conn, subscription_id)

    # -- usage ------------------------------------------------------------------------------
    def record_usage(
        self,
        actor: Actor,
        subscription_id: str,
        *,
        event_id: str,
        metric: str,
        quantity: int,
        at: datetime | None = None,
    ) -> bool:
        """Record usage once per ``event_id`` (a repeat is ignored: ``False``)."""
        if not isinstance(event_id, str) or not 1 <= len(event_id) <= 255:
            raise InvalidRequest("event_id is a 1-255 character string", param="event_id")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
            raise InvalidRequest("quantity must be a non-negative integer", param="quantity")
        when = at or self.now()
        if when.tzinfo is None:
            raise InvalidRequest("at must be timezone-aware", param="at")
        with self.store.write() as conn:
            sub = self.store.subscription(conn, subscription_id)
            acct = self.store.account(conn, sub.account_id)
            self._authorize(actor, Action.RECORD_USAGE, acct)
            if not any(
                metric in self.catalog.offer(i.offer).allowances
                or any(metric in p.overage for p in self.catalog.offer(i.offer).prices)
                for i in sub.active_items()
            ):
                raise InvalidRequest(f"nothing on {sub.id} meters {metric!r:.40}", param="metric")
            tz = zone(acct.timezone)
            index = sub.period_index
            if when >= local_midnight(sub.period_end, tz):
                index += 1  # after the period end, before the renewal ran: the next period
            return self.store.record_usage(
                conn,
                event_id=event_id,
                subscription_id=sub.id,
                metric=metric,
                quantity=quantity,
                occurred_at=when,
                period_index=index,
            )

    # -- details ----------------------------------------------------------------------------
    def details(self, actor: Actor, account: str) -> Details:
        """The owner's billing details: plan size, schedule, price after
        discounts, renewal date, free-minutes balance, payment method, add-ons,
        status and the next charge, previewed with the renewal's own code."""
        with self.store.read() as conn:
            acct = self.store.account(conn, account)
            self._authorize(actor, Action.VIEW, acct)
            subs = self.store.subscriptions_of(conn, acct.id)
            if not subs:
                raise InvalidTransition(f"account {acct.id} has no subscription", param="account")
            live = [s for s in subs if s.billing_state is not BillingState.CANCELED]
            sub = (live or subs)[-1]
            usage = self.store.usage(conn, sub.id, sub.period_index)
        offer = self.catalog.offer(sub.offer)
        cyc = self.catalog.cycle(sub.cycle)
        entries = self._entries(sub)
        nxt = period(sub.anchor, cyc.interval, sub.period_index + 1 - sub.anchor_index)
        lines, _ = self._renewal_lines(acct, sub, usage)
        total = sum((ln.amount for ln in lines), Money.zero(acct.currency))
        plan_lines, _ = price_period(self.payments.quote, acct, entries, cyc, nxt)
        price = sum((ln.amount for ln in plan_lines), Money.zero(acct.currency))
        allowances: dict[str, tuple[int, int, int]] = {}
        for e in entries:
            for metric, units in e.offer.allowances.items():
                inc = (
                    allowances.get(metric, (0, 0, 0))[0] + units * e.quantity * cyc.allowance_months
                )
                used = usage.get(metric, 0)
                allowances[metric] = (inc, used, max(inc - used, 0))
        addons = tuple(
            (self.catalog.offer(i.offer).name, i.quantity)
            for i in sub.active_items()
            if i.kind != "plan"
        )
        running = sub.billing_state is BillingState.ACTIVE and not sub.cancel_at_period_end
        return Details(
            account_id=acct.id,
            status=sub.status,
            plan=offer.name,
            plan_size=offer.attendees,
            cycle=cyc.code,
            schedule=f"every {cyc.interval}",
            price=price,
            renewal_date=sub.period_end if running else None,
            payment_method=_method_text(acct.payment_method),
            addons=addons,
            allowances=allowances,
            next_charge=tuple(lines) if running else (),
            next_charge_total=total if running else Money.zero(acct.currency),
            subscription_id=sub.id,
        )

    def events(self, *, after: int = 0, limit: int = 1000) -> list[BillingEvent]:
        """The events outbox, in order (``seq``), for hosts that poll."""
        with self.store.read() as conn:
            return self.store.events(conn, after=after, limit=limit)

    # -- renewals -------------------------------------------------------------------------
    def _renewal_lines(
        self, acct: Account, sub: Subscription, usage: dict[str, int]
    ) -> tuple[list[DraftLine], Any]:
        """The next period's invoice lines (pending changes applied, overage of
        the period that ends): what ``run_once`` will charge."""
        pending = sub.pending or {}
        old_cycle = self.catalog.cycle(sub.cycle)
        new_cycle = self.catalog.cycle(pending.get("cycle", sub.cycle))
        removed = set(pending.get("remove", []))
        entries_now = self._entries(sub)
        entries = [
            Entry(
                e.item_id,
                self.catalog.offer(pending["offer"])
                if e.offer.kind == "plan" and "offer" in pending
                else e.offer,
                e.quantity,
            )
            for e in entries_now
            if e.item_id not in removed
        ]
        if new_cycle.code != old_cycle.code:
            anchor, anchor_index = sub.period_end, sub.period_index + 1
        else:
            anchor, anchor_index = sub.anchor, sub.anchor_index
        nxt = period(anchor, new_cycle.interval, sub.period_index + 1 - anchor_index)
        nxt = Period(sub.period_index + 1, nxt.start, nxt.end)
        extra = overage_items(
            entries_now, old_cycle, usage, acct.currency, sub.period_start, self.rounding
        )
        lines, _ = price_period(self.payments.quote, acct, entries, new_cycle, nxt, extra)
        lines += self._taxes(acct, lines)
        return lines, (nxt, anchor, anchor_index, new_cycle, entries, removed)

    def run_once(
        self,
        *,
        batch: int = 50,
        lease_seconds: float = 120.0,
        worker: str | None = None,
        reconcile_after: float | None = 300.0,
    ) -> RunReport:
        """Renew, retry and end what is due, once. Safe to run from many
        processes at once (PostgreSQL: ``FOR UPDATE SKIP LOCKED`` leases);
        on SQLite a second concurrent runner gets :class:`RunnerBusy`.

        :param reconcile_after: charges left pending by a killed worker are
            reconciled with the gateway (``Payments.reconcile``) once this
            many seconds old; ``None``: never here.
        """
        from paygate.billing.runner import run_once

        return run_once(
            self,
            batch=batch,
            lease_seconds=lease_seconds,
            worker=worker,
            reconcile_after=reconcile_after,
        )


#: The permission each change asks for.
_ACTION_OF: dict[str, Action] = {
    "change_plan": Action.BUY,
    "add_addon": Action.BUY,
    "remove_addon": Action.CHANGE,
}


def _line_from_row(ln: Any, ccy: str) -> Any:
    from paygate.billing.models import InvoiceLine

    return InvoiceLine(
        id=ln.id,
        position=ln.position,
        kind=ln.kind,
        description=ln.description,
        amount=Money.from_minor(ln.amount_minor, ccy),
        quantity=ln.quantity,
        offer=ln.offer,
        price_version=ln.price_version,
        item_id=ln.item_id,
        net=None if ln.net_minor is None else Money.from_minor(ln.net_minor, ccy),
        period_start=ln.period_start,
        period_end=ln.period_end,
        credits_line_id=ln.credits_line_id,
        proration=ln.proration,
    )


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


__all__ = ["Billing", "Details", "Preview", "RunReport", "seed_catalog"]

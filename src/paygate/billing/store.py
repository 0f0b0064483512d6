"""Billing rows in the ledger's database: read, write, number, guard.

Every write runs in one short transaction (``BEGIN IMMEDIATE`` on SQLite,
the ledger engine's write option), never across a call to a provider.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from paygate.billing.errors import BillingNotFound, ImmutableInvoice
from paygate.billing.models import (
    Account,
    BillingEvent,
    BillingState,
    CollectionState,
    DraftLine,
    Entitlement,
    Invoice,
    InvoiceLine,
    Subscription,
    SubscriptionItem,
)
from paygate.errors import InvalidRequest
from paygate.ledger.billing_schema import (
    accounts,
    events,
    invoice_lines,
    invoices,
    items,
    members,
    number_series,
    subscriptions,
    usage_events,
)
from paygate.models import StoredPaymentMethod
from paygate.money import Money

#: Invoice statuses. ``draft`` has no number; the others are final.
DRAFT, OPEN, PAID, UNCOLLECTIBLE, VOID = "draft", "open", "paid", "uncollectible", "void"
#: A credit record (negative total, e.g. a cancel's unused part) whose money went back.
REFUNDED = "refunded"
_ALLOWED = {
    DRAFT: {DRAFT, OPEN, PAID, REFUNDED, VOID},
    REFUNDED: {REFUNDED},
    OPEN: {OPEN, PAID, UNCOLLECTIBLE, VOID},
    UNCOLLECTIBLE: {UNCOLLECTIBLE, PAID, VOID},
    PAID: {PAID},
    VOID: {VOID},
}
#: The fields of a finalized invoice that may still change (collection only).
COLLECTION_FIELDS = frozenset(
    {
        "status",
        "amount_paid_minor",
        "attempt_count",
        "next_attempt_at",
        "transaction_id",
        "closed_at",
    }
)


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def utc(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive: every billing instant is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


#: The item / line columns joined onto a subscription / invoice row, renamed
#: (both tables share column names with their parent).
_ITEM_COLUMNS = tuple(c.label(f"item_{c.name}") for c in items.c)
_LINE_COLUMNS = tuple(c.label(f"line_{c.name}") for c in invoice_lines.c)


class _Prefixed:
    """A joined row seen as the child row it carries (``item_id`` -> ``id``)."""

    __slots__ = ("_prefix", "_row")

    def __init__(self, row: Any, prefix: str) -> None:
        self._row, self._prefix = row, prefix

    def __getattr__(self, name: str) -> Any:
        return getattr(self._row, self._prefix + name)


#: The statements run on every renewal, built once (see :meth:`Store.statement`);
#: ``b_``-named parameters are the WHERE clause's, the others the columns set.
_SUBSCRIPTION = (
    select(subscriptions, *_ITEM_COLUMNS)
    .select_from(subscriptions.outerjoin(items, items.c.subscription_id == subscriptions.c.id))
    .where(subscriptions.c.id == bindparam("b_id"))
    .order_by(items.c.added_at, items.c.id)
)
_INVOICE = (
    select(invoices, *_LINE_COLUMNS)
    .select_from(invoices.outerjoin(invoice_lines, invoice_lines.c.invoice_id == invoices.c.id))
    .where(invoices.c.id == bindparam("b_id"))
    .order_by(invoice_lines.c.position)
)
# The account and its members in one statement (it is read on every renewal
# and every charge): one row per member, or one with no member.
_ACCOUNT = (
    select(accounts, members.c.actor_ref, members.c.role)
    .select_from(accounts.outerjoin(members, members.c.account_id == accounts.c.id))
    .where(accounts.c.id == bindparam("b_id"))
)
# The subscription, its items, its account and the account's members.
_SUBSCRIPTION_ACCOUNT = (
    select(
        subscriptions,
        *_ITEM_COLUMNS,
        *(c.label(f"acct_{c.name}") for c in accounts.c),
        members.c.actor_ref.label("member_ref"),
        members.c.role.label("member_role"),
    )
    .select_from(
        subscriptions.join(accounts, accounts.c.id == subscriptions.c.account_id)
        .outerjoin(items, items.c.subscription_id == subscriptions.c.id)
        .outerjoin(members, members.c.account_id == accounts.c.id)
    )
    .where(subscriptions.c.id == bindparam("b_id"))
    .order_by(items.c.added_at, items.c.id)
)
_UPDATE_SUBSCRIPTION = update(subscriptions).where(
    and_(
        subscriptions.c.id == bindparam("b_id"),
        subscriptions.c.version == bindparam("b_version"),
    )
)
_UPDATE_INVOICE = update(invoices).where(invoices.c.id == bindparam("b_id"))
_UPDATE_INVOICE_IF = update(invoices).where(
    and_(invoices.c.id == bindparam("b_id"), invoices.c.status == bindparam("b_status"))
)
_INSERT_LINES = insert(invoice_lines)


def line_from_row(ln: Any, ccy: str) -> InvoiceLine:
    """An invoice line as read from its row (amounts in ``ccy``'s minor units)."""
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


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._stmts: dict[str, Any] = {}
        #: (unlocked, locked) reads of a subscription and of an invoice
        self._sub_stmts = (_SUBSCRIPTION, _SUBSCRIPTION.with_for_update(of=subscriptions))
        self._invoice_stmts = (_INVOICE, _INVOICE.with_for_update(of=invoices))

    def statement(self, name: str, build: Any) -> Any:
        """The statement ``name`` of this store's dialect, built once.

        The hot statements are built once and run with their parameters: a
        statement built per call cost SQLAlchemy more CPU (constructing it,
        then its cache key) than the round trip itself.
        """
        found = self._stmts.get(name)
        if found is None:
            found = self._stmts[name] = build()
        return found

    # -- transactions --------------------------------------------------------
    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction (SQLite: ``BEGIN IMMEDIATE``)."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(paygate_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def _insert(self, table: Any) -> Any:
        """An INSERT that ignores a conflicting row (the caller re-reads)."""
        if self.dialect == "postgresql":
            return postgresql.insert(table).on_conflict_do_nothing()
        if self.dialect == "sqlite":
            return sqlite.insert(table).on_conflict_do_nothing()
        raise InvalidRequest(f"billing supports SQLite and PostgreSQL, not {self.dialect}")

    # -- accounts ------------------------------------------------------------
    def account(self, conn: Connection, account_id: object) -> Account:
        if not isinstance(account_id, str):
            raise InvalidRequest("account must be an account id string", param="account")
        # The account and its members in one statement (it is read on every
        # renewal and every charge): one row per member, or one with no member.
        rows = conn.execute(_ACCOUNT, {"b_id": account_id}).all()
        if not rows:
            raise BillingNotFound(f"no billing account {account_id!r:.80}")
        return self._account(rows[0], {(r.actor_ref, r.role) for r in rows if r.actor_ref})

    @staticmethod
    def _account(row: Any, found: set[tuple[str, str]]) -> Account:
        method = (
            StoredPaymentMethod.model_validate_json(row.payment_method)
            if row.payment_method
            else None
        )
        return Account(
            id=row.id,
            owner_ref=row.owner_ref,
            parent_id=row.parent_id,
            currency=row.currency,
            timezone=row.timezone,
            nonprofit=bool(row.nonprofit),
            payment_method=method,
            members=tuple(sorted(found)),
        )

    def subscription_and_account(
        self, conn: Connection, stmt: Any, params: dict[str, Any], subscription_id: str
    ) -> tuple[Subscription, Account, Any]:
        """The subscription, its account and the first row of ``stmt``, a
        :meth:`subscription_account_select` (one statement where the two
        reads took two)."""
        rows = conn.execute(stmt, params).all()
        if not rows:
            raise BillingNotFound(f"no subscription {subscription_id!r:.80}")
        # One row per item and member: each item once, in the rows' order.
        found = {r.item_id: _Prefixed(r, "item_") for r in rows if r.item_id is not None}
        sub = self._subscription(rows[0], list(found.values()))
        people = {(r.member_ref, r.member_role) for r in rows if r.member_ref is not None}
        return sub, self._account(_Prefixed(rows[0], "acct_"), people), rows[0]

    def subscription_account_select(self, *extra: Any, lock: bool = False) -> Any:
        """The statement of :meth:`subscription_and_account` with ``extra``
        columns (its parameter is ``b_id``); built once by its caller
        (:meth:`statement`)."""
        stmt = _SUBSCRIPTION_ACCOUNT.add_columns(*extra)
        if lock and self.dialect == "postgresql":
            stmt = stmt.with_for_update(of=subscriptions)
        return stmt

    # -- subscriptions -----------------------------------------------------------
    def subscription(
        self, conn: Connection, subscription_id: object, *, lock: bool = False
    ) -> Subscription:
        if not isinstance(subscription_id, str):
            raise InvalidRequest("subscription must be an id string", param="subscription")
        rows = conn.execute(
            self._sub_stmts[lock and self.dialect == "postgresql"], {"b_id": subscription_id}
        ).all()
        if not rows:
            raise BillingNotFound(f"no subscription {subscription_id!r:.80}")
        found = [_Prefixed(r, "item_") for r in rows if r.item_id is not None]
        return self._subscription(rows[0], found)

    @staticmethod
    def _subscription(row: Any, item_rows: Sequence[Any]) -> Subscription:
        return Subscription(
            id=row.id,
            account_id=row.account_id,
            offer=row.offer,
            cycle=row.cycle,
            anchor=row.anchor,
            anchor_index=row.anchor_index,
            period_index=row.period_index,
            period_start=row.period_start,
            period_end=row.period_end,
            entitlement=Entitlement(row.entitlement),
            billing_state=BillingState(row.billing_state),
            collection_state=CollectionState(row.collection_state),
            cancel_at_period_end=bool(row.cancel_at_period_end),
            frozen_on=row.frozen_on,
            frozen_until=row.frozen_until,
            pending=json.loads(row.pending) if row.pending else None,
            next_action_at=utc(row.next_action_at),
            version=row.version,
            items=tuple(
                SubscriptionItem(
                    id=i.id,
                    kind=i.kind,
                    offer=i.offer,
                    quantity=i.quantity,
                    added_at=utc(i.added_at) or datetime.min.replace(tzinfo=UTC),
                    removed_at=utc(i.removed_at),
                )
                for i in item_rows
            ),
            review_reason=row.review_reason,
        )

    def subscriptions_of(self, conn: Connection, account_id: str) -> list[Subscription]:
        rows = conn.execute(
            select(subscriptions.c.id)
            .where(subscriptions.c.account_id == account_id)
            .order_by(subscriptions.c.created_at, subscriptions.c.id)
        ).all()
        return [self.subscription(conn, r.id) for r in rows]

    def update_subscription(
        self, conn: Connection, sub: Subscription, now: datetime, **values: Any
    ) -> None:
        """Update with an optimistic version check: a concurrent change is refused."""
        if "pending" in values and values["pending"] is not None:
            values["pending"] = json.dumps(values["pending"], sort_keys=True)
        done = conn.execute(
            _UPDATE_SUBSCRIPTION,
            {"b_id": sub.id, "b_version": sub.version, **values, "version": sub.version + 1}
            | {"updated_at": now},
        )
        if done.rowcount != 1:
            from paygate.billing.errors import StalePreview

            raise StalePreview(
                f"subscription {sub.id} changed while this change was being made: try again"
            )

    # -- invoices ------------------------------------------------------------
    def invoice(self, conn: Connection, invoice_id: object, *, lock: bool = False) -> Invoice:
        """The invoice and its lines; ``lock``: hold its row until the
        transaction ends (PostgreSQL; SQLite's write lock already serializes)."""
        if not isinstance(invoice_id, str):
            raise InvalidRequest("invoice must be an id string", param="invoice")
        rows = conn.execute(
            self._invoice_stmts[lock and self.dialect == "postgresql"], {"b_id": invoice_id}
        ).all()
        if not rows:
            raise BillingNotFound(f"no invoice {invoice_id!r:.80}")
        return self._invoice_of(rows[0], [_Prefixed(r, "line_") for r in rows if r.line_id])

    def invoice_by_key(self, conn: Connection, dedupe_key: str) -> Invoice | None:
        row = conn.execute(select(invoices).where(invoices.c.dedupe_key == dedupe_key)).first()
        return self._invoice(conn, row) if row else None

    def _invoice(self, conn: Connection, row: Any) -> Invoice:
        lines = conn.execute(
            select(invoice_lines)
            .where(invoice_lines.c.invoice_id == row.id)
            .order_by(invoice_lines.c.position)
        ).all()
        return self._invoice_of(row, lines)

    @staticmethod
    def _invoice_of(row: Any, lines: Sequence[Any]) -> Invoice:
        ccy = row.currency
        return Invoice(
            id=row.id,
            account_id=row.account_id,
            subscription_id=row.subscription_id,
            reason=row.reason,
            status=row.status,
            series=row.series,
            number=row.number,
            currency=ccy,
            total=Money.from_minor(row.total_minor, ccy),
            amount_paid=Money.from_minor(row.amount_paid_minor, ccy),
            period_index=row.period_index,
            period_start=row.period_start,
            period_end=row.period_end,
            attempt_count=row.attempt_count,
            next_attempt_at=utc(row.next_attempt_at),
            transaction_id=row.transaction_id,
            created_at=utc(row.created_at) or datetime.min.replace(tzinfo=UTC),
            finalized_at=utc(row.finalized_at),
            closed_at=utc(row.closed_at),
            lines=tuple(line_from_row(ln, ccy) for ln in lines),
        )

    def invoices_of(self, conn: Connection, account_id: str) -> list[Invoice]:
        rows = conn.execute(
            select(invoices)
            .where(invoices.c.account_id == account_id)
            # Made at the same instant: in number order, drafts last.
            .order_by(
                invoices.c.created_at,
                invoices.c.number.is_(None),
                invoices.c.number,
                invoices.c.id,
            )
        ).all()
        return [self._invoice(conn, r) for r in rows]

    def create_draft(
        self,
        conn: Connection,
        *,
        dedupe_key: str,
        account_id: str,
        subscription_id: str | None,
        reason: str,
        currency: str,
        lines: Sequence[DraftLine],
        now: datetime,
        period: tuple[int, Any, Any] | None = None,
        credit: bool = False,
    ) -> Invoice:
        """A draft invoice with its lines, or the invoice already made under
        ``dedupe_key`` (a re-run of the same period makes nothing new).
        ``credit``: a credit record, whose total is negative (what goes back)."""
        made = self.new_draft(
            conn,
            dedupe_key=dedupe_key,
            account_id=account_id,
            subscription_id=subscription_id,
            reason=reason,
            currency=currency,
            lines=lines,
            now=now,
            period=period,
            credit=credit,
        )
        if made is not None:
            return made
        existing = self.invoice_by_key(conn, dedupe_key)
        assert existing is not None  # the insert met it
        return existing

    def new_draft(
        self,
        conn: Connection,
        *,
        dedupe_key: str,
        account_id: str,
        subscription_id: str | None,
        reason: str,
        currency: str,
        lines: Sequence[DraftLine],
        now: datetime,
        period: tuple[int, Any, Any] | None = None,
        attempts: int = 0,
        credit: bool = False,
    ) -> Invoice | None:
        """Like :meth:`create_draft`, but ``None`` when ``dedupe_key`` already
        has an invoice (nothing is written then).

        The invoice is returned as written, built here rather than read back
        (a renewal makes one per subscription: the read was a statement each).
        ``attempts``: the attempt count it is written with (the caller writes
        that attempt in the same transaction); ``credit``: as for
        :meth:`create_draft`.
        """
        total = 0
        for line in lines:
            if line.amount.currency != currency:
                if self.invoice_by_key(conn, dedupe_key) is not None:
                    return None
                raise InvalidRequest(f"a {line.amount.currency} line on a {currency} invoice")
            total += line.amount.minor_units
        if (total < 0) != credit:
            if self.invoice_by_key(conn, dedupe_key) is not None:
                return None
            raise InvalidRequest(
                f"an invoice total cannot be negative ({total} minor units)"
                if not credit
                else f"a credit record's total is negative ({total} minor units)"
            )
        invoice_id = new_id("inv")
        p_index, p_start, p_end = period if period else (None, None, None)
        # ON CONFLICT DO NOTHING: an invoice already made under the key (a
        # re-run, or a concurrent runner) is told by the missing id, without
        # a read first and without aborting the transaction.
        made = conn.execute(
            self.statement(
                "insert_invoice", lambda: self._insert(invoices).returning(invoices.c.id)
            ),
            dict(
                id=invoice_id,
                account_id=account_id,
                subscription_id=subscription_id,
                dedupe_key=dedupe_key,
                reason=reason,
                status=DRAFT,
                series=None,
                number=None,
                currency=currency,
                total_minor=total,
                amount_paid_minor=0,
                period_index=p_index,
                period_start=p_start,
                period_end=p_end,
                attempt_count=attempts,
                created_at=now,
            ),
        ).first()
        if made is None:
            return None
        # The lines as reading them back gives them: amounts in minor units.
        made_lines = tuple(
            InvoiceLine(
                id=new_id("il"),
                position=pos,
                kind=ln.kind,
                description=ln.description[:500],
                amount=Money.from_minor(ln.amount.minor_units, currency),
                quantity=ln.quantity,
                offer=ln.offer,
                price_version=ln.price_version,
                item_id=ln.item_id,
                net=None if ln.net is None else Money.from_minor(ln.net.minor_units, currency),
                period_start=ln.period_start,
                period_end=ln.period_end,
                credits_line_id=ln.credits_line_id,
                proration=ln.proration,
            )
            for pos, ln in enumerate(lines, start=1)
        )
        rows = [
            {
                "id": ln.id,
                "invoice_id": invoice_id,
                "position": ln.position,
                "kind": ln.kind,
                "description": ln.description,
                "offer": ln.offer,
                "price_version": ln.price_version,
                "item_id": ln.item_id,
                "quantity": ln.quantity,
                "amount_minor": ln.amount.minor_units,
                "net_minor": None if ln.net is None else ln.net.minor_units,
                "period_start": ln.period_start,
                "period_end": ln.period_end,
                "credits_line_id": ln.credits_line_id,
                "proration": ln.proration,
            }
            for ln in made_lines
        ]
        if rows:
            conn.execute(_INSERT_LINES, rows)
        zero = Money.from_minor(0, currency)
        return Invoice(
            id=invoice_id,
            account_id=account_id,
            subscription_id=subscription_id,
            reason=reason,
            status=DRAFT,
            series=None,
            number=None,
            currency=currency,
            total=Money.from_minor(total, currency),
            amount_paid=zero,
            period_index=p_index,
            period_start=p_start,
            period_end=p_end,
            attempt_count=attempts,
            next_attempt_at=None,
            transaction_id=None,
            created_at=now,
            finalized_at=None,
            closed_at=None,
            lines=made_lines,
        )

    def take_number(self, conn: Connection, series: str) -> int:
        """The next number of ``series`` from its counter row, in the caller's
        transaction: a rollback gives it back, so numbers have no gaps."""
        if not isinstance(series, str) or not 1 <= len(series) <= 64:
            raise InvalidRequest("an invoice number series is a 1-64 character name")
        # One upsert: a new series' row starts past its first number; an
        # existing one is incremented under its row lock, held to the end of
        # the caller's transaction (so two finalizations never share a number).
        value = conn.execute(self._upsert_number(), {"series": series}).scalar_one()
        return int(value) - 1

    def _upsert_number(self) -> Any:
        def build() -> Any:
            self._insert(number_series)  # refuses a dialect billing does not support
            dialect = postgresql if self.dialect == "postgresql" else sqlite
            ins = dialect.insert(number_series).values(series=bindparam("series"), next_value=2)
            return ins.on_conflict_do_update(
                index_elements=[number_series.c.series],
                set_={"next_value": number_series.c.next_value + 1},
            ).returning(number_series.c.next_value)

        return self.statement("take_number", build)

    def update_invoice(self, conn: Connection, invoice: Invoice, **values: Any) -> None:
        """Change an invoice, refusing in code what the database triggers refuse."""
        self.check_invoice_change(invoice, values)
        conn.execute(_UPDATE_INVOICE, {"b_id": invoice.id, **values})

    def update_invoice_if(
        self, conn: Connection, invoice: Invoice, expected: str, values: dict[str, Any]
    ) -> bool:
        """Change an invoice still in status ``expected`` (compare-and-set);
        whether it was. The caller checked the change
        (:meth:`check_invoice_change`)."""
        done = conn.execute(
            _UPDATE_INVOICE_IF, {"b_id": invoice.id, "b_status": expected, **values}
        )
        return bool(done.rowcount == 1)

    @staticmethod
    def check_invoice_change(invoice: Invoice, values: dict[str, Any]) -> None:
        """Refuse in code what the database triggers refuse (before writing)."""
        if invoice.status != DRAFT:
            frozen = sorted(set(values) - COLLECTION_FIELDS)
            if frozen:
                raise ImmutableInvoice(
                    f"invoice {invoice.series}-{invoice.number} is final: {frozen} cannot change"
                )
        status = values.get("status", invoice.status)
        if status not in _ALLOWED[invoice.status]:
            raise ImmutableInvoice(f"an invoice cannot go from {invoice.status} to {status}")

    def finalize(
        self, conn: Connection, invoice: Invoice, *, series: str, status: str, now: datetime
    ) -> Invoice:
        """Number a draft (from the series' counter row) and make it final."""
        if invoice.status != DRAFT:
            return invoice
        number = self.take_number(conn, series)
        done = conn.execute(
            update(invoices)
            .where(and_(invoices.c.id == invoice.id, invoices.c.status == DRAFT))
            .values(status=status, series=series, number=number, finalized_at=now)
        )
        if done.rowcount != 1:  # not the draft it was: what it is now
            return self.invoice(conn, invoice.id)
        # What the row now holds, without reading it back.
        return replace(invoice, status=status, series=series, number=number, finalized_at=now)

    def credited(self, conn: Connection, line_ids: Sequence[str]) -> dict[str, int]:
        """How much has been credited so far against each line (positive minor units)."""
        if not line_ids:
            return {}
        rows = conn.execute(
            select(invoice_lines.c.credits_line_id, func.sum(invoice_lines.c.amount_minor))
            .join(invoices, invoices.c.id == invoice_lines.c.invoice_id)
            .where(invoice_lines.c.credits_line_id.in_(list(line_ids)))
            .where(invoices.c.status != VOID)
            .group_by(invoice_lines.c.credits_line_id)
        ).all()
        return {r[0]: -int(r[1]) for r in rows}

    # -- usage ---------------------------------------------------------------
    def record_usage(
        self,
        conn: Connection,
        *,
        event_id: str,
        subscription_id: str,
        metric: str,
        quantity: int,
        occurred_at: datetime,
        period_index: int,
    ) -> bool:
        """Store one usage event; ``False`` if that ``event_id`` was already recorded."""
        done = conn.execute(
            self._insert(usage_events)
            .values(
                event_id=event_id,
                subscription_id=subscription_id,
                metric=metric,
                quantity=quantity,
                occurred_at=occurred_at,
                period_index=period_index,
            )
            .returning(usage_events.c.event_id)
        ).first()
        return done is not None

    def usage(self, conn: Connection, subscription_id: str, period_index: int) -> dict[str, int]:
        rows = conn.execute(
            select(usage_events.c.metric, func.sum(usage_events.c.quantity))
            .where(usage_events.c.subscription_id == subscription_id)
            .where(usage_events.c.period_index == period_index)
            .group_by(usage_events.c.metric)
        ).all()
        return {r[0]: int(r[1]) for r in rows}

    # -- events outbox -------------------------------------------------------------
    def add_event(
        self,
        conn: Connection,
        *,
        type: str,
        account_id: str,
        dedupe_key: str,
        now: datetime,
        subscription_id: str | None = None,
        invoice_id: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> None:
        conn.execute(
            self.statement("insert_event", lambda: self._insert(events)),
            {
                "dedupe_key": dedupe_key,
                "type": type,
                "account_id": account_id,
                "subscription_id": subscription_id,
                "invoice_id": invoice_id,
                "payload": json.dumps(payload or {}, sort_keys=True, default=str),
                "created_at": now,
            },
        )

    def events(
        self, conn: Connection, *, after: int = 0, undelivered: bool = False, limit: int = 1000
    ) -> list[BillingEvent]:
        stmt = select(events).where(events.c.seq > after).order_by(events.c.seq).limit(limit)
        if undelivered:
            stmt = stmt.where(events.c.delivered_at.is_(None))
        return [
            BillingEvent(
                seq=r.seq,
                type=r.type,
                account_id=r.account_id,
                subscription_id=r.subscription_id,
                invoice_id=r.invoice_id,
                payload=json.loads(r.payload),
                created_at=utc(r.created_at),
            )
            for r in conn.execute(stmt).all()
        ]

    def mark_delivered(self, conn: Connection, seqs: Sequence[int], now: datetime) -> None:
        if seqs:
            conn.execute(
                update(events).where(events.c.seq.in_(list(seqs))).values(delivered_at=now)
            )


__all__ = ["DRAFT", "OPEN", "PAID", "REFUNDED", "UNCOLLECTIBLE", "VOID", "Store", "new_id", "utc"]

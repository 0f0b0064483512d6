"""The renewal runner: one pass over what is due.

1. **Claim** due subscriptions lease-style and commit: PostgreSQL
   ``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED LIMIT n)``
   stamps ``lease_owner``/``lease_until``; a worker that dies loses its
   claim when the lease runs out. SQLite compiles ``SKIP LOCKED`` to nothing,
   so there one runner at a time holds a lock row (a second one is told so
   with :class:`~paygate.billing.errors.RunnerBusy`).
2. For each claimed subscription, a short transaction writes the period's
   draft invoice (unique per subscription and period) and moves the period.
3. The charge runs outside any transaction, with the attempt's deterministic
   idempotency key (``paygate-billing:{invoice}:try:{n}``): a crashed run's
   pending attempt is charged again with the same key, so the provider and
   the ledger answer with the first result instead of charging twice.
4. A short transaction records the outcome and releases the lease.

A safety bound parks a subscription that would get more than
``Billing.safety_bound`` renewal invoices in 24 hours (``needs_review``).
A parked subscription is never charged, but a charge of its that had gone
through is settled (:mod:`paygate.billing.parking`); each run also finishes
the refunds of immediate cancels left without an answer
(:mod:`paygate.billing.lifecycle`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, bindparam, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import BindParameter

from paygate.billing.collection import UNKNOWN_BACKOFF
from paygate.billing.errors import RunnerBusy, StalePreview
from paygate.billing.models import (
    Account,
    BillingState,
    CollectionState,
    Entitlement,
    Invoice,
    Subscription,
)
from paygate.billing.parking import settle_parked
from paygate.billing.periods import local_midnight, zone
from paygate.billing.store import DRAFT, OPEN, new_id, utc
from paygate.errors import PaygateError
from paygate.ledger.billing_schema import (
    invoices,
    items,
    payment_attempts,
    runner_locks,
    subscriptions,
)

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from paygate.billing.service import Billing, RunReport

RUNNER_LOCK = "renewals"


def _take_lock(billing: Billing, worker: str, lease: timedelta) -> None:
    now = billing.now()
    with billing.store.write() as conn:
        conn.execute(
            billing.store._insert(runner_locks).values(
                name=RUNNER_LOCK, owner=worker, until=now + lease
            )
        )
        got = conn.execute(
            update(runner_locks)
            .where(
                and_(
                    runner_locks.c.name == RUNNER_LOCK,
                    or_(runner_locks.c.owner == worker, runner_locks.c.until < now),
                )
            )
            .values(owner=worker, until=now + lease)
        ).rowcount
        if got != 1:
            row = conn.execute(select(runner_locks).where(runner_locks.c.name == RUNNER_LOCK)).one()
            raise RunnerBusy(
                f"another renewal runner ({row.owner}) is running on this SQLite database "
                f"until {row.until}: on SQLite one runner at a time (use PostgreSQL for many)"
            )


def _release_lock(billing: Billing, worker: str) -> None:
    with billing.store.write() as conn:
        conn.execute(
            update(runner_locks)
            .where(and_(runner_locks.c.name == RUNNER_LOCK, runner_locks.c.owner == worker))
            .values(until=billing.now() - timedelta(seconds=1))
        )


def claim(billing: Billing, worker: str, batch: int, lease: timedelta) -> list[str]:
    """Lease up to ``batch`` due subscriptions to ``worker`` (committed)."""
    now = billing.now()
    s = subscriptions.c
    due = and_(s.next_action_at <= now, or_(s.lease_until.is_(None), s.lease_until < now))
    inner = select(s.id).where(due).order_by(s.next_action_at).limit(batch)
    if billing.store.dialect == "postgresql":
        inner = inner.with_for_update(skip_locked=True)
    with billing.store.write() as conn:
        rows = conn.execute(
            update(subscriptions)
            .where(and_(s.id.in_(inner.scalar_subquery()), due))
            .values(lease_owner=worker, lease_until=now + lease)
            .returning(s.id)
        ).all()
    return [r[0] for r in rows]


_RELEASE = (
    update(subscriptions)
    .where(
        and_(
            subscriptions.c.id == bindparam("b_id"),
            subscriptions.c.lease_owner == bindparam("b_worker"),
        )
    )
    .values(lease_owner=None, lease_until=None)
)


def _release(conn: Connection, sub_id: str, worker: str, next_at: datetime | None) -> None:
    conn.execute(_RELEASE, {"b_id": sub_id, "b_worker": worker, "next_action_at": next_at})


_SUB_ID: BindParameter[str] = bindparam("b_id", type_=subscriptions.c.id.type)
_NOW = bindparam("b_now", type_=subscriptions.c.next_action_at.type)
# The state, the earliest retry and the count of unanswered charges, in one
# statement.
_NEXT_ACTION = select(
    subscriptions.c.billing_state,
    subscriptions.c.collection_state,
    subscriptions.c.frozen_until,
    subscriptions.c.period_end,
    select(func.min(invoices.c.next_attempt_at))
    .where(and_(invoices.c.subscription_id == _SUB_ID, invoices.c.status == OPEN))
    .scalar_subquery()
    .label("retry"),
    select(func.count())
    .select_from(payment_attempts)
    .join(invoices, invoices.c.id == payment_attempts.c.invoice_id)
    .where(
        and_(
            invoices.c.subscription_id == _SUB_ID,
            payment_attempts.c.status == "pending",
        )
    )
    .scalar_subquery()
    .label("stuck"),
).where(subscriptions.c.id == _SUB_ID)


def _next_action(billing: Billing, conn: Connection, sub_id: str, tz: ZoneInfo) -> datetime | None:
    """When the subscription next needs the runner: its period end, an open
    invoice's retry, or its freeze's end; ``None`` when it is over.

    ``tz``: the account's time zone (an account's zone never changes)."""
    return _next_action_and_state(billing, conn, sub_id, tz)[0]


def _next_action_and_state(
    billing: Billing, conn: Connection, sub_id: str, tz: ZoneInfo
) -> tuple[datetime | None, bool]:
    """:func:`_next_action`, and whether the collection state is current."""
    row = conn.execute(_NEXT_ACTION, {"b_id": sub_id}).one()
    current = row.collection_state == CollectionState.CURRENT.value
    state = BillingState(row.billing_state)
    if state in (BillingState.CANCELED, BillingState.NEEDS_REVIEW):
        return None, current
    if state is BillingState.FROZEN:
        return (local_midnight(row.frozen_until, tz) if row.frozen_until else None), current
    found = [local_midnight(row.period_end, tz)]
    if row.retry is not None:
        found.append(utc(row.retry))  # type: ignore[arg-type]
    if row.stuck:
        found.append(billing.now() + UNKNOWN_BACKOFF)
    return min(found), current


#: What is owed now: renewal drafts and drafts with a pending attempt (left
#: by a crash), and open invoices whose retry time has come.
_OWED = and_(
    invoices.c.subscription_id == _SUB_ID,
    or_(
        and_(invoices.c.status == OPEN, invoices.c.next_attempt_at <= _NOW),
        # A renewal draft is always owed (a crash may have come before its
        # first attempt was even written).
        and_(invoices.c.status == DRAFT, invoices.c.reason == "renewal"),
        and_(
            invoices.c.status == DRAFT,
            invoices.c.id.in_(
                select(payment_attempts.c.invoice_id).where(payment_attempts.c.status == "pending")
            ),
        ),
    ),
)
_OWED_IDS = select(invoices.c.id).where(_OWED).order_by(invoices.c.created_at)
#: The subscription's renewal invoices since ``b_since`` (the safety bound's
#: 24 hours).
_RECENT = (
    select(func.count())
    .select_from(invoices)
    .where(
        and_(
            invoices.c.subscription_id == _SUB_ID,
            invoices.c.reason == "renewal",
            invoices.c.created_at >= bindparam("b_since", type_=invoices.c.created_at.type),
        )
    )
)


def _renewal_read(billing: Billing) -> Any:
    """The subscription (locked) and its account, whether anything is owed
    (:data:`_OWED`) and its recent renewals (:data:`_RECENT`): one statement."""
    return billing.store.subscription_account_select(
        exists().where(_OWED).label("owed"),
        _RECENT.scalar_subquery().label("recent"),
        lock=True,
    )


def _owed(conn: Connection, sub_id: str, now: datetime) -> list[str]:
    """The ids of what is owed now (:data:`_OWED`), oldest first."""
    return [row.id for row in conn.execute(_OWED_IDS, {"b_id": sub_id, "b_now": now}).all()]


def _count(report: RunReport, status: str) -> None:
    if status == "paid":
        report.paid += 1
    elif status == DRAFT:
        report.unknown += 1
    else:
        report.failed += 1


def process(billing: Billing, sub_id: str, worker: str, report: RunReport) -> None:
    """One claimed subscription. A conflict with another worker (its lease ran
    out while it still worked) is left to that worker; a billing error (a
    plan or price gone from the catalog...) parks the subscription for review
    instead of stopping the run for everyone."""
    try:
        _process(billing, sub_id, worker, report)
    except (StalePreview, IntegrityError):
        report.conflicts += 1
    except PaygateError as exc:
        _park(billing, sub_id, f"{type(exc).__name__}: {exc.message}")
        report.parked += 1


def _park(billing: Billing, sub_id: str, why: str) -> None:
    now = billing.now()
    with billing.store.write() as conn:
        sub = billing.store.subscription(conn, sub_id, lock=True)
        billing.store.update_subscription(
            conn,
            sub,
            now,
            billing_state=BillingState.NEEDS_REVIEW.value,
            review_reason=why[:2000],
            next_action_at=None,
            lease_owner=None,
            lease_until=None,
        )
        billing._emit(
            conn,
            "subscription.parked",
            sub.account_id,
            f"{sub.id}:parked:{sub.version}",
            subscription_id=sub.id,
            payload={"why": why[:500]},
        )


def _process(billing: Billing, sub_id: str, worker: str, report: RunReport) -> None:
    if _renew_at_once(billing, sub_id, worker, report):
        return
    now = billing.now()
    with billing.store.read() as conn:
        sub = billing.store.subscription(conn, sub_id)
        acct = billing.store.account(conn, sub.account_id)
        # What is owed now is read in the same transaction (charged after it).
        owed = _owed(conn, sub_id, now) if sub.billing_state is BillingState.ACTIVE else []
    tz = zone(acct.timezone)
    for invoice_id in owed:
        _count(report, billing._collect(invoice_id).status)
    if sub.billing_state is BillingState.FROZEN:
        if sub.frozen_until is not None and now >= local_midnight(sub.frozen_until, tz):
            with billing.store.write() as conn:
                sub = billing.store.subscription(conn, sub_id, lock=True)
                billing._resume(conn, sub, acct, now)
            report.resumed += 1
    elif sub.billing_state is BillingState.ACTIVE and now >= local_midnight(sub.period_end, tz):
        _renew(billing, sub_id, report)
    # The next action is read in the transaction that releases the lease.
    with billing.store.write() as conn:
        _release(conn, sub_id, worker, _next_action(billing, conn, sub_id, tz))


def _renew(billing: Billing, sub_id: str, report: RunReport) -> None:
    now = billing.now()
    invoice_id: str | None = None
    with billing.store.write() as conn:
        sub = billing.store.subscription(conn, sub_id, lock=True)
        acct = billing.store.account(conn, sub.account_id)
        if sub.billing_state is not BillingState.ACTIVE or now < local_midnight(
            sub.period_end, zone(acct.timezone)
        ):
            return
        if sub.cancel_at_period_end:
            billing._stop_retries(conn, sub)
            billing.store.update_subscription(
                conn,
                sub,
                now,
                billing_state=BillingState.CANCELED.value,
                entitlement=Entitlement.NONE.value,
                next_action_at=None,
            )
            billing._emit(
                conn,
                "subscription.canceled",
                acct.id,
                f"{sub.id}:canceled",
                subscription_id=sub.id,
                payload={"at": "period_end"},
            )
            report.canceled += 1
            return
        recent = conn.execute(
            _RECENT, {"b_id": sub.id, "b_since": now - timedelta(hours=24)}
        ).scalar_one()
        if recent >= billing.safety_bound:
            why = f"{recent} renewal invoices in 24 hours (safety bound {billing.safety_bound})"
            billing.store.update_subscription(
                conn, sub, now, billing_state=BillingState.NEEDS_REVIEW.value, review_reason=why
            )
            billing._emit(
                conn,
                "subscription.parked",
                acct.id,
                f"{sub.id}:parked:{sub.version}",
                subscription_id=sub.id,
                payload={"why": why},
            )
            report.parked += 1
            return
        inv = _write_renewal(billing, conn, sub, acct, now)
        assert inv is not None
        invoice_id = inv.id
        report.renewed += 1
        report.invoices.append(inv.id)
    if invoice_id is not None:
        settled = billing._collect(invoice_id)
        _count(report, settled.status)


class _NotUsual(Exception):
    """The renewal is not the usual one after all: roll back, take the general path."""


def _renew_at_once(billing: Billing, sub_id: str, worker: str, report: RunReport) -> bool:
    """The usual renewal in two transactions; ``False`` (nothing written)
    when it is not the usual case, which :func:`_process` then handles.

    The usual case: an active subscription due now, not ending, with a
    payment method, nothing owed and under the safety bound. Then one
    transaction writes the period's draft, its first attempt (pending, with
    its deterministic key), the next period and the event, exactly what
    :func:`_renew` and the first transaction of ``_collect`` write in two;
    the charge runs outside any transaction; and the transaction that
    records a success also releases the lease (a failure or an unknown
    outcome takes the general path, then the lease is released on its own).
    A crash anywhere leaves what the general path would leave: a renewal
    draft with a pending attempt, owed and charged again with the same key.
    """
    now = billing.now()
    try:
        with billing.store.write() as conn:
            # The subscription (locked) and its account, whether anything is
            # owed and its recent renewals, in one statement.
            sub, acct, row = billing.store.subscription_and_account(
                conn,
                billing.store.statement("renewal_read", lambda: _renewal_read(billing)),
                {"b_id": sub_id, "b_now": now, "b_since": now - timedelta(hours=24)},
                sub_id,
            )
            if sub.billing_state is not BillingState.ACTIVE or sub.cancel_at_period_end:
                return False
            if row.owed or row.recent >= billing.safety_bound:
                return False
            tz = zone(acct.timezone)
            if now < local_midnight(sub.period_end, tz) or acct.payment_method is None:
                return False
            inv = _write_renewal(billing, conn, sub, acct, now, attempts=1)
            if inv is None or inv.total.minor_units == 0:
                raise _NotUsual
            key = billing._record_attempt(conn, inv, 1, now)
    except _NotUsual:
        return False
    report.renewed += 1
    report.invoices.append(inv.id)

    def release(conn: Connection) -> bool:
        at, current = _next_action_and_state(billing, conn, sub_id, tz)
        _release(conn, sub_id, worker, at)
        return current

    settled, released = billing._charge(inv, acct, key, 1, now, then=release)
    _count(report, settled.status)
    if not released:
        with billing.store.write() as conn:
            _release(conn, sub_id, worker, _next_action(billing, conn, sub_id, tz))
    return True


def _write_renewal(
    billing: Billing,
    conn: Connection,
    sub: Subscription,
    acct: Account,
    now: datetime,
    *,
    attempts: int = 0,
) -> Invoice | None:
    """The next period's draft (``attempts``: its attempt count as written),
    the subscription moved into that period, and the event; ``None`` when
    the period's invoice already exists (nothing written then)."""
    usage = billing.store.usage(conn, sub.id, sub.period_index) if billing._metered(sub) else {}
    lines, plan = billing._renewal_lines(acct, sub, usage)
    nxt, anchor, anchor_index, new_cycle, entries, removed = plan
    inv = billing.store.new_draft(
        conn,
        dedupe_key=f"{sub.id}:period:{nxt.index}",
        account_id=acct.id,
        subscription_id=sub.id,
        reason="renewal",
        currency=acct.currency,
        lines=lines,
        now=now,
        period=(nxt.index, nxt.start, nxt.end),
        attempts=attempts,
    )
    if inv is None:
        if attempts:
            return None  # the usual path stops; the general one decides
        # A re-run of a period whose invoice exists: that invoice (as before).
        inv = billing.store.invoice_by_key(conn, f"{sub.id}:period:{nxt.index}")
        assert inv is not None
    pending = dict(sub.pending or {})
    for key in ("offer", "cycle", "remove"):
        pending.pop(key, None)
    plan_offer = next((e.offer.code for e in entries if e.offer.kind == "plan"), sub.offer)
    for item_id in removed:
        conn.execute(update(items).where(items.c.id == item_id).values(removed_at=now))
    if plan_offer != sub.offer:
        plan_item = next(i for i in sub.active_items() if i.kind == "plan")
        conn.execute(update(items).where(items.c.id == plan_item.id).values(offer=plan_offer))
    billing.store.update_subscription(
        conn,
        sub,
        now,
        offer=plan_offer,
        cycle=new_cycle.code,
        anchor=anchor,
        anchor_index=anchor_index,
        period_index=nxt.index,
        period_start=nxt.start,
        period_end=nxt.end,
        pending=pending or None,
    )
    billing._emit(
        conn,
        "subscription.renewed",
        acct.id,
        f"{sub.id}:renewed:{nxt.index}",
        subscription_id=sub.id,
        invoice_id=inv.id,
        payload={"period_start": nxt.start.isoformat(), "period_end": nxt.end.isoformat()},
    )
    return inv


def _stuck_attempts(billing: Billing) -> bool:
    with billing.store.read() as conn:
        return (
            conn.execute(
                select(payment_attempts.c.id).where(payment_attempts.c.status == "pending").limit(1)
            ).first()
            is not None
        )


def run_once(
    billing: Billing,
    *,
    batch: int = 50,
    lease_seconds: float = 120.0,
    worker: str | None = None,
    max_rounds: int = 10_000,
    reconcile_after: float | None = 300.0,
) -> RunReport:
    from paygate.billing.service import RunReport

    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        from paygate.errors import InvalidRequest

        raise InvalidRequest("batch must be a positive integer", param="batch")
    worker = worker or new_id("run")
    lease = timedelta(seconds=lease_seconds)
    report = RunReport()
    single = billing.store.dialect == "sqlite"
    if single:
        _take_lock(billing, worker, lease)
    if reconcile_after is not None and _stuck_attempts(billing):
        # A worker killed during a charge leaves the ledger's operation
        # pending: reconcile asks the gateway what happened, after which the
        # same key answers with the outcome (or may be sent again).
        billing.payments.reconcile(pending_older_than=reconcile_after)
    try:
        # A cancel's refund that crashed or had no answer: again, with its key.
        report.refunded += billing._settle_refunds()
        # A parked subscription's charge that went through before it was parked.
        report.settled += settle_parked(billing)
        # Claim until nothing is due: a subscription behind by several periods
        # renews one period per claim (each step moves its next action
        # forward, or parks it), so the loop ends.
        for _ in range(max_rounds):
            ids = claim(billing, worker, batch, lease)
            if not ids:
                break
            report.claimed += len(ids)
            for sub_id in ids:
                process(billing, sub_id, worker, report)
            if single:
                _take_lock(billing, worker, lease)  # still ours: extend it
    finally:
        if single:
            _release_lock(billing, worker)
    billing._deliver()
    billing._credit_notes_due()  # cancel refunds' 381s, once their 380s exist
    return report


__all__ = ["RUNNER_LOCK", "claim", "process", "run_once"]

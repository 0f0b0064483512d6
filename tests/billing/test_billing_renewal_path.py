"""The usual renewal's short path (issue 18): two transactions around the
charge, with the same guarantees as the general path: exactly one charge per
period, a crash on either side of the charge settled by the next run with the
same key, gapless numbers taken at finalization, and the general path for
anything unusual."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from billing_helpers import OWNER, account_with_card, card_declines, charges
from sqlalchemy import event, select

import paygate
from paygate.billing import Billing
from paygate.billing.runner import claim, process
from paygate.billing.service import RunReport
from paygate.ledger.billing_schema import number_series, payment_attempts, subscriptions


@contextmanager
def _billing_sql(billing: Billing) -> Iterator[dict[str, int]]:
    """Counts the statements that touch billing tables, and the commits of
    the transactions that ran them (not the ledger's own)."""
    seen = {"statements": 0, "commits": 0}
    touched: set[int] = set()

    def statement(conn: Any, _cur: Any, sql: str, *_: Any) -> None:
        if "paygate_billing_" in sql:
            seen["statements"] += 1
            touched.add(id(conn))

    def commit(conn: Any) -> None:
        if id(conn) in touched:
            touched.discard(id(conn))
            seen["commits"] += 1

    engine = billing.store.engine
    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)


def _renew_one(billing: Billing) -> tuple[RunReport, dict[str, int]]:
    """Claim the one due subscription, then process it alone (counted)."""
    [sub_id] = claim(billing, "w", 10, timedelta(minutes=2))
    report = RunReport()
    with _billing_sql(billing) as seen:
        process(billing, sub_id, "w", report)
    return report, seen


def _renewal(billing: Billing, acct: str) -> Any:
    [inv] = [i for i in billing.invoices(OWNER, acct) if i.reason == "renewal"]
    return inv


def test_a_usual_renewal_is_two_transactions(billing: Billing, clock: Any) -> None:
    """The draft, its attempt, the next period and the event commit together;
    the payment, its number and the lease's release commit together. (The
    general path took five transactions and 28 billing statements.)"""
    acct = account_with_card(billing)
    sub = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")
    clock.set(2027, 2, 28)
    report, seen = _renew_one(billing)
    assert (report.renewed, report.paid) == (1, 1)
    assert seen["commits"] == 2
    assert seen["statements"] <= 12
    inv = _renewal(billing, acct)
    assert (inv.status, inv.number, inv.attempt_count) == ("paid", 2, 1)
    after = billing._get(sub.id)
    assert after.period_index == 1 and after.next_action_at is not None
    with billing.store.read() as conn:
        owner = conn.execute(
            select(subscriptions.c.lease_owner).where(subscriptions.c.id == sub.id)
        ).scalar_one()
    assert owner is None  # released in the transaction that recorded the payment


def test_a_crash_before_the_charge_is_charged_once_by_the_next_run(
    billing: Billing, payments: paygate.Payments, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process dies once the first transaction committed (draft and
    pending attempt), before the charge leaves: the next run, after the
    lease, charges that attempt with its key, once."""
    acct = account_with_card(billing)
    billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")
    clock.set(2027, 2, 28)

    def dies(*_: Any, **__: Any) -> Any:
        raise SystemExit("killed before the charge left")

    with monkeypatch.context() as m:
        m.setattr(payments, "charge_recurring", dies)
        with pytest.raises(SystemExit):
            billing.run_once()
    assert charges(payments) == 1  # the first period only
    inv = _renewal(billing, acct)
    assert (inv.status, inv.number) == ("draft", None)
    with billing.store.read() as conn:
        attempts = conn.execute(
            select(payment_attempts.c.idempotency_key, payment_attempts.c.status).where(
                payment_attempts.c.invoice_id == inv.id
            )
        ).all()
    assert [tuple(a) for a in attempts] == [(f"paygate-billing:{inv.id}:try:1", "pending")]
    clock.advance(minutes=3)  # the lease ran out
    report = billing.run_once()
    assert (report.renewed, report.paid) == (0, 1)
    assert charges(payments) == 2
    inv = _renewal(billing, acct)
    assert (inv.status, inv.number) == ("paid", 2)
    clock.advance(minutes=3)
    assert billing.run_once().paid == 0 and charges(payments) == 2


def test_an_attempt_settled_meanwhile_takes_the_locked_path_and_no_number(
    billing: Billing, payments: paygate.Payments, clock: Any
) -> None:
    """A second settlement of the same attempt (a run whose lease ran out,
    racing another) finds it settled: its transaction rolls back, the number
    it would have taken included, and the locked path leaves the paid
    invoice as it is."""
    acct = account_with_card(billing)
    billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")
    clock.set(2027, 2, 28)
    drafts: list[Any] = []
    real = billing._charge

    def keep(inv: Any, *args: Any, **kw: Any) -> Any:
        drafts.append((inv, args))
        return real(inv, *args, **kw)

    with pytest.MonkeyPatch.context() as m:
        m.setattr(billing, "_charge", keep)
        billing.run_once()
    [(draft, (acct_row, key, attempt_no, now))] = drafts
    assert draft.status == "draft"
    with billing.store.read() as conn:
        before = conn.execute(select(number_series.c.series, number_series.c.next_value)).all()
    again, released = billing._charge(draft, acct_row, key, attempt_no, now, then=lambda c: True)
    assert released is False  # the short path rolled back
    assert (again.status, again.number) == ("paid", 2)
    with billing.store.read() as conn:
        after = conn.execute(select(number_series.c.series, number_series.c.next_value)).all()
    assert after == before  # no number taken
    assert charges(payments) == 2  # the same key: the first charge's answer
    assert _renewal(billing, acct).number == 2


def test_an_unusual_renewal_takes_the_general_path(billing: Billing, clock: Any) -> None:
    """A declined charge: the general path records it and schedules the retry
    (the short path only records successes)."""
    acct = account_with_card(billing)
    sub = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")
    card_declines(billing, acct)
    clock.set(2027, 2, 28)
    report = billing.run_once()
    assert (report.renewed, report.failed) == (1, 1)
    inv = _renewal(billing, acct)
    assert inv.status == "open" and inv.next_attempt_at is not None
    assert billing._get(sub.id).collection_state.value == "retrying"


def test_the_payment_path_reads_keep_the_prepared_statements(pg_url: str) -> None:
    """The ledger reads a key's record on every payment, on the pooled
    connections billing shares. It ended that read with a ROLLBACK, on which
    psycopg forgets (and deallocates) every statement it prepared on the
    connection: no billing statement stayed prepared. A read now commits."""
    from billing_helpers import make_payments
    from sqlalchemy import text

    payments = make_payments(pg_url)
    try:
        ledger: Any = payments.ledger
        for i in range(12):  # psycopg prepares a statement at its sixth run
            assert ledger.find_operation(f"never-used-{i}") is None
            assert ledger.get_transaction(f"txn_never_{i}") is None
        # The pool's one connection (used one call at a time) is this one.
        with ledger.engine.connect() as conn:
            prepared = conn.execute(
                text("SELECT count(*) FROM pg_prepared_statements")
            ).scalar_one()
            conn.commit()
        assert prepared >= 2
    finally:
        payments.close()


def test_the_joined_read_sees_each_item_and_member_once(
    billing: Billing, payments: paygate.Payments, clock: Any
) -> None:
    """The usual path reads the subscription, its items, its account and the
    account's members in one statement (a row per item and member): two items
    and three members still bill two items, and the hooks see three members."""
    from paygate.billing.models import TaxContext

    acct = account_with_card(billing)
    for user in ("u-1", "u-2", "u-3"):
        billing.add_member(acct, user)
    billing.subscribe(OWNER, acct, "webinar/s25", addons=[("toll-free", 1)], idempotency_key="s")
    seen: list[tuple[tuple[str, str], ...]] = []

    class Taxes:
        @paygate.hookimpl
        def paygate_billing_tax_lines(self, context: TaxContext) -> list[Any]:
            seen.append(context.account.members)
            return []

    payments.plugin_manager.register(Taxes())
    clock.set(2027, 2, 28)
    report, _ = _renew_one(billing)
    assert (report.renewed, report.paid) == (1, 1)
    inv = _renewal(billing, acct)
    [first] = [i for i in billing.invoices(OWNER, acct) if i.reason == "subscribe"]
    recurring = sorted((ln.item_id, str(ln.amount)) for ln in inv.lines if ln.kind == "recurring")
    assert recurring == sorted(
        (ln.item_id, str(ln.amount)) for ln in first.lines if ln.kind == "recurring"
    )
    assert len(recurring) == 2
    assert seen == [(("u-1", "multi_user"), ("u-2", "multi_user"), ("u-3", "multi_user"))]

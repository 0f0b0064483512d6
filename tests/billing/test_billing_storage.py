"""Billing storage: the migration, gapless numbering, immutability in the
database and in code, idempotent usage, the outbox."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from paygate.billing.errors import ImmutableInvoice
from paygate.billing.models import DraftLine
from paygate.billing.store import OPEN, PAID, Store
from paygate.ledger import migrations as mig
from paygate.ledger.billing_schema import invoice_lines, invoices, number_series
from paygate.ledger.sql import make_engine
from paygate.money import Money

NOW = datetime(2027, 1, 31, 10, tzinfo=UTC)


def _store(url: str) -> Store:
    engine = make_engine(url)
    mig.upgrade(engine)
    return Store(engine)


def _account(store: Store, account_id: str = "acct_1") -> str:
    from paygate.ledger.billing_schema import accounts

    with store.write() as conn:
        conn.execute(
            accounts.insert().values(
                id=account_id,
                owner_ref="o",
                currency="EUR",
                timezone="Europe/Paris",
                nonprofit=False,
                created_at=NOW,
                updated_at=NOW,
            )
        )
    return account_id


def _draft(store: Store, key: str, *amounts: str) -> str:
    lines = [
        DraftLine(kind="one_off", description=f"line {a}", amount=Money(a, "EUR")) for a in amounts
    ]
    with store.write() as conn:
        inv = store.create_draft(
            conn,
            dedupe_key=key,
            account_id="acct_1",
            subscription_id=None,
            reason="test",
            currency="EUR",
            lines=lines,
            now=NOW,
        )
    return inv.id


def test_upgrade_from_the_previous_revision_keeps_the_ledger(db_url: str) -> None:
    engine = make_engine(db_url)
    mig.upgrade(engine, "0002")
    with engine.begin() as conn:
        assert not inspect(conn).has_table("paygate_billing_invoices")
        conn.execute(
            text(
                "INSERT INTO paygate_webhook_events (provider, event_id, event_type, received_at)"
                " VALUES ('sandbox', 'evt_1', 'charge.succeeded', :t)"
            ),
            {"t": NOW},
        )
    mig.upgrade(engine, "0003")
    with engine.connect() as conn:
        assert mig.current_revision(conn) == "0003"
        assert inspect(conn).has_table("paygate_billing_invoices")
        assert conn.execute(text("SELECT count(*) FROM paygate_webhook_events")).scalar() == 1
    mig.downgrade(engine, "0002")
    with engine.connect() as conn:
        assert not inspect(conn).has_table("paygate_billing_invoices")
        assert conn.execute(text("SELECT count(*) FROM paygate_webhook_events")).scalar() == 1
    engine.dispose()


def test_numbers_are_gapless_per_series_and_given_back_on_rollback(db_url: str) -> None:
    store = _store(db_url)
    with store.write() as conn:
        assert [store.take_number(conn, "INV") for _ in range(3)] == [1, 2, 3]
        assert store.take_number(conn, "F-2027") == 1
    taken = []

    def fails_after_numbering() -> None:
        with store.write() as conn:
            taken.append(store.take_number(conn, "INV"))
            raise RuntimeError("the finalizing transaction fails")

    with pytest.raises(RuntimeError):
        fails_after_numbering()
    assert taken == [4]
    with store.write() as conn:
        assert store.take_number(conn, "INV") == 4  # no hole where the rollback was
    with store.read() as conn:
        rows = dict(conn.execute(select(number_series.c.series, number_series.c.next_value)).all())
    assert rows == {"INV": 5, "F-2027": 2}
    store.engine.dispose()


def test_a_draft_has_no_number_and_the_dedupe_key_makes_one_invoice(db_url: str) -> None:
    store = _store(db_url)
    _account(store)
    first = _draft(store, "sub:period:1", "10.00", "-2.50")
    again = _draft(store, "sub:period:1", "99.00")
    assert again == first
    with store.read() as conn:
        inv = store.invoice(conn, first)
    assert (inv.status, inv.number, inv.series) == ("draft", None, None)
    assert (
        inv.total == Money("7.50", "EUR") == sum((ln.amount for ln in inv.lines), Money("0", "EUR"))
    )
    store.engine.dispose()


def _finalized(store: Store) -> str:
    _account(store)
    inv_id = _draft(store, "k1", "10.00")
    with store.write() as conn:
        inv = store.invoice(conn, inv_id)
        store.finalize(conn, inv, series="INV", status=OPEN, now=NOW)
    return inv_id


def test_the_database_refuses_to_change_a_finalized_invoice(db_url: str) -> None:
    store = _store(db_url)
    inv_id = _finalized(store)
    statements = [
        (invoices.update().where(invoices.c.id == inv_id).values(total_minor=1), "immutable"),
        (invoices.update().where(invoices.c.id == inv_id).values(number=99), "immutable"),
        (invoices.update().where(invoices.c.id == inv_id).values(status="draft"), "immutable"),
        (invoices.delete().where(invoices.c.id == inv_id), "never deleted"),
        (
            invoice_lines.update()
            .where(invoice_lines.c.invoice_id == inv_id)
            .values(amount_minor=5),
            "lines",
        ),
        (invoice_lines.delete().where(invoice_lines.c.invoice_id == inv_id), "lines"),
        (
            invoice_lines.insert().values(
                id="il_x",
                invoice_id=inv_id,
                position=9,
                kind="one_off",
                description="x",
                quantity=1,
                amount_minor=100,
            ),
            "lines",
        ),
    ]
    for stmt, words in statements:
        with pytest.raises((DBAPIError, IntegrityError), match=words), store.engine.begin() as conn:
            conn.execute(stmt)
    # collection may still move: open -> paid
    with store.engine.begin() as conn:
        conn.execute(
            invoices.update()
            .where(invoices.c.id == inv_id)
            .values(status=PAID, amount_paid_minor=1000)
        )
    # and a paid invoice stays paid
    with (
        pytest.raises((DBAPIError, IntegrityError), match="immutable"),
        store.engine.begin() as conn,
    ):
        conn.execute(invoices.update().where(invoices.c.id == inv_id).values(status="void"))
    store.engine.dispose()


def test_the_store_refuses_it_in_code_first(db_url: str) -> None:
    store = _store(db_url)
    inv_id = _finalized(store)
    with store.write() as conn:
        inv = store.invoice(conn, inv_id)
        assert inv.number == 1 and inv.finalized_at is not None
        with pytest.raises(ImmutableInvoice, match="total_minor"):
            store.update_invoice(conn, inv, total_minor=5)
        store.update_invoice(conn, inv, status=PAID, amount_paid_minor=1000)
        with pytest.raises(ImmutableInvoice, match="from paid to open"):
            store.update_invoice(conn, store.invoice(conn, inv_id), status=OPEN)
    store.engine.dispose()


def test_a_number_without_finalizing_is_refused_by_a_constraint(db_url: str) -> None:
    store = _store(db_url)
    _account(store)
    inv_id = _draft(store, "k2", "1.00")
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        conn.execute(invoices.update().where(invoices.c.id == inv_id).values(status=OPEN))
    store.engine.dispose()


def test_usage_is_recorded_once_per_event_id(db_url: str) -> None:
    store = _store(db_url)
    _account(store)
    from paygate.ledger.billing_schema import subscriptions

    with store.write() as conn:
        conn.execute(
            subscriptions.insert().values(
                id="sub_1",
                account_id="acct_1",
                offer="x",
                cycle="monthly",
                anchor=date(2027, 1, 1),
                anchor_index=0,
                period_index=0,
                period_start=date(2027, 1, 1),
                period_end=date(2027, 2, 1),
                entitlement="active",
                billing_state="active",
                collection_state="current",
                cancel_at_period_end=False,
                version=1,
                created_at=NOW,
                updated_at=NOW,
            )
        )
    kw = {"subscription_id": "sub_1", "metric": "minutes", "occurred_at": NOW, "period_index": 0}
    with store.write() as conn:
        assert store.record_usage(conn, event_id="e1", quantity=30, **kw) is True
        assert store.record_usage(conn, event_id="e1", quantity=30, **kw) is False
        assert store.record_usage(conn, event_id="e2", quantity=5, **kw) is True
    with store.read() as conn:
        assert store.usage(conn, "sub_1", 0) == {"minutes": 35}
    store.engine.dispose()


def test_the_outbox_keeps_order_and_dedupes(db_url: str) -> None:
    store = _store(db_url)
    with store.write() as conn:
        for i in range(3):
            store.add_event(conn, type=f"t{i}", account_id="a", dedupe_key=f"k{i}", now=NOW)
        store.add_event(conn, type="again", account_id="a", dedupe_key="k1", now=NOW)
    with store.read() as conn:
        found = store.events(conn)
    assert [e.type for e in found] == ["t0", "t1", "t2"]
    with store.write() as conn:
        store.mark_delivered(conn, [found[0].seq], NOW)
    with store.read() as conn:
        assert [e.type for e in store.events(conn, undelivered=True)] == ["t1", "t2"]
        assert [e.type for e in store.events(conn, after=found[1].seq)] == ["t2"]
    store.engine.dispose()

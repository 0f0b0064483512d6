"""Revision 0004 (under head 0005): one Alembic head, an upgrade from billing's 0003 that keeps
its rows, and a downgrade back to it."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from paygate.ledger import migrations as mig
from paygate.ledger.sql import make_engine

NOW = datetime(2027, 1, 31, 10, tzinfo=UTC)


def test_one_head() -> None:
    heads = ScriptDirectory.from_config(mig.alembic_config()).get_heads()
    assert heads == ["0005"]


def test_upgrade_from_billing_keeps_its_rows(db_url: str) -> None:
    engine = make_engine(db_url)
    assert engine is not None
    mig.upgrade(engine, "0003")
    with engine.begin() as conn:
        assert not inspect(conn).has_table("paygate_invoices_documents")
        conn.execute(
            text(
                "INSERT INTO paygate_billing_accounts (id, owner_ref, currency, timezone,"
                " nonprofit, created_at, updated_at)"
                " VALUES ('acct_1', 'u-1', 'EUR', 'Europe/Paris', false, :t, :t)"
            ),
            {"t": NOW},
        )
    mig.upgrade(engine)
    with engine.connect() as conn:
        assert mig.current_revision(conn) == "0005"
        for table in (
            "paygate_invoices_profiles",
            "paygate_invoices_documents",
            "paygate_invoices_corrections",
            "paygate_invoices_deliveries",
        ):
            assert inspect(conn).has_table(table), table
        assert conn.execute(text("SELECT count(*) FROM paygate_billing_accounts")).scalar() == 1
    mig.downgrade(engine, "0003")
    with engine.connect() as conn:
        assert not inspect(conn).has_table("paygate_invoices_documents")
        assert conn.execute(text("SELECT count(*) FROM paygate_billing_accounts")).scalar() == 1
    engine.dispose()

"""The ledger itself: migrations, webhook ordering, settled-once outcomes,
redaction rules, and the ``paygate reconcile`` command."""

from __future__ import annotations

import multiprocessing
import secrets
import sqlite3
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from reliability_workers import card, make_payments, reset_pg
from sqlalchemy import inspect

from paygate import Money
from paygate.errors import ProviderUnavailable
from paygate.ledger import OperationRecord, OperationState
from paygate.ledger import migrations as mig
from paygate.ledger.base import StaleFinish
from paygate.ledger.schema import metadata
from paygate.ledger.sql import SQLLedger, make_engine
from paygate.redaction import REDACTED, scrub_data, scrub_text

# -- migrations ------------------------------------------------------------------


def _diff(engine: Any) -> list[Any]:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return [
            d
            for d in compare_metadata(ctx, metadata)
            if not (d[0] == "remove_table" and d[1].name == mig.VERSION_TABLE)
        ]


def test_migrations_build_the_declared_schema(database_url: str) -> None:
    engine = make_engine(database_url)
    mig.upgrade(engine)
    with engine.connect() as conn:
        assert mig.current_revision(conn) == mig.head_revision()
    assert _diff(engine) == []
    mig.downgrade(engine, "base")
    assert not inspect(engine).has_table("paygate_operations")
    mig.upgrade(engine)
    assert _diff(engine) == []
    engine.dispose()


def test_in_memory_sqlite_is_migrated() -> None:
    ledger = SQLLedger("sqlite://")
    with ledger.engine.connect() as conn:
        assert mig.current_revision(conn) == mig.head_revision()
    ledger.close()


def test_a_pre_alembic_database_is_adopted(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    old = [t for t in metadata.sorted_tables]
    with engine.begin() as conn:  # what 0.1 pre-releases did: create_all, no version
        for table in old:
            table.create(conn)
        conn.exec_driver_sql("ALTER TABLE paygate_webhook_events DROP COLUMN outcome")
        conn.exec_driver_sql("ALTER TABLE paygate_webhook_events DROP COLUMN transaction_id")
    mig.upgrade(engine)
    assert _diff(engine) == []
    engine.dispose()


def test_packaged_scripts_need_no_ini() -> None:
    assert (mig.SCRIPT_LOCATION / "env.py").is_file()
    assert sorted(p.name for p in (mig.SCRIPT_LOCATION / "versions").glob("0*.py"))[:2] == [
        "0001_initial.py",
        "0002_webhook_outcome.py",
    ]


def _open(url: str, barrier: Any, results: Any) -> None:
    barrier.wait(timeout=60)
    try:
        ledger = SQLLedger(url)
        with ledger.engine.connect() as conn:
            results.put(mig.current_revision(conn))
        ledger.close()
    except Exception as exc:  # reported to the parent
        results.put(f"{type(exc).__name__}: {exc}")


def test_first_open_by_several_processes_at_once(database_url: str) -> None:
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["paygate.ledger.sql", "paygate.ledger.migrations"])
    barrier, results = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_open, args=(database_url, barrier, results)) for _ in range(4)]
    for p in procs:
        p.start()
    seen = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(10)
    assert seen == [mig.head_revision()] * 4


# -- outcomes are settled once ---------------------------------------------------------


def test_a_retry_failing_before_sending_keeps_the_outcome_unknown(database_url: str) -> None:
    payments = make_payments(database_url)
    sandbox = payments.plugin("sandbox")
    tx = payments.purchase(Money("10.00", "USD"), card())
    sandbox.inject("timeout")  # the refund is made, the answer lost
    with pytest.raises(ProviderUnavailable):
        payments.refund(tx.id, Money("4.00", "USD"), idempotency_key="r")
    sandbox.inject("server_error")  # the retry never leaves
    with pytest.raises(ProviderUnavailable):
        payments.refund(tx.id, Money("4.00", "USD"), idempotency_key="r")
    record = payments.ledger.find_operation("r")
    assert record is not None and record.state is OperationState.UNKNOWN
    # ...so its money stays reserved: no second refund can take it meanwhile.
    with pytest.raises(Exception, match="in flight"):
        payments.refund(tx.id, Money("7.00", "USD"), idempotency_key="r2")
    report = payments.reconcile()
    assert (report.succeeded, report.still_unknown) == (1, 0)
    assert payments.transaction(tx.id).refunded == Money("4.00", "USD")
    assert sandbox.effects["refund"] == 1
    payments.close()


def test_finish_is_compare_and_set(database_url: str) -> None:
    payments = make_payments(database_url)
    tx = payments.purchase(Money("10.00", "USD"), card(), idempotency_key="p")
    with pytest.raises(StaleFinish):
        payments.ledger.finish(
            "p",
            OperationState.SUCCEEDED,
            apply=lambda cur: cur,
            transaction_id=tx.id,
            now=tx.created_at,
            expected=(OperationState.UNKNOWN,),
        )
    # A stale finish writes nothing, not even a transaction ``apply`` changed.
    before = payments.transaction(tx.id)
    with pytest.raises(StaleFinish):
        payments.ledger.finish(
            "p",
            OperationState.FAILED,
            apply=lambda cur: cur.model_copy(update={"description": "overwritten"}),
            transaction_id=tx.id,
            error={"code": "x"},
            now=tx.created_at,
            expected=(OperationState.PENDING, OperationState.UNKNOWN),
        )
    assert payments.transaction(tx.id) == before
    record = payments.ledger.find_operation("p")
    assert record is not None and record.state is OperationState.SUCCEEDED
    assert record.error is None
    payments.close()


@pytest.mark.postgres
def test_postgres_ledger_replaces_connections_the_server_dropped(
    pg_schema_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pooled connections killed while idle are pinged, discarded and replaced."""
    import psycopg

    from paygate.ledger import postgres

    reset_pg(pg_schema_url)
    # Named connections: only this test's backends are killed, never those of
    # another run sharing the server.
    name = f"paygate_drop_{secrets.token_hex(4)}"
    url = f"{pg_schema_url}&application_name={name}"
    payments = make_payments(url)
    first = payments.purchase(Money("3.00", "USD"), card())
    plain = pg_schema_url.split("?")[0].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = %s",
            (name,),
        ).fetchone()
    assert killed is not None and killed[0] >= 1
    monkeypatch.setattr(postgres, "PING_AFTER_IDLE_SECONDS", 0.0)
    second = payments.purchase(Money("4.00", "USD"), card())
    assert second.status.value == "captured"
    assert [payments.transaction(t.id).amount for t in (first, second)] == [
        Money("3.00", "USD"),
        Money("4.00", "USD"),
    ]
    payments.close()


@pytest.mark.postgres
def test_postgres_pool_size_follows_the_config(pg_schema_url: str) -> None:
    from paygate import Payments

    reset_pg(pg_schema_url)
    payments = Payments(
        {"database_url": pg_schema_url, "database_pool_size": 3}, load_entrypoints=False
    )
    pool: Any = payments.ledger.engine.pool  # type: ignore[attr-defined]
    assert pool.size() == 3
    payments.close()


def test_sqlite_ledger_connections_use_wal_and_a_larger_checkpoint(tmp_path: Path) -> None:
    """WAL with synchronous=FULL (a commit is fsynced before it returns: the
    durable default) and a checkpoint every 4,000 pages."""
    from paygate.ledger.sql import WAL_AUTOCHECKPOINT_PAGES

    engine = make_engine(f"sqlite:///{tmp_path / 'pragmas.sqlite3'}")
    try:
        with engine.connect() as conn:
            raw: Any = conn.connection.driver_connection
            assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            assert raw.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
            assert raw.execute("PRAGMA wal_autocheckpoint").fetchone() == (
                WAL_AUTOCHECKPOINT_PAGES,
            )
            assert WAL_AUTOCHECKPOINT_PAGES > 1000
    finally:
        engine.dispose()


def _locked_new_database(path: Path) -> sqlite3.Connection:
    """A new (rollback-journal) database another connection holds the write lock of."""
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE other (x)")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO other VALUES (1)")
    return holder


def test_switching_a_new_database_to_wal_waits_for_another_connections_lock(
    tmp_path: Path,
) -> None:
    """SQLite answers "database is locked" to the switch to WAL at once, busy
    timeout or not (what made several processes opening a new ledger together
    fail now and then): the engine's connection waits for the lock instead."""
    path = tmp_path / "new.sqlite3"
    holder = _locked_new_database(path)
    bare = sqlite3.connect(path, timeout=5)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        bare.execute("PRAGMA journal_mode=WAL")  # the SQLite behaviour worked around
    bare.close()
    release = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
    release.start()
    engine = make_engine(f"sqlite:///{path}")
    try:
        started = time.monotonic()
        with engine.connect() as conn:
            waited = time.monotonic() - started
            raw: Any = conn.connection.driver_connection
            assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            assert raw.execute("SELECT x FROM other").fetchall() == [(1,)]
        assert waited >= 0.2
    finally:
        release.join()
        engine.dispose()
        holder.close()


def test_switching_to_wal_gives_up_after_its_wait(tmp_path: Path) -> None:
    from paygate.ledger.sql import use_wal

    path = tmp_path / "stuck.sqlite3"
    holder = _locked_new_database(path)
    conn = sqlite3.connect(path)
    try:
        started = time.monotonic()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            use_wal(conn, wait=0.2)
        assert 0.2 <= time.monotonic() - started < 5
        holder.execute("COMMIT")
        assert use_wal(conn, wait=0.2) == "wal"
    finally:
        conn.close()
        holder.close()


@pytest.mark.parametrize("with_reference", [False, True])
@pytest.mark.parametrize("expected", [0, 1, 2])
@pytest.mark.parametrize("save_tx", [False, True])
def test_postgres_settling_statement_numbers_one_placeholder_per_parameter(
    with_reference: bool, expected: int, save_tx: bool
) -> None:
    """The hot path's statements use ``$n`` placeholders (RawCursor): each
    parameter name has exactly its number, in order, and no ``%s`` is left."""
    import re

    pytest.importorskip("psycopg")
    from paygate.ledger import postgres

    assert postgres.numbered("a = %s AND b IN (%s, %s)") == "a = $1 AND b IN ($2, $3)"
    sql, names = postgres.finish_sql(with_reference, expected, save_tx)
    assert "%s" not in sql
    numbers = [int(n) for n in re.findall(r"\$(\d+)", sql)]
    assert numbers == list(range(1, len(names) + 1))
    assert len(set(names)) == len(names)
    for statement in (postgres.INSERT_OPERATION, postgres.TRANSACTION_FOR_UPDATE):
        assert "%s" not in statement and "$1" in statement


@pytest.mark.postgres
def test_postgres_write_connections_are_reused_kept_and_bounded(
    pg_schema_url: str,
) -> None:
    """The hot path's connections: the last one given back is handed out
    again, one beyond ``keep`` is closed only once it has sat idle, and a
    writer beyond ``limit`` gets a clear error after waiting, not an
    unbounded backend."""
    from paygate.ledger.postgres import WriteConnections

    engine = make_engine(pg_schema_url)
    pool = WriteConnections(engine, keep=2, limit=3)
    pool.WAIT_SECONDS = 0.05
    try:
        cursors = [pool.take() for _ in range(3)]
        assert len({id(c.connection) for c in cursors}) == 3
        assert all(c.connection.autocommit for c in cursors)
        assert pool.open_count == 3
        with pytest.raises(TimeoutError, match="database_pool_size"):
            pool.take()
        for cur in cursors:
            pool.give_back(cur)
        # Three idle, one more than ``keep``: none has been idle long yet.
        assert pool.open_count == 3
        again = pool.take()
        assert again is cursors[2]
        assert again.execute("SELECT 1").fetchone() == (1,)
        pool.SURPLUS_IDLE_SECONDS = 0.0
        pool.give_back(again)
        # The surplus goes, and it is the one idle longest (the first given back).
        assert pool.open_count == 2
        assert cursors[0].connection.closed
        assert not cursors[1].connection.closed and not cursors[2].connection.closed
        pool.give_back(pool.take())
        assert pool.open_count == 2  # ``keep`` stay, however long idle
    finally:
        pool.close()
        engine.dispose()
    assert pool.open_count == 0


@pytest.mark.postgres
def test_postgres_a_waiting_writer_gets_the_connection_given_back(
    pg_schema_url: str,
) -> None:
    """With ``limit`` connections in use, a writer waits; the first one given
    back goes to it (no new backend), and at once, not after the wait."""
    from paygate.ledger.postgres import WriteConnections

    engine = make_engine(pg_schema_url)
    pool = WriteConnections(engine, keep=1, limit=2)
    pool.WAIT_SECONDS = 10.0
    got: list[Any] = []
    try:
        first, second = pool.take(), pool.take()
        waiter = threading.Thread(target=lambda: got.append(pool.take()))
        waiter.start()
        deadline = time.monotonic() + 5
        while pool._waiting == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert pool._waiting == 1
        pool.give_back(first)
        waiter.join(2.0)
        assert not waiter.is_alive(), "the waiting writer was not handed the connection"
        assert got == [first]
        assert pool.open_count == 2
        pool.give_back(second)
        pool.give_back(got[0])
        assert pool.open_count == 2  # the surplus one has not been idle long
    finally:
        pool.close()
        engine.dispose()
    assert pool.open_count == 0


@pytest.mark.postgres
def test_postgres_more_writers_than_kept_connections_open_no_new_backends(
    pg_schema_url: str,
) -> None:
    """16 threads writing through a pool that keeps 2 (at most 4 open): every
    write runs on one of at most 4 backends. Closing a connection on each
    return beyond ``keep`` forked a new backend for nearly every write (a
    32-thread batch on a pool of 4 ran at 2.0 x the ideal time, 1.2 after)."""
    from paygate.ledger.postgres import WriteConnections

    engine = make_engine(pg_schema_url)
    pool = WriteConnections(engine, keep=2, limit=4)
    backends: set[int] = set()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for _ in range(40):
                with pool.cursor() as cur:
                    backends.add(cur.execute("SELECT pg_backend_pid()").fetchone()[0])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(16)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors
        assert 1 <= len(backends) <= 4
        assert pool.open_count <= 4
    finally:
        pool.close()
        engine.dispose()


@pytest.mark.postgres
def test_postgres_write_connections_in_use_at_close_are_closed_when_given_back(
    pg_schema_url: str,
) -> None:
    from paygate.ledger.postgres import WriteConnections

    engine = make_engine(pg_schema_url)
    pool = WriteConnections(engine, keep=4, limit=8)
    try:
        idle, busy = pool.take(), pool.take()
        pool.give_back(idle)
        pool.close()
        assert idle.connection.closed and pool.open_count == 1
        pool.give_back(busy)
        assert busy.connection.closed and pool.open_count == 0
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, None),
        ("txn_ä", "txn_ä".encode()),
        (0, b"0"),
        (-2500, b"-2500"),
        (10**15, b"1000000000000000"),
        (datetime(2026, 11, 28, 1, 2, 3, 456789, tzinfo=UTC), b"2026-11-28T01:02:03.456789+00:00"),
    ],
)
def test_postgres_hot_path_parameters_as_text(value: object, text: bytes | None) -> None:
    from paygate.ledger.postgres import as_text

    assert as_text(value) == text


@pytest.mark.parametrize("value", [True, 1.5, b"raw", {"a": 1}])
def test_postgres_hot_path_refuses_a_value_it_has_no_text_form_for(value: object) -> None:
    from paygate.ledger.postgres import as_text

    with pytest.raises(TypeError, match="ledger row"):
        as_text(value)


def test_postgres_hot_path_parameter_types_follow_the_columns() -> None:
    from paygate.ledger.postgres import _type_oid

    int8, text, timestamptz = 20, 25, 1184
    assert _type_oid("amount_minor") == int8  # the pending INSERT names columns
    assert _type_oid("created_at") == timestamptz
    assert _type_oid("p_updated_at") == timestamptz
    assert (_type_oid("p_key"), _type_oid("p_expected0"), _type_oid("p_state")) == (text,) * 3
    assert (_type_oid("t_captured_minor"), _type_oid("t_data")) == (int8, text)
    assert _type_oid("t_updated_at") == timestamptz


@pytest.mark.postgres
def test_postgres_hot_statements_are_prepared_once_per_connection(pg_schema_url: str) -> None:
    """The two per-payment statements go through libpq's prepared statements:
    each connection prepares one once; a duplicate key leaves the connection
    reusable; any other failure raises psycopg's error and closes it."""
    import psycopg

    from paygate.ledger.postgres import insert_operation
    from paygate.ledger.rows import pending_row

    reset_pg(pg_schema_url)
    payments = make_payments(pg_schema_url)
    ledger: Any = payments.ledger
    pool = ledger._hot
    when = datetime(2026, 11, 28, 1, 2, 3, 456789, tzinfo=UTC)
    record = OperationRecord(
        idempotency_key="k1",
        operation="purchase",
        provider="sandbox",
        transaction_id="txn_1",
        request_digest="d",
        amount=Money("8.00", "USD"),
    )
    assert insert_operation(pool, pending_row(record, when)) is True
    assert insert_operation(pool, pending_row(record, when)) is False  # same key
    second = replace(record, idempotency_key="k2")
    assert insert_operation(pool, pending_row(second, when)) is True
    assert pool.open_count == 1  # the same connection every time, never discarded
    cur = pool.take()
    try:
        assert len(cur.connection._paygate_prepared) == 1
        rows = cur.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'paygate_%'"
        ).fetchone()
        assert rows == (1,)
    finally:
        pool.give_back(cur)
    stored = payments.ledger.find_operation("k1")
    assert stored is not None
    assert (stored.created_at, stored.amount) == (when, Money("8.00", "USD"))
    bad = replace(record, idempotency_key="k3")
    row = pending_row(bad, when)
    row["currency"] = "TOOLONG"  # a VARCHAR(3)
    with pytest.raises(psycopg.errors.StringDataRightTruncation):
        insert_operation(pool, row)
    assert pool.open_count == 0  # the failed connection was closed, not given back
    assert payments.ledger.find_operation("k3") is None
    payments.close()


@pytest.mark.postgres
def test_postgres_write_connection_left_in_a_transaction_is_closed(
    pg_schema_url: str,
) -> None:
    """A connection given back inside a transaction (or broken) is never
    handed out again: the next writer must not inherit a half-done write."""
    from paygate.ledger.postgres import WriteConnections

    engine = make_engine(pg_schema_url)
    pool = WriteConnections(engine, keep=4, limit=4)
    try:
        cur = pool.take()
        cur.execute("BEGIN")
        pool.give_back(cur)
        assert cur.connection.closed
        assert pool.open_count == 0
        fresh = pool.take()
        assert fresh is not cur
        assert fresh.connection.info.transaction_status.name == "IDLE"
        pool.give_back(fresh)
    finally:
        pool.close()
        engine.dispose()


@pytest.mark.postgres
def test_postgres_failed_finish_releases_the_transaction_row(pg_schema_url: str) -> None:
    """When applying an outcome raises between ``SELECT ... FOR UPDATE`` and
    ``COMMIT``, nothing is written and the row lock goes with the discarded
    connection: the next writer of that transaction does not wait for it."""
    import psycopg

    from paygate.ledger import postgres

    reset_pg(pg_schema_url)
    payments = make_payments(pg_schema_url)
    tx = payments.authorize(Money("8.00", "USD"), card())
    ledger: Any = payments.ledger
    pool = ledger._hot
    before = payments.transaction(tx.id)

    def broken(_current: Any) -> Any:
        raise RuntimeError("apply failed")

    with pytest.raises(RuntimeError, match="apply failed"):
        postgres.finish(
            pool,
            transaction_id=tx.id,
            op_params={"p_key": "nope", "p_state": "succeeded"},
            with_reference=False,
            expected=None,
            apply=broken,
            now=datetime.now(UTC),
        )
    plain = pg_schema_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as other:
        row = other.execute(
            "SELECT id FROM paygate_transactions WHERE id = %s FOR UPDATE NOWAIT", (tx.id,)
        ).fetchone()
    assert row == (tx.id,)
    assert payments.transaction(tx.id) == before
    payments.close()


@pytest.mark.postgres
def test_postgres_write_connections_are_not_shared_with_a_forked_child(
    pg_schema_url: str,
) -> None:
    """A child process opens its own connections and leaves the parent's
    sessions alone (closing them would end the parent's sessions)."""
    from paygate.ledger.postgres import WriteConnections

    engine = make_engine(pg_schema_url)
    pool = WriteConnections(engine, keep=2, limit=2)
    try:
        cur = pool.take()
        parent_pid = cur.connection.info.backend_pid
        pool.give_back(cur)
        ctx = multiprocessing.get_context("fork")
        queue = ctx.Queue()
        child = ctx.Process(target=_child_backend_pid, args=(pool, queue))
        child.start()
        child_pid = queue.get(timeout=30)
        child.join(30)
        assert child.exitcode == 0
        assert child_pid != parent_pid
        again = pool.take()
        assert again is cur
        assert again.execute("SELECT pg_backend_pid()").fetchone() == (parent_pid,)
        pool.give_back(again)
    finally:
        pool.close()
        engine.dispose()


def _child_backend_pid(pool: Any, queue: Any) -> None:
    cur = pool.take()
    queue.put(cur.execute("SELECT pg_backend_pid()").fetchone()[0])
    pool.give_back(cur)
    pool.close()


def test_a_brand_new_transaction_settled_by_reconcile_first_is_not_overwritten(
    database_url: str,
) -> None:
    """The read-nothing finish of a brand-new transaction keeps the
    compare-and-set: when reconcile settled the operation first, it writes
    nothing, and the transaction stays as reconcile recorded it."""
    from paygate.ledger.records import GENERATED_KEY_DIGEST

    payments = make_payments(database_url)
    ledger: Any = payments.ledger
    payments.ledger.begin(
        OperationRecord(
            idempotency_key="pgk_fresh",
            operation="purchase",
            provider="sandbox",
            transaction_id="txn_fresh",
            request_digest=GENERATED_KEY_DIGEST,
            amount=Money("8.00", "USD"),
            request={"capture": True, "payment_method": "Visa •••• 4242"},
        )
    )
    assert "txn_fresh" in ledger._new_txs  # its finish will read nothing
    assert payments.reconcile(pending_older_than=0).failed == 1
    settled = payments.transaction("txn_fresh")
    with pytest.raises(StaleFinish):
        payments.ledger.finish(
            "pgk_fresh",
            OperationState.SUCCEEDED,
            apply=lambda cur: settled.model_copy(update={"description": "late"}),
            transaction_id="txn_fresh",
            now=settled.created_at,
            expected=(OperationState.PENDING,),
        )
    assert payments.transaction("txn_fresh") == settled
    assert ledger._new_txs == set()
    # The usual order: a generated key's purchase is recorded in full.
    tx = payments.purchase(Money("9.00", "USD"), card())
    assert payments.transaction(tx.id) == tx
    record = next(r for r in payments.ledger.operations() if r.transaction_id == tx.id)
    assert record.state is OperationState.SUCCEEDED
    assert ledger._new_txs == set()
    payments.close()


def test_sqlite_settles_a_new_transaction_in_one_statement(tmp_path: Path) -> None:
    """Both writes of a payment that creates its transaction are single
    statements in autocommit (no BEGIN/COMMIT around them): the process write
    lock is held across one driver call each."""
    payments = make_payments(f"sqlite:///{tmp_path / 'one.sqlite3'}")
    ledger: Any = payments.ledger
    payments.purchase(Money("1.00", "USD"), card())  # the writer connection exists
    raw = ledger._writer.connection.driver_connection
    seen: list[str] = []
    raw.set_trace_callback(seen.append)
    try:
        tx = payments.purchase(Money("9.00", "USD"), card())
    finally:
        raw.set_trace_callback(None)
    # Python reports the statement again for each step of its trigger.
    heads = list(dict.fromkeys(" ".join(s.split()[:3]) for s in seen))
    assert heads == ["INSERT INTO paygate_operations", "INSERT INTO paygate_settle_new"]
    assert payments.transaction(tx.id) == tx
    record = next(r for r in payments.ledger.operations() if r.transaction_id == tx.id)
    assert record.state is OperationState.SUCCEEDED
    assert record.provider_reference == tx.provider_reference
    payments.close()


@pytest.mark.parametrize("reference", [None, "ref_new"])
def test_a_new_transactions_outcome_keeps_or_sets_the_provider_reference(
    database_url: str, reference: str | None
) -> None:
    from paygate.ledger.records import GENERATED_KEY_DIGEST

    payments = make_payments(database_url)
    ledger: Any = payments.ledger
    ledger.begin(
        OperationRecord(
            idempotency_key="pgk_ref",
            operation="purchase",
            provider="sandbox",
            transaction_id="txn_ref",
            request_digest=GENERATED_KEY_DIGEST,
            amount=Money("8.00", "USD"),
            provider_reference="ref_sent",
        )
    )
    assert "txn_ref" in ledger._new_txs
    record = ledger.find_operation("pgk_ref")
    assert record is not None
    ledger.finish(
        "pgk_ref",
        OperationState.FAILED,
        apply=lambda cur: None,
        transaction_id="txn_ref",
        provider_reference=reference,
        error={"code": "card_declined"},
        now=datetime.now(UTC),
        expected=(OperationState.PENDING,),
    )
    after = ledger.find_operation("pgk_ref")
    assert after is not None and after.state is OperationState.FAILED
    assert after.provider_reference == (reference or "ref_sent")
    assert after.error == {"code": "card_declined"}
    assert ledger.get_transaction("txn_ref") is None  # ``apply`` made none: no row
    payments.close()


def test_reconcile_settles_a_payment_whose_process_died(database_url: str) -> None:
    payments = make_payments(database_url)
    # What a killed worker leaves: the pending record, no transaction row, nothing sent.
    payments.ledger.begin(
        OperationRecord(
            idempotency_key="dead",
            operation="purchase",
            provider="sandbox",
            transaction_id="txn_dead",
            request_digest="x",
            amount=Money("8.00", "USD"),
            request={"capture": True, "payment_method": "Visa •••• 4242"},
        )
    )
    assert payments.reconcile(pending_older_than=60).checked == 0  # too recent
    report = payments.reconcile(pending_older_than=0)
    assert (report.failed, report.still_unknown) == (1, 0)
    tx = payments.transaction("txn_dead")
    assert tx.status.value == "failed" and tx.payment_method == "Visa •••• 4242"
    payments.close()


# -- webhooks --------------------------------------------------------------------------


def _deliver(payments: Any, event_type: str, tx_id: str, event_id: str | None = None) -> Any:
    headers, body = payments.plugin("sandbox").make_webhook(event_type, tx_id, event_id=event_id)
    return payments.parse_webhook("sandbox", headers, body)


def test_webhooks_move_forward_only_and_once(database_url: str) -> None:
    payments = make_payments(database_url)
    tx = payments.authorize(Money("10.00", "USD"), card())
    first = _deliver(payments, "payment.captured", tx.id, "evt_1")
    assert not first.duplicate
    assert payments.transaction(tx.id).captured == Money("10.00", "USD")
    assert _deliver(payments, "payment.captured", tx.id, "evt_1").duplicate
    _deliver(payments, "payment.authorized", tx.id, "evt_late")  # out of order
    moved = payments.transaction(tx.id)
    assert (moved.status.value, moved.captured) == ("captured", Money("10.00", "USD"))
    _deliver(payments, "payment.refunded", tx.id, "evt_refund")  # money we did not move
    assert payments.transaction(tx.id).refunded == Money("0.00", "USD")
    outcomes = {e["event_id"]: e["outcome"] for e in payments.ledger.webhook_events()}
    assert outcomes == {"evt_1": "applied", "evt_late": "stale", "evt_refund": "reported"}
    payments.close()


def test_webhook_waits_for_our_own_capture_in_flight(database_url: str) -> None:
    payments = make_payments(database_url)
    tx = payments.authorize(Money("10.00", "USD"), card())
    payments.plugin("sandbox").inject("timeout")
    with pytest.raises(ProviderUnavailable):
        payments.capture(tx.id, idempotency_key="cap")
    _deliver(payments, "payment.captured", tx.id, "evt_cap")
    assert payments.transaction(tx.id).captured == Money("0.00", "USD")  # deferred
    payments.reconcile()
    assert payments.transaction(tx.id).captured == Money("10.00", "USD")  # counted once
    payments.close()


# -- redaction -------------------------------------------------------------------------

LEAKY = [
    ("4242424242424242", "4242424242424242"),
    ("card 4242 4242 4242 4242 exp", "4242 4242 4242 4242"),
    ("4242-4242-4242-4242", "4242-4242-4242-4242"),
    ("amex 378282246310005.", "378282246310005"),
    ("glued 00004242424242424242 digits", "4242424242424242"),
    ("key sk_live_51Habcdefghijklmnop", "sk_live_51Habcdefghijklmnop"),
    ("rk_test_abcdef123456 pk_live_zzzzzz999", "rk_test_abcdef123456"),
    ("secret whsec_abc123DEF456", "whsec_abc123DEF456"),
    ("Authorization: Bearer A21AAFEpH4PsADK7qSS7pSRsgzfENtu", "A21AAFEpH4PsADK7qSS7pSRsgzfENtu"),
    ("Authorization: Basic QVpESjpFR0xDMTIzNDU2", "QVpESjpFR0xDMTIzNDU2"),
    ("card[cvc]=739&card[number]=x", "739"),
    ("{'cvc': '739'}", "739"),
    ('{"cvv": 8231}', "8231"),
    ("postgresql://app:s3cretpw@db/pay", "s3cretpw"),
    ("client_secret=EFgh1234_secret", "EFgh1234_secret"),
]


@pytest.mark.parametrize(("text", "secret"), LEAKY)
def test_scrub_text_hides(text: str, secret: str) -> None:
    assert secret not in scrub_text(text)


@pytest.mark.parametrize(
    "text",
    [
        "amount 1999 USD",
        "order 12345",
        "at 1700000000",
        "4242424242424241 is not Luhn",
        "txn_7a3f9c",
        "cvc check passed",
    ],
)
def test_scrub_text_keeps_harmless_text(text: str) -> None:
    assert scrub_text(text) == text


def test_scrub_data_by_key_and_value() -> None:
    data = {
        "card": {"number": "4242424242424242", "cvc": "739", "exp_month": 12},
        "note": "paid with 5555555555554444",
        "list": ["378282246310005"],
    }
    clean = scrub_data(data)
    assert clean["card"] == {"number": REDACTED, "cvc": REDACTED, "exp_month": 12}
    assert "5555555555554444" not in clean["note"] and clean["note"].endswith("4444")
    assert "378282246310005" not in clean["list"][0]


# -- CLI -------------------------------------------------------------------------------


def test_cli_reconcile(tmp_path: Path) -> None:
    from paygate.cli.reconcile import reconcile_command

    db = tmp_path / "ledger.sqlite3"
    config = tmp_path / "paygate.toml"
    config.write_text(f'database_url = "sqlite:///{db}"\n')
    payments = make_payments(f"sqlite:///{db}")
    tx = payments.purchase(Money("10.00", "USD"), card())
    payments.plugin("sandbox").inject("timeout")
    with pytest.raises(ProviderUnavailable):
        payments.refund(tx.id, idempotency_key="lost-refund")
    payments.close()
    # The command's own process has a fresh sandbox that never saw the refund,
    # so "never happened" is the right answer here.
    result = CliRunner().invoke(
        reconcile_command, ["--pending-older-than", "0"], obj={"config": str(config)}
    )
    assert result.exit_code == 0, result.output
    assert "lost-refund" in result.output and "failed" in result.output
    again = CliRunner().invoke(reconcile_command, ["--json"], obj={"config": str(config)})
    assert again.exit_code == 0 and '"checked": 0' in again.output


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 11, 27, 21, 18, 57, 216843, tzinfo=UTC),
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),  # no microseconds
        datetime(999, 12, 31, 23, 59, 59, 1),  # naive, 3-digit year
        datetime(2026, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))),
    ],
)
def test_sqlite_datetimes_are_written_as_sqlalchemy_writes_them(value: datetime) -> None:
    from sqlalchemy.dialects import sqlite

    from paygate.ledger.schema import operations
    from paygate.ledger.sql import sqlite_datetime

    dialect = sqlite.dialect()
    processor = operations.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)
    assert processor is not None
    assert sqlite_datetime(value) == processor(value)

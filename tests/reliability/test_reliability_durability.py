"""Durability: the write-ahead record survives a power loss (issue 21).

A killed process keeps what the OS cache holds, so the crash tests cannot
see a commit that never reached the disk. These tests check what can be
checked without pulling the plug:

* SQLite: ``PRAGMA synchronous`` on every connection the ledger uses,
  whichever thread opened it and when; and, under ``strace``, that the WAL
  is synced after the ``pending`` record is written and before the provider
  is called;
* PostgreSQL: ``synchronous_commit`` on every session the ledger uses
  (SQLAlchemy's pool and the hot path's own connections) when the server
  or the URL says ``off`` or ``local``;
* the opt-out, ``durability = "relaxed"``: NORMAL, left as the server says,
  a warning at startup, and shown by ``paygate plugins``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from reliability_workers import card, reset_pg

from paygate import Money, Payments
from paygate.errors import ConfigurationError

# What SQLite's ``PRAGMA synchronous`` reads back (sqlite.org/pragma.html#pragma_synchronous).
SQLITE_NORMAL, SQLITE_FULL = 1, 2


def _payments(url: str, **config: Any) -> Payments:
    return Payments({"database_url": url, **config}, load_entrypoints=False)


def _in_threads(n: int, open_one: Callable[[], Any], read: Callable[[Any], Any]) -> list[Any]:
    """``n`` threads each open a connection with ``open_one`` and hold it until
    all hold one (so the pool opens ``n`` distinct ones, in those threads),
    then ``read(conn)``; ``(thread, connection id, value)`` per thread."""
    barrier = threading.Barrier(n)
    seen: list[Any] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            conn, close = open_one()
            try:
                barrier.wait(timeout=30)
                raw, value = read(conn)
                seen.append((threading.get_ident(), id(raw), value))
            finally:
                close()
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=work) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return seen


def _pay_from_threads(payments: Payments, threads: int = 6, each: int = 5) -> None:
    """Payments and reads from several threads at once (the hot path's
    writer and the pool's readers)."""
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(each):
                tx = payments.purchase(Money("2.00", "USD"), card())
                assert payments.transaction(tx.id).status.value == "captured"
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert not errors, errors


# -- SQLite ------------------------------------------------------------------------


def _sqlite_sync_levels(payments: Payments) -> tuple[int, list[Any]]:
    """The hot path's writer connection's level, and (thread, connection,
    level) of six pooled connections opened by six other threads."""
    ledger: Any = payments.ledger
    _pay_from_threads(payments)
    writer = ledger._writer.connection.driver_connection
    writer_level = writer.execute("PRAGMA synchronous").fetchone()[0]

    def open_one() -> Any:
        conn = ledger.engine.connect()
        return conn, conn.close

    def read(conn: Any) -> Any:
        raw = conn.connection.driver_connection
        return raw, raw.execute("PRAGMA synchronous").fetchone()[0]

    return writer_level, _in_threads(6, open_one, read)


def test_every_sqlite_ledger_connection_syncs_each_commit(tmp_path: Path) -> None:
    """The default ledger's connections are all ``synchronous=FULL``: the
    kept writer of the hand-written hot path, and connections the pool
    opens later, from other threads."""
    payments = _payments(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    try:
        writer_level, pooled = _sqlite_sync_levels(payments)
        assert writer_level == SQLITE_FULL
        assert len({conn for _, conn, _ in pooled}) == 6  # six distinct connections
        assert len({thread for thread, _, _ in pooled}) == 6
        assert [level for _, _, level in pooled] == [SQLITE_FULL] * 6
        raw: Any = payments.ledger.engine.raw_connection()  # type: ignore[attr-defined]
        try:
            assert raw.driver_connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        finally:
            raw.close()
    finally:
        payments.close()


def test_relaxed_sqlite_ledger_uses_normal_and_says_so_at_startup(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="paygate.ledger"):
        payments = _payments(f"sqlite:///{tmp_path / 'ledger.sqlite3'}", durability="relaxed")
    try:
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert any("relaxed" in r.getMessage() and "power" in r.getMessage() for r in warnings)
        writer_level, pooled = _sqlite_sync_levels(payments)
        assert writer_level == SQLITE_NORMAL
        assert [level for _, _, level in pooled] == [SQLITE_NORMAL] * 6
    finally:
        payments.close()


def test_the_durable_default_logs_no_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="paygate.ledger"):
        payments = _payments(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    payments.close()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.filterwarnings("ignore:Selection of the SingletonThreadPool")
def test_a_sqlite_database_that_cannot_run_wal_is_refused(tmp_path: Path) -> None:
    """SQLite answers ``journal_mode=WAL`` with the mode it stayed in, without
    an error (here: a shared in-memory database reached through a file URI,
    which the ledger takes for a file). The ledger reads it back and refuses
    with a typed error instead of running without the durable WAL."""
    url = "sqlite:///file:paygate_durability_test?mode=memory&cache=shared&uri=true"
    keep = sqlite3.connect(
        "file:paygate_durability_test?mode=memory&cache=shared", uri=True
    )  # the shared memory database lives while one connection does
    try:
        with pytest.raises(ConfigurationError, match="journal_mode") as caught:
            _payments(url)
        assert caught.value.param == "durability"
    finally:
        keep.close()


def test_apply_sqlite_pragmas_reads_every_value_back() -> None:
    from paygate.ledger.sql import apply_sqlite_pragmas, sqlite_pragmas

    conn = sqlite3.connect(":memory:")
    try:
        with pytest.raises(ConfigurationError, match="journal_mode"):
            apply_sqlite_pragmas(conn)  # a memory database has no WAL
        apply_sqlite_pragmas(conn, memory=True)
        assert conn.execute("PRAGMA synchronous").fetchone() == (SQLITE_FULL,)
        assert sqlite_pragmas(memory=True) == {"synchronous": "FULL"}
        assert sqlite_pragmas()["journal_mode"] == "wal"
        assert sqlite_pragmas("relaxed")["synchronous"] == "NORMAL"
        with pytest.raises(ConfigurationError):
            sqlite_pragmas("fast")
    finally:
        conn.close()


def test_a_full_disk_loses_no_record(tmp_path: Path) -> None:
    """The "disk full" line of docs/reliability.md: a ledger write that does
    not fit fails the call (a typed error); a ``pending`` write that failed
    sent nothing, an outcome write that failed left the operation pending
    for ``reconcile``. Afterwards the provider's charges and the ledger's
    successes are the same set. (SQLite's ``max_page_count`` on the writer
    gives the same ``SQLITE_FULL`` as a full disk.)"""
    from paygate.errors import PaygateError
    from paygate.ledger import OperationState

    payments = _payments(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    try:
        sandbox: Any = payments.plugin("sandbox")
        payments.purchase(Money("1.00", "USD"), card(), idempotency_key="order-first")
        raw = payments.ledger._writer.connection.driver_connection  # type: ignore[attr-defined]
        pages = raw.execute("PRAGMA page_count").fetchone()[0]
        raw.execute(f"PRAGMA max_page_count={pages}")
        failed: list[str] = []
        messages: list[str] = []
        for i in range(400):
            key = f"order-{i}"
            try:
                payments.purchase(Money("1.00", "USD"), card(), idempotency_key=key)
            except PaygateError as exc:
                messages.append(exc.message)
                failed.append(key)
                if len(failed) == 4:
                    break
        assert len(failed) == 4
        # A failed pending write says the disk is full; a failed outcome write
        # (the provider had answered) is recorded as unknown for reconcile.
        assert all("full" in m or "recorded as unknown" in m for m in messages)
        assert any("full" in m for m in messages)
        sent = {key for hook, key, _ in sandbox.calls if hook == "authorize"}
        # Once full, a pending write fails: those calls never reached the
        # provider (here the first failure was an outcome write: sent).
        assert set(failed) - sent
        raw.execute("PRAGMA max_page_count=1073741823")
        payments.reconcile(pending_older_than=0)
        for key in failed:  # the host retries its failed calls with their keys
            payments.purchase(Money("1.00", "USD"), card(), idempotency_key=key)
        charged = {key for hook, key, _ in sandbox.calls if hook == "authorize"}
        ledger = payments.ledger
        succeeded = {r.idempotency_key for r in ledger.operations(state=OperationState.SUCCEEDED)}
        assert charged == succeeded
        assert set(failed) <= succeeded
        assert not ledger.operations(state=OperationState.PENDING)
        assert not ledger.operations(state=OperationState.UNKNOWN)
    finally:
        payments.close()


# The child: payments on an SQLite file ledger; a wrapper inside the ledger's
# marks the moment the provider is about to be called with a syscall nothing
# else makes (rmdir of a path that does not exist).
_CHILD = """
import os, sys
import paygate
from paygate import Card, Money, Payments

class Marker:
    @paygate.hookimpl(wrapper=True)
    def paygate_authorize(self, request):
        try:
            os.rmdir("/nonexistent-paygate-provider-call")
        except OSError:
            pass
        return (yield)

config = {"database_url": "sqlite:///" + sys.argv[1], "durability": sys.argv[2]}
payments = Payments(config, plugins=[Marker()], load_entrypoints=False)
for _ in range(12):
    payments.purchase(Money("3.00", "USD"), Card("4242424242424242", 12, 2034, "123"))
payments.close()
"""


def _strace() -> str:
    tool = shutil.which("strace")
    if tool is None:
        pytest.skip("strace is not installed")
    probe = subprocess.run(
        [tool, "-o", os.devnull, "true"], capture_output=True, timeout=30, check=False
    )
    if probe.returncode != 0:
        pytest.skip("strace cannot trace here (ptrace not permitted)")
    return tool


def _synced_before_provider_calls(tmp_path: Path, durability: str) -> list[bool]:
    """For each provider call: was the WAL synced after its last write?"""
    tool = _strace()
    db = tmp_path / f"{durability}.sqlite3"
    trace = tmp_path / f"{durability}.strace"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYGATE_")}
    subprocess.run(
        [
            tool,
            "-f",
            "-y",
            "-e",
            "trace=pwrite64,write,fdatasync,fsync,rmdir",
            "-o",
            str(trace),
            sys.executable,
            "-c",
            _CHILD,
            str(db),
            durability,
        ],
        check=True,
        timeout=120,
        env=env,
        capture_output=True,
    )
    wal = re.escape(f"{db}-wal>")
    written = synced = False
    verdicts: list[bool] = []
    for line in trace.read_text().splitlines():
        if re.search(rf"\b(pwrite64|write)\(\d+<{wal}", line):
            written, synced = True, False
        elif re.search(rf"\b(fdatasync|fsync)\(\d+<{wal}", line):
            synced = True
        elif "rmdir(" in line and "nonexistent-paygate-provider-call" in line:
            assert written, "a provider call before any WAL write"
            verdicts.append(synced)
    assert len(verdicts) == 12, trace.read_text()[-2000:]
    return verdicts


def test_the_pending_record_is_on_disk_before_the_provider_is_called(tmp_path: Path) -> None:
    """Seen from the system calls: after the ``pending`` record is written
    to the WAL, the WAL is fsynced before the provider is called, for every
    payment. (With ``relaxed`` it is not: the test can tell.)"""
    assert _synced_before_provider_calls(tmp_path, "durable") == [True] * 12
    relaxed = _synced_before_provider_calls(tmp_path, "relaxed")
    assert relaxed.count(True) <= 1  # at most a checkpoint's sync


# -- configuration and the CLI ----------------------------------------------------


@pytest.mark.parametrize("bad", ["fast", "DURABLE", "sk_live_51Hsecretvalue", 1, None, True])
def test_an_unknown_durability_is_a_config_error_that_does_not_echo_it(bad: object) -> None:
    from paygate.config import Config

    with pytest.raises(ConfigurationError) as caught:
        Config({"durability": bad})
    assert caught.value.param == "durability"
    assert "'durable', 'relaxed'" in caught.value.message
    if isinstance(bad, str):
        assert bad not in str(caught.value)
        assert bad not in repr(caught.value)
    assert Config({}).durability == "durable"
    assert Config({"durability": "relaxed"}).durability == "relaxed"


def test_paygate_plugins_shows_the_durability(tmp_path: Path) -> None:
    from paygate.cli import main

    relaxed = tmp_path / "relaxed.toml"
    relaxed.write_text('durability = "relaxed"\n')
    runner = CliRunner()
    shown = runner.invoke(main, ["--config", str(relaxed), "plugins"])
    assert shown.exit_code == 0, shown.output
    text = " ".join(shown.output.split())
    assert "ledger durability: relaxed, risk accepted" in text
    assert "synchronous=NORMAL" in text
    as_json = runner.invoke(main, ["--config", str(relaxed), "plugins", "--json"])
    assert json.loads(as_json.output)["ledger"]["durability"] == "relaxed"
    default = runner.invoke(main, ["plugins", "--json"], env={"PAYGATE_CONFIG": None})
    ledger = json.loads(default.output)["ledger"]
    assert ledger["durability"] == "durable"
    assert "synchronous=FULL" in ledger["detail"]


def test_the_cost_script_runs(tmp_path: Path) -> None:
    """The script behind docs/performance.md's durability figures still runs
    (tiny; no figure is judged)."""
    import io

    from durability_cost import measure, summary

    out = io.StringIO()
    results = measure(rounds=2, calls=3, threads=1, latency_ms=0, postgres=None, out=out)
    assert [len(results["durable"]), len(results["relaxed"])] == [2, 2]
    assert all(v > 0 for v in results["durable"] + results["relaxed"])
    assert out.getvalue().count("round ") == 2
    assert "durable - relaxed" in summary(results, threads=1, calls=3, latency_ms=0)


# -- PostgreSQL ------------------------------------------------------------------


def _with_session_setting(url: str, value: str) -> str:
    """``url`` whose sessions start with ``synchronous_commit = value``
    (added to the URL's ``options``, as a host may set it)."""
    assert "options=" in url  # the fixture's search_path
    return url + quote(f" -csynchronous_commit={value}", safe="")


def _pg_settings(payments: Payments) -> tuple[list[Any], list[Any]]:
    """``synchronous_commit`` of six SQLAlchemy pool sessions and of six hot
    path write sessions, each opened by its own thread, after payments from
    several threads."""
    ledger: Any = payments.ledger
    _pay_from_threads(payments)

    def pooled() -> Any:
        conn = ledger.engine.connect()
        return conn, conn.close

    def read_pooled(conn: Any) -> Any:
        return conn.connection.driver_connection, conn.exec_driver_sql(
            "SHOW synchronous_commit"
        ).scalar()

    def hot() -> Any:
        cur = ledger._hot.take()
        return cur, lambda: ledger._hot.give_back(cur)

    def read_hot(cur: Any) -> Any:
        return cur.connection, cur.execute("SHOW synchronous_commit").fetchone()[0]

    return _in_threads(6, pooled, read_pooled), _in_threads(6, hot, read_hot)


@pytest.mark.postgres
@pytest.mark.parametrize("server_value", ["off", "local"])
def test_postgres_ledger_sessions_commit_synchronously(
    pg_schema_url: str, server_value: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A host's ``synchronous_commit = off`` (or ``local``) for its sessions:
    the ledger's own sessions, all of them, commit with ``on``; another
    session on the same URL keeps the host's value."""
    import psycopg

    reset_pg(pg_schema_url)
    url = _with_session_setting(pg_schema_url, server_value)
    with caplog.at_level(logging.INFO, logger="paygate.ledger"):
        payments = _payments(url)
    try:
        pooled, hot = _pg_settings(payments)
        assert len({c for _, c, _ in pooled}) == 6 and len({c for _, c, _ in hot}) == 6
        assert [v for _, _, v in pooled] == ["on"] * 6
        assert [v for _, _, v in hot] == ["on"] * 6
        # Every hot-path connection the payments used, too.
        for cur, _ in list(payments.ledger._hot._idle):  # type: ignore[attr-defined]
            assert cur.execute("SHOW synchronous_commit").fetchone()[0] == "on"
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as other:
            assert other.execute("SHOW synchronous_commit").fetchone()[0] == server_value
    finally:
        payments.close()


@pytest.mark.postgres
def test_postgres_relaxed_leaves_the_session_setting_alone(
    pg_schema_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    reset_pg(pg_schema_url)
    url = _with_session_setting(pg_schema_url, "off")
    with caplog.at_level(logging.WARNING, logger="paygate.ledger"):
        payments = _payments(url, durability="relaxed")
    try:
        assert any("relaxed" in r.getMessage() for r in caplog.records)
        pooled, hot = _pg_settings(payments)
        assert [v for _, _, v in pooled + hot] == ["off"] * 12
    finally:
        payments.close()


@pytest.mark.postgres
def test_postgres_a_stronger_setting_is_kept(pg_schema_url: str) -> None:
    """``remote_apply`` waits for more than ``on``: the ledger does not lower it."""
    reset_pg(pg_schema_url)
    payments = _payments(_with_session_setting(pg_schema_url, "remote_apply"))
    try:
        pooled, hot = _pg_settings(payments)
        assert [v for _, _, v in pooled + hot] == ["remote_apply"] * 12
    finally:
        payments.close()


class _SessionIgnoringSet:
    """A PostgreSQL session behind a proxy that drops ``SET``: it answers
    ``SHOW`` with ``off`` whatever was set (what the check must catch)."""

    autocommit = True

    def __init__(self) -> None:
        self.statements: list[str] = []

    def execute(self, sql: str) -> Any:
        self.statements.append(sql)
        rows = [("off",)] if sql.startswith("SHOW") else []
        return type("Result", (), {"fetchone": lambda _self: rows[0] if rows else None})()


def test_a_session_that_does_not_keep_the_setting_is_refused() -> None:
    from paygate.ledger.postgres import CommitDurability

    session = _SessionIgnoringSet()
    with pytest.raises(ConfigurationError, match="synchronous_commit") as caught:
        CommitDurability("durable").apply(session)
    assert 'durability = "relaxed"' in caught.value.message
    assert session.statements == [
        "SHOW synchronous_commit",
        "SET synchronous_commit = on",
        "SHOW synchronous_commit",
    ]
    relaxed = _SessionIgnoringSet()
    assert CommitDurability("relaxed").apply(relaxed) == "off"
    assert relaxed.statements == ["SHOW synchronous_commit"]

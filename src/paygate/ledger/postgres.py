"""The PostgreSQL hot path of :class:`~paygate.ledger.sql.SQLLedger`.

Every payment writes the ledger twice: the pending record before the request
leaves, the outcome after. Through SQLAlchemy each write cost a pool ping,
``BEGIN``, one round trip per statement and ``COMMIT``: ten round trips per
payment, and the client-side work of each (about 50 µs of CPU under the GIL)
was what capped a 32-thread renewal batch, not the server. Here the two writes
go straight to psycopg connections of their own (:class:`WriteConnections`):

* the pending record is one ``INSERT`` in autocommit: one round trip;
* the outcome is ``BEGIN``, ``SELECT ... FOR UPDATE``, then one statement
  that updates the operation *and* upserts the transaction, then ``COMMIT``;
  when the transaction is brand new (its id and key were made for this call)
  the read has nothing to find, and the one statement runs alone in
  autocommit.

No pool ping, no SQLAlchemy statement machinery: the client work per payment
fell by more than half. The two autocommit statements skip psycopg's cursor
too (:func:`run_prepared`: libpq's prepared statements, parameters as text).
(psycopg's pipeline mode saves round trips but costs more client CPU than it
saves here: measured and left out.)

The locking is the same as the SQLAlchemy path (the transaction row is held
``FOR UPDATE`` while ``apply`` runs on it as stored), and so are the
compare-and-set rules of ``finish``. Everything else (reservations, reads,
webhooks, reconcile) stays on SQLAlchemy: it is not per payment.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import cache
from typing import Any

from psycopg.pq import DiagnosticField, ExecStatus, TransactionStatus
from sqlalchemy import BigInteger, DateTime, Engine, event
from sqlalchemy.exc import DisconnectionError

from paygate.errors import ConfigurationError
from paygate.ledger.durability import DEFAULT_DURABILITY, DURABLE_COMMIT, checked
from paygate.ledger.rows import PENDING_COLUMNS, TX_COLUMNS, TX_UPDATED_COLUMNS, tx_row
from paygate.ledger.schema import operations, transactions
from paygate.models import Transaction
from paygate.redaction import get_logger

log = get_logger("paygate.ledger")

#: A pooled connection idle for longer than this is pinged before use. The
#: ping costs three round trips, so it is not paid per checkout (SQLAlchemy's
#: ``pool_pre_ping``) but only where a dropped connection is likely: after a
#: pause. A connection that dies mid-burst fails its statement, and the ledger
#: treats that like any write that did not happen (before the request: nothing
#: is sent; after: the operation stays pending for ``reconcile``).
PING_AFTER_IDLE_SECONDS = 10.0


#: The server values already reported (once per process each).
_REPORTED: set[str] = set()


class CommitDurability:
    """The ledger's check of ``synchronous_commit``, on every session it opens.

    ``"durable"``: a session whose value is ``off`` or ``local`` (the
    server's, the database's or the role's default, or the URL's
    ``options``) gets ``SET synchronous_commit = on``, in that session only:
    a host that made commits asynchronous for its own tables keeps that
    there, and the ledger's write-ahead record still reaches the disk before
    a request leaves. The value is then read back; a session that does not
    keep it (a proxy that drops ``SET``) is refused with
    :class:`~paygate.errors.ConfigurationError`. ``"relaxed"``: the session's
    value is left as it is.
    """

    def __init__(self, durability: str = DEFAULT_DURABILITY) -> None:
        self.durability = checked(durability)

    def apply(self, conn: Any) -> str:
        """Check (and raise) the setting of psycopg connection ``conn``; the
        value in effect after. A transaction this opens is committed (a
        ``SET`` rolled back with its transaction would be undone)."""
        try:
            found = _show_synchronous_commit(conn)
            if self.durability != "durable" or found in DURABLE_COMMIT:
                return found
            conn.execute("SET synchronous_commit = on")
            now = _show_synchronous_commit(conn)
        finally:
            if not conn.autocommit:
                conn.commit()
        if now not in DURABLE_COMMIT:
            raise ConfigurationError(
                f"the PostgreSQL ledger's session keeps synchronous_commit = {now!r} "
                "after SET synchronous_commit = on: its commits may be lost to a crash. "
                "Set synchronous_commit = on for the ledger's role "
                "(ALTER ROLE ... SET synchronous_commit = on), or accept the risk "
                'with durability = "relaxed"',
                param="durability",
            )
        if found not in _REPORTED:
            _REPORTED.add(found)
            log.info(
                "PostgreSQL's synchronous_commit is %r for the ledger's sessions: the ledger "
                "sets it to 'on' in its own sessions (durability = \"durable\"); other "
                "sessions keep theirs",
                found,
            )
        return now

    def listen(self, engine: Engine) -> None:
        """Apply to every connection ``engine``'s pool opens."""

        @event.listens_for(engine, "connect")
        def _connected(dbapi_conn: Any, _record: Any) -> None:
            self.apply(dbapi_conn)


def _show_synchronous_commit(conn: Any) -> str:
    row = conn.execute("SHOW synchronous_commit").fetchone()
    return str(row[0]) if row else ""


def numbered(sql: str) -> str:
    """``sql`` with its ``%s`` placeholders as PostgreSQL's own ``$1, $2, ...``.

    The hot path's cursors are :class:`psycopg.RawCursor`: they send the
    statement as it is, where a plain cursor parses and rewrites its ``%s``
    on every execute (a tenth of the client CPU of a payment, measured).
    """
    parts = sql.split("%s")
    return parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], 1))


# Positional parameters throughout: psycopg adapts a tuple in the statement's
# order for less than it costs to reorder a dict by name (measured: the
# parameter handling was a tenth of the client CPU of a payment).
INSERT_OPERATION = numbered(
    f"INSERT INTO {operations.name} ({', '.join(PENDING_COLUMNS)}) "
    f"VALUES ({', '.join('%s' for _ in PENDING_COLUMNS)})"
)

TRANSACTION_FOR_UPDATE = numbered(f"SELECT data FROM {transactions.name} WHERE id = %s FOR UPDATE")


def _finish_sql(
    *, with_reference: bool, expected: int, save_tx: bool
) -> tuple[str, tuple[str, ...]]:
    """The settling statement and the names of its parameters, in order.

    ``expected`` is how many states the compare-and-set accepts (0: no
    compare-and-set); names are the keys of ``rows.finish_params`` plus
    ``p_expected<i>`` and the ``t_``-prefixed transaction columns.
    """
    sets = ["state", "operation_reference", "error", "result", "updated_at"]
    if with_reference:
        sets.append("provider_reference")
    names = [f"p_{c}" for c in sets] + ["p_key"]
    where = "idempotency_key = %s"
    if expected:
        where += f" AND state IN ({', '.join('%s' for _ in range(expected))})"
        names += [f"p_expected{i}" for i in range(expected)]
    op = (
        f"UPDATE {operations.name} SET {', '.join(f'{c} = %s' for c in sets)} "
        f"WHERE {where} RETURNING 1"
    )
    if not save_tx:
        return numbered(f"WITH op AS ({op}) SELECT count(*) FROM op"), tuple(names)
    # Without ``expected`` the transaction is saved whatever the operation
    # row said, as on the SQLAlchemy path; with it, only when the
    # compare-and-set matched, so a stale finish changes nothing.
    guard = " WHERE EXISTS (SELECT 1 FROM op)" if expected else ""
    tx = (
        f"INSERT INTO {transactions.name} ({', '.join(TX_COLUMNS)}) "
        f"SELECT {', '.join('%s' for _ in TX_COLUMNS)}{guard} "
        "ON CONFLICT (id) DO UPDATE SET "
        f"{', '.join(f'{c} = EXCLUDED.{c}' for c in TX_UPDATED_COLUMNS)} "
        "RETURNING 1"
    )
    names += [f"t_{c}" for c in TX_COLUMNS]
    return numbered(f"WITH op AS ({op}), tx AS ({tx}) SELECT (SELECT count(*) FROM op)"), tuple(
        names
    )


@cache
def finish_sql(with_reference: bool, expected: int, save_tx: bool) -> tuple[str, tuple[str, ...]]:
    return _finish_sql(with_reference=with_reference, expected=expected, save_tx=save_tx)


class WriteConnections:
    """The psycopg connections of the two per-payment writes, in autocommit.

    SQLAlchemy's pool hands a connection out through a locked queue, runs two
    events and a reset per checkout, and the hot path then flipped
    ``autocommit`` twice per write: under 32 threads that was a seventh of
    the client CPU of a payment, most of it contention on the queue's lock.
    Here an idle connection is a list ``pop`` and its return an ``append``
    (atomic in CPython, no lock); a lock is taken only to open or close one.
    Each connection keeps one cursor: psycopg's ``Connection.execute`` makes a
    new one per statement, copying the adapters map each time.

    Up to ``limit`` are open at once, and a writer beyond that waits for one
    (as SQLAlchemy's ``max_overflow`` makes it wait); a connection given back
    goes to a waiting writer first. Beyond ``keep``, an idle connection is
    closed once it has gone unused for :attr:`SURPLUS_IDLE_SECONDS`, not on
    its return: more writers than ``keep`` at once (a 32-thread batch on a
    pool of 8) would otherwise close a connection on every return and open
    one, a new backend process, for nearly every write. A connection that
    raised, is broken or is left inside a transaction is closed, never handed
    out again. One idle for :data:`PING_AFTER_IDLE_SECONDS` is pinged before use.
    """

    #: How long a writer waits for a connection when ``limit`` are in use.
    WAIT_SECONDS = 30.0
    #: How long a connection beyond ``keep`` may sit idle before it is closed.
    SURPLUS_IDLE_SECONDS = 10.0

    def __init__(
        self,
        engine: Engine,
        *,
        keep: int,
        limit: int,
        on_connect: Callable[[Any], object] | None = None,
    ) -> None:
        cargs, cparams = engine.dialect.create_connect_args(engine.url)
        #: Run on every new connection before its first use (the ledger's
        #: :class:`CommitDurability`); what it raises refuses the connection.
        self._on_connect = on_connect
        self._cargs: list[Any] = list(cargs)
        self._cparams: dict[str, Any] = dict(cparams)
        self._keep = keep
        self._limit = max(limit, keep)
        self._idle: list[tuple[Any, float]] = []  # (cursor, idle since)
        self._open = 0
        #: writers waiting in ``_connect`` (read without the lock: a stale
        #: read only closes or keeps one connection too many)
        self._waiting = 0
        self._closed = False
        self._lock = threading.Lock()
        self._freed = threading.Condition(self._lock)
        self._pid = os.getpid()

    @property
    def open_count(self) -> int:
        """Connections open now, idle or in use."""
        return self._open

    def take(self) -> Any:
        """The cursor of a connection in autocommit, idle (not in a transaction)."""
        if self._pid != os.getpid():
            self._after_fork()
        while True:
            try:
                cur, since = self._idle.pop()
            except IndexError:
                fresh = self._connect()
                if fresh is None:  # one was given back while this writer waited
                    continue
                return fresh
            if time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
                return cur
            try:
                cur.execute("SELECT 1")
            except Exception:
                # Dropped while idle (server restart, firewall): try the next.
                self.discard(cur)
                continue
            return cur

    def give_back(self, cur: Any) -> None:
        conn = cur.connection
        if (
            self._closed
            or conn.broken
            or conn.closed
            or conn.info.transaction_status != TransactionStatus.IDLE
        ):
            self.discard(cur)
            return
        now = time.monotonic()
        self._idle.append((cur, now))
        if self._waiting:
            with self._lock:
                self._freed.notify()
        if len(self._idle) > self._keep:
            self._retire_oldest(now)

    def _retire_oldest(self, now: float) -> None:
        # The list is used as a stack: its first entry is the one idle longest.
        try:
            oldest = self._idle[0]
        except IndexError:
            return
        if now - oldest[1] < self.SURPLUS_IDLE_SECONDS:
            return
        try:
            self._idle.remove(oldest)
        except ValueError:  # handed out meanwhile
            return
        self.discard(oldest[0])

    def discard(self, cur: Any) -> None:
        """Close the connection of ``cur`` (never reused) and free its place."""
        try:
            cur.connection.close()
        finally:
            self._free_place()

    @contextmanager
    def cursor(self) -> Iterator[Any]:
        """A cursor for one write: given back after, its connection closed
        instead when the block raised (whatever state it is in then, and the
        server rolls back an open transaction with the session)."""
        cur = self.take()
        try:
            yield cur
        except BaseException:
            self.discard(cur)
            raise
        self.give_back(cur)

    def _free_place(self) -> None:
        with self._lock:
            self._open -= 1
            self._freed.notify()

    def close(self) -> None:
        """Close the idle connections (those in use are closed when given back)."""
        self._closed = True
        while self._idle:
            self.discard(self._idle.pop()[0])

    def _connect(self) -> Any:
        """A new connection's cursor, or ``None`` when one was given back
        while this writer waited for a place (``take`` then pops it)."""
        import psycopg

        with self._lock:
            self._waiting += 1
            try:
                free = self._freed.wait_for(
                    lambda: bool(self._idle) or self._open < self._limit, self.WAIT_SECONDS
                )
            finally:
                self._waiting -= 1
            if not free:
                raise TimeoutError(
                    f"no ledger connection free within {self.WAIT_SECONDS:.0f} s "
                    f"({self._limit} in use): raise database_pool_size"
                )
            if self._idle:
                return None
            self._open += 1
        try:
            conn = psycopg.connect(*self._cargs, **self._cparams, autocommit=True)
        except BaseException:
            self._free_place()
            raise
        try:
            if self._on_connect is not None:
                self._on_connect(conn)
            return psycopg.RawCursor(conn)
        except BaseException:
            try:
                conn.close()
            finally:
                self._free_place()
            raise

    def _after_fork(self) -> None:
        # The parent's connections share their sockets with the parent:
        # closing them here would end the parent's sessions. Forget them.
        with self._lock:
            if self._pid != os.getpid():
                self._idle = []
                self._open = 0
                self._pid = os.getpid()


# -- the two autocommit statements, through libpq itself -----------------------
#
# psycopg's cursor spends ~45 µs of CPU (under the GIL) on every execute
# around libpq's own few: adapting, the prepared-statement manager, result
# bookkeeping. The two statements of every payment skip it: each connection
# prepares them once (``PQprepare``), then runs ``PQexecPrepared`` with the
# parameters as text, ~6 µs, the GIL released for the round trip (measured).

_UNIQUE_VIOLATION = b"23505"
_TEXT_OID, _INT8_OID, _TIMESTAMPTZ_OID = 25, 20, 1184


def _type_oid(name: str) -> int:
    """The type of a hot-path parameter, from the column it is written to
    (``t_<column>``: the transaction's; ``p_<column>`` or ``<column>``: the
    operation's; anything else, keys and states, is text)."""
    if name.startswith("t_"):
        column = transactions.c[name[2:]]
    else:
        bare = name[2:] if name.startswith("p_") else name
        if bare not in operations.c:
            return _TEXT_OID
        column = operations.c[bare]
    if isinstance(column.type, BigInteger):
        return _INT8_OID
    if isinstance(column.type, DateTime):
        return _TIMESTAMPTZ_OID
    return _TEXT_OID


def as_text(value: object) -> bytes | None:
    """A ledger row's value in PostgreSQL's text input form."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, datetime):
        return value.isoformat().encode()
    if isinstance(value, int) and not isinstance(value, bool):
        return b"%d" % value
    raise TypeError(f"no text form for a {type(value).__name__} in a ledger row")


#: Numbers the prepared statements (``next`` is atomic: two threads
#: preparing different statements at once never get the same name).
_STATEMENT_NUMBERS = itertools.count()


@cache
def _statement(sql: str, names: tuple[str, ...]) -> tuple[bytes, bytes, tuple[int, ...]]:
    name = b"paygate_%d" % next(_STATEMENT_NUMBERS)
    return name, sql.encode(), tuple(_type_oid(n) for n in names)


def run_prepared(cur: Any, sql: str, names: tuple[str, ...], values: list[object]) -> Any:
    """Run ``sql`` (``$n`` placeholders, parameters ``names``) with ``values``
    on the connection of ``cur``, prepared there on first use; its result.

    Raises the psycopg error of a failed statement, except a unique
    violation, whose result is returned (see :func:`insert_operation`)."""
    from psycopg import errors

    conn = cur.connection
    pgconn = conn.pgconn
    name, text, oids = _statement(sql, names)
    prepared: set[bytes] | None = getattr(conn, "_paygate_prepared", None)
    if prepared is None:
        prepared = conn._paygate_prepared = set()
    if name not in prepared:
        made = pgconn.prepare(name, text, oids)
        if made.status != ExecStatus.COMMAND_OK:
            raise errors.error_from_result(made, encoding=conn.info.encoding)
        prepared.add(name)
    result = pgconn.exec_prepared(name, [as_text(v) for v in values])
    if result.status == ExecStatus.FATAL_ERROR and (
        result.error_field(DiagnosticField.SQLSTATE) != _UNIQUE_VIOLATION
    ):
        raise errors.error_from_result(result, encoding=conn.info.encoding)
    return result


def insert_operation(pool: WriteConnections, row: dict[str, Any]) -> bool:
    """Insert a pending operation in one autocommit statement (one round trip).

    Returns ``False`` when the key is already recorded (the caller then takes
    the general path, which decides between replay, takeover and conflict).
    """
    with pool.cursor() as cur:
        result = run_prepared(
            cur, INSERT_OPERATION, PENDING_COLUMNS, [row[c] for c in PENDING_COLUMNS]
        )
    # Autocommit: a failed INSERT leaves the connection idle, reusable.
    return bool(result.status == ExecStatus.COMMAND_OK)


def finish(
    pool: WriteConnections,
    *,
    new_transaction: bool = False,
    transaction_id: str,
    op_params: dict[str, Any],
    with_reference: bool,
    expected: tuple[str, ...] | None,
    apply: Callable[[Transaction | None], Transaction | None],
    now: datetime,
) -> tuple[int, Transaction | None]:
    """Apply an outcome in one database transaction: ``(operations matched, tx)``.

    ``expected``: the states the operation must still be in (compare-and-set,
    already in ``op_params`` as ``p_expected<i>``), or None. When it is set
    and no operation matched, nothing was written
    (the caller raises :class:`~paygate.ledger.base.StaleFinish`).

    ``new_transaction``: the caller knows no row exists for
    ``transaction_id`` (its id was made for this operation, whose key was
    generated for this call): ``apply`` runs on None and the settling
    statement runs alone, in autocommit, one round trip. Its compare-and-set
    on the operation row still decides: whoever settles the operation first
    (``reconcile``) writes the transaction, the other writes nothing.
    """
    params = dict(op_params)
    if new_transaction and expected is not None:
        return _finish_new(pool, params, with_reference, len(expected), apply, now)
    with pool.cursor() as cur:
        cur.execute("BEGIN")
        row = cur.execute(TRANSACTION_FOR_UPDATE, (transaction_id,)).fetchone()
        current = Transaction.model_validate_json(row[0]) if row else None
        tx = apply(current)
        if tx is not None:
            for key, value in tx_row(tx, now).items():
                params[f"t_{key}"] = value
        sql, names = finish_sql(
            with_reference, len(expected) if expected is not None else 0, tx is not None
        )
        matched = int(cur.execute(sql, tuple(params[n] for n in names)).fetchone()[0])
        cur.execute("COMMIT")
    return matched, tx


def _finish_new(
    pool: WriteConnections,
    params: dict[str, Any],
    with_reference: bool,
    expected: int,
    apply: Callable[[Transaction | None], Transaction | None],
    now: datetime,
) -> tuple[int, Transaction | None]:
    tx = apply(None)
    if tx is not None:
        for key, value in tx_row(tx, now).items():
            params[f"t_{key}"] = value
    sql, names = finish_sql(with_reference, expected, tx is not None)
    values = [params[n] for n in names]
    with pool.cursor() as cur:
        result = run_prepared(cur, sql, names, values)
        if result.status != ExecStatus.TUPLES_OK:  # a unique violation: not from this statement
            raise RuntimeError(f"the ledger's outcome statement failed: {result.status!r}")
        matched = int(result.get_value(0, 0))
    return matched, tx


def ping_idle_connections(engine: Engine) -> None:
    """Ping a pooled connection on checkout only after it sat idle a while."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn: Any, record: Any) -> None:
        record.info["paygate_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("paygate_idle_since")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            dbapi_conn.execute("SELECT 1")
            dbapi_conn.rollback()
        except Exception as exc:
            # The pool discards this connection and checks out another.
            raise DisconnectionError(f"ledger connection dropped: {exc}") from exc


__all__ = [
    "DURABLE_COMMIT",
    "INSERT_OPERATION",
    "PING_AFTER_IDLE_SECONDS",
    "TRANSACTION_FOR_UPDATE",
    "CommitDurability",
    "WriteConnections",
    "as_text",
    "finish",
    "finish_sql",
    "insert_operation",
    "ping_idle_connections",
    "run_prepared",
]

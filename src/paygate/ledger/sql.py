"""The SQLAlchemy ledger: an SQLite file by default, PostgreSQL for many workers.

Concurrency:

* PostgreSQL: the transaction row is locked (``SELECT ... FOR UPDATE``)
  while a reservation is checked and while an outcome is applied.
* SQLite: every write transaction starts with ``BEGIN IMMEDIATE``, which takes
  the database's write lock at once, so check-then-insert is serialized
  across threads *and* processes; WAL keeps readers unblocked.

Durability (config ``durability``, default ``"durable"``): on SQLite every
connection the engine opens gets :func:`sqlite_pragmas` (WAL,
``synchronous=FULL``: each commit is fsynced before it returns, so the
``pending`` record written before a request leaves survives a power loss),
read back and checked; on PostgreSQL each session's ``synchronous_commit`` is
checked and raised to ``on`` where it is ``off`` or ``local``
(:class:`paygate.ledger.postgres.CommitDurability`). ``"relaxed"`` gives
SQLite ``synchronous=NORMAL`` and leaves PostgreSQL's setting as it is.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Connection,
    Engine,
    bindparam,
    create_engine,
    delete,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import StaticPool

from paygate.errors import ConfigurationError
from paygate.ledger import sqlite
from paygate.ledger.base import (
    HOLDING_STATES,
    ApplyFn,
    EventFn,
    LedgerStore,
    StaleFinish,
    check_reservation,
    conflict_for,
    takeover,
)
from paygate.ledger.durability import DEFAULT_DURABILITY, SQLITE_SYNCHRONOUS
from paygate.ledger.durability import checked as _checked_durability
from paygate.ledger.records import (
    GENERATED_KEY_DIGEST,
    OperationRecord,
    OperationState,
    Reservation,
)
from paygate.ledger.rows import finish_params, pending_row, tx_row
from paygate.ledger.schema import metadata, operations, transactions, webhook_events
from paygate.ledger.write_lock import WriteLock
from paygate.models import Transaction
from paygate.money import Money
from paygate.operations import CREATING_OPERATIONS
from paygate.redaction import get_logger

if TYPE_CHECKING:
    from paygate.ledger.postgres import WriteConnections

# Statements on the hot path, built once: constructing SQLAlchemy statements
# per call cost more than executing them (SQLAlchemy caches the compiled form
# of a statement object; bind parameters carry the values).
_OP_BY_KEY = select(operations).where(operations.c.idempotency_key == bindparam("p_key"))
_INSERT_OP = insert(operations)
_TX_DATA = select(transactions.c.data).where(transactions.c.id == bindparam("p_id"))
_TX_DATA_FOR_UPDATE = _TX_DATA.with_for_update()
_INSERT_TX = insert(transactions)
_UPDATE_TX = update(transactions).where(transactions.c.id == bindparam("p_id"))


#: Pages the SQLite WAL may hold before a commit checkpoints it.
WAL_AUTOCHECKPOINT_PAGES = 4000
#: How long an SQLite connection waits for another one's lock.
SQLITE_BUSY_SECONDS = 30.0

#: What ``PRAGMA synchronous`` reads back for each level.
_SYNCHRONOUS_READ = {"OFF": 0, "NORMAL": 1, "FULL": 2, "EXTRA": 3}

log = get_logger("paygate.ledger")

#: The datetime parameters of the hot-path statements (rows.py's keys).
_DATETIME_PARAMS = ("created_at", "updated_at", "p_updated_at")


def sqlite_datetime(value: datetime) -> str:
    """``value`` in SQLAlchemy's SQLite ``DATETIME`` text form (its fields as
    they are, offset dropped, as SQLAlchemy's own processor does)."""
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def use_wal(dbapi_conn: sqlite3.Connection, *, wait: float = SQLITE_BUSY_SECONDS) -> str:
    """Put the database in WAL mode; the journal mode it ends in.

    Switching a database to WAL needs it unlocked, and SQLite answers
    ``SQLITE_BUSY`` at once instead of calling the busy handler: several
    processes opening a new ledger together would see "database is locked".
    The switch is tried again until ``wait`` seconds have passed (once any
    connection switched, the mode is stored in the file and this is a read).
    """
    deadline = time.monotonic() + wait
    pause = 0.001
    while True:
        try:
            row = dbapi_conn.execute("PRAGMA journal_mode=WAL").fetchone()
            return str(row[0])
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def sqlite_pragmas(
    durability: str = DEFAULT_DURABILITY, *, memory: bool = False
) -> dict[str, str | int]:
    """The PRAGMAs the ledger sets on every SQLite connection, in the order it
    sets them: the one place that says what they are (the bench's SQLite
    figures use exactly these). ``memory``: an in-memory database, which has
    no WAL.

    The busy timeout is not a PRAGMA here: it is the driver's ``timeout``
    (:data:`SQLITE_BUSY_SECONDS`).
    """
    pragmas: dict[str, str | int] = {}
    if not memory:
        pragmas["journal_mode"] = "wal"
        # A checkpoint copies the WAL's pages into the database and syncs
        # it, inside the commit that crosses the limit: every 1,000 pages
        # (SQLite's default) is every ~60 payments. At 4,000 pages (a WAL of
        # ~16 MB) a page written by several payments is copied once, not
        # four times: ~7 % of the CPU of a payment, measured.
        pragmas["wal_autocheckpoint"] = WAL_AUTOCHECKPOINT_PAGES
    pragmas["synchronous"] = SQLITE_SYNCHRONOUS[_checked_durability(durability)]
    return pragmas


def apply_sqlite_pragmas(
    dbapi_conn: sqlite3.Connection, durability: str = DEFAULT_DURABILITY, *, memory: bool = False
) -> None:
    """Set :func:`sqlite_pragmas` on ``dbapi_conn`` and read each one back.

    SQLite ignores what it cannot do without a word: ``journal_mode=WAL``
    answers the mode it stayed in (a file system without shared memory),
    and an unknown ``synchronous`` value is taken as NORMAL. So every value
    is read back.

    :raises ConfigurationError: a PRAGMA did not take.
    """
    pragmas = sqlite_pragmas(durability, memory=memory)
    for name, value in pragmas.items():
        if name == "journal_mode":
            use_wal(dbapi_conn)
        else:
            dbapi_conn.execute(f"PRAGMA {name}={value}")
    for name, value in pragmas.items():
        row = dbapi_conn.execute(f"PRAGMA {name}").fetchone()
        got = row[0] if row else None
        want = _SYNCHRONOUS_READ[str(value)] if name == "synchronous" else value
        if got != want:
            raise ConfigurationError(
                f"the SQLite ledger's connection did not keep PRAGMA {name}={value} "
                f"(it reads back {got!r}); the ledger needs it for durability = "
                f"{durability!r} (see docs/reliability.md)",
                param="durability",
            )


def _utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def make_engine(url: str, *, pool_size: int = 32, durability: str = DEFAULT_DURABILITY) -> Engine:
    """An engine tuned for the ledger: WAL + immediate transactions on SQLite,
    and ``durability`` (see the module doc) on every connection it opens."""
    _checked_durability(durability)
    try:
        if url.startswith("sqlite"):
            memory = url in ("sqlite://", "sqlite:///:memory:")
            engine = create_engine(
                url,
                connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_SECONDS},
                poolclass=StaticPool if memory else None,
            )

            @event.listens_for(engine, "connect")
            def _on_connect(dbapi_conn: Any, _record: Any) -> None:
                # Let SQLAlchemy's "begin" event issue BEGIN IMMEDIATE itself.
                dbapi_conn.isolation_level = None
                # Every connection, whoever opens it (the kept writer of the
                # hot path, pooled readers, migrations), from any thread.
                apply_sqlite_pragmas(dbapi_conn, durability, memory=memory)
                sqlite.prepare(dbapi_conn)

            @event.listens_for(engine, "begin")
            def _on_begin(conn: Connection) -> None:
                # Writers take the lock up front; readers stay deferred (WAL).
                # Straight to the driver: this runs twice per operation.
                write = conn.get_execution_options().get("paygate_write")
                conn.connection.driver_connection.execute(  # type: ignore[union-attr]
                    "BEGIN IMMEDIATE" if write else "BEGIN"
                )

            return engine
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        # Connections beyond pool_size are opened and closed per checkout:
        # a new PostgreSQL backend per ledger write once more threads than
        # that write at once.
        engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size)
        if engine.dialect.name == "postgresql":
            from paygate.ledger.postgres import CommitDurability, ping_idle_connections

            ping_idle_connections(engine)
            CommitDurability(durability).listen(engine)
        return engine
    except Exception as exc:  # bad URL, missing driver
        # The driver's message may quote the URL (and its password): the type only.
        raise ConfigurationError(
            f"cannot open the ledger database: {type(exc).__name__}; check database_url"
        ) from None


class SQLLedger(LedgerStore):
    """Ledger in a SQL database reached through SQLAlchemy."""

    def __init__(
        self,
        url: str,
        *,
        create: bool = True,
        pool_size: int = 32,
        durability: str = DEFAULT_DURABILITY,
    ) -> None:
        self.url = url
        self.durability = _checked_durability(durability)
        self.engine = make_engine(url, pool_size=pool_size, durability=durability)
        self._is_sqlite = self.engine.dialect.name == "sqlite"
        self._is_postgres = self.engine.dialect.name == "postgresql"
        # Transactions begun here whose row cannot exist yet: their finish
        # reads nothing (set add/discard are atomic).
        self._new_txs: set[str] = set()
        # One writer at a time inside this process spares SQLite's busy loop.
        self._write_lock = WriteLock() if self._is_sqlite else None
        self._writer: Connection | None = None
        self._keep_writer = self._is_sqlite and not isinstance(self.engine.pool, StaticPool)
        # PostgreSQL: the two per-payment writes have connections of their own.
        self._hot: WriteConnections | None = None
        if self._is_postgres:
            from paygate.ledger.postgres import CommitDurability, WriteConnections

            self._hot = WriteConnections(
                self.engine,
                keep=pool_size,
                limit=2 * pool_size,
                on_connect=CommitDurability(durability).apply,
            )
        if durability == "relaxed":
            log.warning(
                'ledger durability is "relaxed" (configuration key durability): a power '
                "loss or an operating-system crash may lose the latest ledger writes, "
                "including the record of a payment already sent to the provider"
            )
        if create:
            from paygate.ledger.migrations import upgrade

            upgrade(self.engine)

    # -- helpers -----------------------------------------------------------
    def _lock_tx(self, conn: Connection, transaction_id: str) -> Transaction | None:
        stmt = _TX_DATA if self._is_sqlite else _TX_DATA_FOR_UPDATE
        row = conn.execute(stmt, {"p_id": transaction_id}).first()
        return Transaction.model_validate_json(row[0]) if row else None

    @staticmethod
    def _record(row: Any) -> OperationRecord:
        amount = (
            Money.from_minor(row.amount_minor, row.currency)
            if row.amount_minor is not None and row.currency
            else None
        )
        return OperationRecord(
            idempotency_key=row.idempotency_key,
            operation=row.operation,
            provider=row.provider,
            transaction_id=row.transaction_id,
            request_digest=row.request_digest,
            state=OperationState(row.state),
            amount=amount,
            reservation_kind=row.reservation_kind,
            provider_reference=row.provider_reference,
            operation_reference=row.operation_reference,
            error=json.loads(row.error) if row.error else None,
            result=json.loads(row.result) if row.result else {},
            request=json.loads(row.request) if row.request else {},
            created_at=_utc(row.created_at),
            updated_at=_utc(row.updated_at),
        )

    def _writer_conn(self) -> Connection:
        """The connection a write goes through (under the write lock on SQLite).

        SQLite has one writer at a time anyway (the process lock, then
        ``BEGIN IMMEDIATE``): its connection is kept instead of a pool round
        trip per write. Elsewhere each write checks one out of the pool.
        """
        conn = self._writer
        if conn is None:
            conn = self.engine.connect().execution_options(paygate_write=True)
            if self._keep_writer:
                self._writer = conn
        return conn

    def _end(self, conn: Connection, end: Callable[[], object]) -> None:
        """Commit or roll back; a connection that cannot end its transaction
        is not reused."""
        try:
            end()
        except BaseException:
            if conn is self._writer:
                self._writer = None
            raise

    def _give_back(self, conn: Connection) -> None:
        if conn is not self._writer:
            conn.close()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """The process write lock (SQLite) plus one database transaction."""
        with self._write_lock or contextlib.nullcontext():
            conn = self._writer_conn()
            try:
                conn.begin()
                try:
                    yield conn
                except BaseException:
                    self._end(conn, conn.rollback)
                    raise
                self._end(conn, conn.commit)
            finally:
                self._give_back(conn)

    @contextmanager
    def _sqlite_write(self, *, single: bool = False) -> Iterator[sqlite3.Connection]:
        """The hot path's write transaction: the driver connection of the
        kept writer, under the same process lock and ``BEGIN IMMEDIATE``.

        ``single``: the block runs one statement, which SQLite makes atomic
        on its own (the driver is in autocommit mode): no ``BEGIN``/``COMMIT``.
        """
        with self._write_lock or contextlib.nullcontext():
            conn = self._writer_conn()
            try:
                raw: sqlite3.Connection = conn.connection.driver_connection  # type: ignore[assignment]
                if single:
                    yield raw
                    return
                raw.execute("BEGIN IMMEDIATE")
                try:
                    yield raw
                except BaseException:
                    if raw.in_transaction:
                        self._end(conn, lambda: raw.execute("ROLLBACK"))
                    raise
                self._end(conn, lambda: raw.execute("COMMIT"))
            finally:
                self._give_back(conn)

    @staticmethod
    def _sqlite_times(params: dict[str, Any]) -> dict[str, Any]:
        # The driver gets datetimes as the text SQLAlchemy writes and reads
        # back for this column type on SQLite ("YYYY-MM-DD HH:MM:SS.ffffff",
        # no offset: every ledger time is UTC). isoformat is C; SQLAlchemy's
        # own processor, a %-format in Python, showed in the GIL profile of
        # the throughput figure. A test pins the two to each other.
        for key in _DATETIME_PARAMS:
            value = params.get(key)
            if value is not None:
                params[key] = sqlite_datetime(value)
        return params

    # -- interface ---------------------------------------------------------
    def find_operation(self, idempotency_key: str) -> OperationRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(_OP_BY_KEY, {"p_key": idempotency_key}).first()
            self._end_read(conn)
        return self._record(row) if row else None

    def _end_read(self, conn: Connection) -> None:
        """End a read's transaction. SQLite: roll back. PostgreSQL: commit
        (nothing was written, so nothing is flushed): on a ROLLBACK psycopg
        forgets every statement it prepared on the connection and deallocates
        them at the next use, and a read on every payment (the key's record)
        made the pooled connections, shared with billing, prepare nothing."""
        if self._is_sqlite:
            conn.rollback()
        else:
            conn.commit()

    def begin(self, record: OperationRecord, reservation: Reservation | None = None) -> bool:
        rec = replace(record)
        now = rec.created_at or datetime.now(UTC)
        if reservation is None:
            # Most keys are new: one INSERT, and the primary key says if not
            # (then see below whether this call may take the key over).
            if self._is_postgres:
                from paygate.ledger import postgres

                assert self._hot is not None
                inserted = postgres.insert_operation(self._hot, pending_row(rec, now))
            else:
                with self._sqlite_write(single=True) as raw:
                    inserted = sqlite.insert_pending(raw, self._sqlite_times(pending_row(rec, now)))
            if inserted:
                if (
                    rec.request_digest == GENERATED_KEY_DIGEST
                    and rec.operation in CREATING_OPERATIONS
                ):
                    # A key generated for this call on an operation that
                    # creates its transaction: the transaction id is new too,
                    # so no row can exist for it when this operation finishes.
                    self._new_txs.add(rec.transaction_id)
                return False
        try:
            with self._write() as conn:
                existing = conn.execute(_OP_BY_KEY, {"p_key": rec.idempotency_key}).first()
                held = False
                if existing is not None:
                    held = takeover(self._record(existing), rec)
                    conn.execute(
                        delete(operations).where(
                            operations.c.idempotency_key == rec.idempotency_key
                        )
                    )
                    now = _utc(existing.created_at) or now
                if reservation is not None and held:
                    rec.reservation_kind = reservation.kind
                    rec.amount = reservation.amount
                elif reservation is not None:
                    tx = self._lock_tx(conn, reservation.transaction_id)
                    holding = self._holding(conn, reservation.transaction_id)
                    check_reservation(tx, reservation, holding)
                    rec.reservation_kind = reservation.kind
                    rec.amount = reservation.amount
                conn.execute(_INSERT_OP, pending_row(rec, now))
            return held
        except IntegrityError:
            # Lost a race on the key's primary key to another worker.
            existing_rec = self.find_operation(rec.idempotency_key)
            if existing_rec is None:
                raise
            raise conflict_for(existing_rec, rec) from None

    def finish(
        self,
        idempotency_key: str,
        state: OperationState,
        *,
        apply: ApplyFn,
        transaction_id: str,
        provider_reference: str | None = None,
        operation_reference: str | None = None,
        error: dict[str, object] | None = None,
        result: dict[str, object] | None = None,
        now: datetime,
        expected: tuple[OperationState, ...] | None = None,
    ) -> Transaction | None:
        # An empty ``expected`` matches nothing, as ``IN ('')`` does.
        states = None if expected is None else (tuple(s.value for s in expected) or ("",))
        params = finish_params(
            idempotency_key,
            state,
            provider_reference=provider_reference,
            operation_reference=operation_reference,
            error=error,
            result=result,
            now=now,
            expected=states,
        )
        new_tx = transaction_id in self._new_txs
        if new_tx:
            self._new_txs.discard(transaction_id)
        if self._is_postgres:
            from paygate.ledger import postgres

            assert self._hot is not None
            matched, tx = postgres.finish(
                self._hot,
                new_transaction=new_tx,
                transaction_id=transaction_id,
                op_params=params,
                with_reference=bool(provider_reference),
                expected=states,
                apply=apply,
                now=now,
            )
            if matched == 0 and states is not None:
                raise StaleFinish(idempotency_key)
            return tx
        params = self._sqlite_times(params)
        if new_tx and states is not None:
            # Nothing to read: the new transaction is made before the write
            # lock is taken, which then covers one statement.
            new = apply(None)
            row = self._sqlite_times(tx_row(new, now)) if new is not None else None
            with self._sqlite_write(single=True) as raw:
                sqlite.settle_new(raw, params=params, expected=states, tx=row)
            return new
        with self._sqlite_write() as raw:
            return sqlite.finish(
                raw,
                transaction_id=transaction_id,
                params=params,
                expected=states,
                apply=apply,
                tx_row=lambda tx: self._sqlite_times(tx_row(tx, now)),
            )

    @staticmethod
    def _save_tx(conn: Connection, tx: Transaction, *, exists: bool, now: datetime) -> None:
        row = tx_row(tx, now)
        if exists:
            del row["created_at"]
            conn.execute(_UPDATE_TX, {"p_id": row.pop("id"), **row})
        else:
            conn.execute(_INSERT_TX, row)

    def _holding(self, conn: Connection, transaction_id: str) -> list[OperationRecord]:
        return [
            self._record(r)
            for r in conn.execute(
                select(operations).where(
                    operations.c.transaction_id == transaction_id,
                    operations.c.state.in_([s.value for s in HOLDING_STATES]),
                )
            )
        ]

    def get_transaction(self, transaction_id: str) -> Transaction | None:
        with self.engine.connect() as conn:
            row = conn.execute(_TX_DATA, {"p_id": transaction_id}).first()
            self._end_read(conn)
        return Transaction.model_validate_json(row[0]) if row else None

    def find_by_reference(self, provider: str, provider_reference: str) -> Transaction | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(transactions.c.data).where(
                    transactions.c.provider == provider,
                    transactions.c.provider_reference == provider_reference,
                )
            ).first()
            if self._is_sqlite:
                conn.rollback()
        return Transaction.model_validate_json(row[0]) if row else None

    def operations(
        self, *, state: OperationState | None = None, transaction_id: str | None = None
    ) -> list[OperationRecord]:
        stmt = select(operations).order_by(operations.c.created_at, operations.c.idempotency_key)
        if state is not None:
            stmt = stmt.where(operations.c.state == state.value)
        if transaction_id is not None:
            stmt = stmt.where(operations.c.transaction_id == transaction_id)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
            if self._is_sqlite:
                conn.rollback()
        return [self._record(r) for r in rows]

    def record_event(
        self,
        provider: str,
        event_id: str,
        event_type: str,
        *,
        transaction_id: str | None = None,
        provider_reference: str | None = None,
        apply: EventFn | None = None,
    ) -> bool:
        now = datetime.now(UTC)
        try:
            with self._write() as conn:
                # Inserted first: a concurrent delivery of the same event waits
                # on (PostgreSQL) or is serialized behind (SQLite) this row.
                conn.execute(
                    insert(webhook_events).values(
                        provider=provider,
                        event_id=event_id,
                        event_type=event_type,
                        received_at=now,
                    )
                )
                if apply is None:
                    return True
                tx = self._lock_tx(conn, transaction_id) if transaction_id else None
                if tx is not None and (
                    tx.provider != provider or tx.provider_reference != provider_reference
                ):
                    # Not this event's object: the provider's reference decides.
                    tx = None
                if tx is None and provider_reference:
                    stmt = select(transactions.c.id).where(
                        transactions.c.provider == provider,
                        transactions.c.provider_reference == provider_reference,
                    )
                    found = conn.execute(stmt).first()
                    tx = self._lock_tx(conn, found[0]) if found else None
                outcome = "unknown_transaction"
                if tx is not None:
                    new, outcome = apply(tx, self._holding(conn, tx.id))
                    if new is not None:
                        self._save_tx(conn, new, exists=True, now=now)
                conn.execute(
                    update(webhook_events)
                    .where(
                        webhook_events.c.provider == provider,
                        webhook_events.c.event_id == event_id,
                    )
                    .values(transaction_id=tx.id if tx else None, outcome=outcome)
                )
        except IntegrityError:
            return False
        return True

    def webhook_events(self) -> list[dict[str, Any]]:
        """Every recorded webhook event with what it did (for audits and tests)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(webhook_events).order_by(webhook_events.c.received_at)).all()
            if self._is_sqlite:
                conn.rollback()
        return [dict(r._mapping) for r in rows]

    def close(self) -> None:
        if self._hot is not None:
            self._hot.close()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self.engine.dispose()


__all__ = [
    "SQLITE_SYNCHRONOUS",
    "SQLLedger",
    "apply_sqlite_pragmas",
    "make_engine",
    "metadata",
    "sqlite_pragmas",
]

"""The PostgreSQL hot path of :class:`~paygate.ledger.sql.SQLLedger`.

Every payment writes the ledger twice: the pending record before the request
leaves, the outcome after. Through SQLAlchemy each write cost a pool ping,
``BEGIN``, one round trip per statement and ``COMMIT``: ten round trips per
payment, and the client-side work of each (about 50 µs of CPU under the GIL)
was what capped a 32-thread renewal batch, not the server. Here the two writes
go straight to the psycopg connection the pool hands out:

* the pending record is one ``INSERT`` in autocommit: one round trip;
* the outcome is ``SELECT ... FOR UPDATE``, then one statement that updates
  the operation *and* upserts the transaction, then ``COMMIT``; when the
  transaction is brand new (its id and key were made for this call) the
  read has nothing to find, and the one statement runs alone in autocommit.

No pool ping, no SQLAlchemy statement machinery: the client work per payment
fell by more than half. (psycopg's pipeline mode saves round trips but costs
more client CPU than it saves here: measured and left out.)

The locking is the same as the SQLAlchemy path (the transaction row is held
``FOR UPDATE`` while ``apply`` runs on it as stored), and so are the
compare-and-set rules of ``finish``. Everything else (reservations, reads,
webhooks, reconcile) stays on SQLAlchemy: it is not per payment.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import DisconnectionError

from paygate.ledger.rows import PENDING_COLUMNS, TX_COLUMNS, TX_UPDATED_COLUMNS, tx_row
from paygate.ledger.schema import operations, transactions
from paygate.models import Transaction

#: A pooled connection idle for longer than this is pinged before use. The
#: ping costs three round trips, so it is not paid per checkout (SQLAlchemy's
#: ``pool_pre_ping``) but only where a dropped connection is likely: after a
#: pause. A connection that dies mid-burst fails its statement, and the ledger
#: treats that like any write that did not happen (before the request: nothing
#: is sent; after: the operation stays pending for ``reconcile``).
PING_AFTER_IDLE_SECONDS = 10.0

# Positional parameters throughout: psycopg adapts a tuple in the statement's
# order for less than it costs to reorder a dict by name (measured: the
# parameter handling was a tenth of the client CPU of a payment).
INSERT_OPERATION = (
    f"INSERT INTO {operations.name} ({', '.join(PENDING_COLUMNS)}) "
    f"VALUES ({', '.join('%s' for _ in PENDING_COLUMNS)})"
)

TRANSACTION_FOR_UPDATE = f"SELECT data FROM {transactions.name} WHERE id = %s FOR UPDATE"


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
        return f"WITH op AS ({op}) SELECT count(*) FROM op", tuple(names)
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
    return f"WITH op AS ({op}), tx AS ({tx}) SELECT (SELECT count(*) FROM op)", tuple(names)


@cache
def finish_sql(with_reference: bool, expected: int, save_tx: bool) -> tuple[str, tuple[str, ...]]:
    return _finish_sql(with_reference=with_reference, expected=expected, save_tx=save_tx)


def insert_operation(engine: Engine, row: dict[str, Any]) -> bool:
    """Insert a pending operation in one autocommit statement (one round trip).

    Returns ``False`` when the key is already recorded (the caller then takes
    the general path, which decides between replay, takeover and conflict).
    """
    import psycopg

    raw = engine.raw_connection()
    try:
        pg: Any = raw.driver_connection
        # A lone INSERT needs no BEGIN/COMMIT: in autocommit it is its own
        # transaction, durable when it returns. The flag is client-side only.
        pg.autocommit = True
        try:
            pg.execute(INSERT_OPERATION, tuple(row[c] for c in PENDING_COLUMNS))
        finally:
            pg.autocommit = False
    except psycopg.errors.UniqueViolation:
        return False
    except psycopg.Error:
        # Whatever state the connection is in, it is not handed out again.
        raw.invalidate()
        raise
    finally:
        raw.close()
    return True


def _rollback(raw: Any, pg: Any) -> None:
    import psycopg

    try:
        pg.rollback()
    except psycopg.Error:
        # A connection that cannot end its transaction is not reused.
        raw.invalidate()


def finish(
    engine: Engine,
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
        return _finish_new(engine, params, with_reference, len(expected), apply, now)
    raw = engine.raw_connection()
    try:
        pg: Any = raw.driver_connection
        try:
            row = pg.execute(TRANSACTION_FOR_UPDATE, (transaction_id,)).fetchone()
            current = Transaction.model_validate_json(row[0]) if row else None
            tx = apply(current)
            if tx is not None:
                for key, value in tx_row(tx, now).items():
                    params[f"t_{key}"] = value
            sql, names = finish_sql(
                with_reference, len(expected) if expected is not None else 0, tx is not None
            )
            matched = int(pg.execute(sql, tuple(params[n] for n in names)).fetchone()[0])
            pg.commit()
        except BaseException:
            _rollback(raw, pg)
            raise
    finally:
        raw.close()
    return matched, tx


def _finish_new(
    engine: Engine,
    params: dict[str, Any],
    with_reference: bool,
    expected: int,
    apply: Callable[[Transaction | None], Transaction | None],
    now: datetime,
) -> tuple[int, Transaction | None]:
    import psycopg

    tx = apply(None)
    if tx is not None:
        for key, value in tx_row(tx, now).items():
            params[f"t_{key}"] = value
    sql, names = finish_sql(with_reference, expected, tx is not None)
    values = tuple(params[n] for n in names)
    raw = engine.raw_connection()
    try:
        pg: Any = raw.driver_connection
        pg.autocommit = True
        try:
            matched = int(pg.execute(sql, values).fetchone()[0])
        finally:
            pg.autocommit = False
    except psycopg.Error:
        raw.invalidate()
        raise
    finally:
        raw.close()
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
    "INSERT_OPERATION",
    "PING_AFTER_IDLE_SECONDS",
    "TRANSACTION_FOR_UPDATE",
    "finish",
    "finish_sql",
    "insert_operation",
    "ping_idle_connections",
]

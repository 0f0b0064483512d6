"""The PostgreSQL hot path of :class:`~paygate.ledger.sql.SQLLedger`.

Every payment writes the ledger twice: the pending record before the request
leaves, the outcome after. Through SQLAlchemy each write cost a pool ping,
``BEGIN``, one round trip per statement and ``COMMIT``: ten round trips per
payment, and the client-side work of each (about 50 µs of CPU under the GIL)
was what capped a 32-thread renewal batch, not the server. Here the two writes
go straight to the psycopg connection the pool hands out:

* the pending record is one ``INSERT`` and its ``COMMIT``;
* the outcome is ``SELECT ... FOR UPDATE``, then one statement that updates
  the operation *and* upserts the transaction, then ``COMMIT``.

No pool ping, no SQLAlchemy statement machinery: the client work per payment
fell by more than half. (psycopg's pipeline mode saves round trips but costs
more client CPU than it saves here, and toggling autocommit per write stalled
each one by milliseconds: both were measured and left out.)

The locking is the same as the SQLAlchemy path (the transaction row is held
``FOR UPDATE`` while ``apply`` runs on it as stored), and so are the
compare-and-set rules of ``finish``. Everything else (reservations, reads,
webhooks, reconcile) stays on SQLAlchemy: it is not per payment.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
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

INSERT_OPERATION = (
    f"INSERT INTO {operations.name} ({', '.join(PENDING_COLUMNS)}) "
    f"VALUES ({', '.join(f'%({c})s' for c in PENDING_COLUMNS)})"
)

TRANSACTION_FOR_UPDATE = f"SELECT data FROM {transactions.name} WHERE id = %(p_id)s FOR UPDATE"


def _finish_sql(*, with_reference: bool, expected: bool, save_tx: bool) -> str:
    sets = ["state", "operation_reference", "error", "result", "updated_at"]
    if with_reference:
        sets.append("provider_reference")
    where = "idempotency_key = %(p_key)s"
    if expected:
        where += " AND state = ANY(%(p_expected)s)"
    op = (
        f"UPDATE {operations.name} SET {', '.join(f'{c} = %(p_{c})s' for c in sets)} "
        f"WHERE {where} RETURNING 1"
    )
    if not save_tx:
        return f"WITH op AS ({op}) SELECT count(*) FROM op"
    # Without ``expected`` the transaction is saved whatever the operation
    # row said, as on the SQLAlchemy path; with it, only when the
    # compare-and-set matched, so a stale finish changes nothing.
    guard = " WHERE EXISTS (SELECT 1 FROM op)" if expected else ""
    tx = (
        f"INSERT INTO {transactions.name} ({', '.join(TX_COLUMNS)}) "
        f"SELECT {', '.join(f'%(t_{c})s' for c in TX_COLUMNS)}{guard} "
        "ON CONFLICT (id) DO UPDATE SET "
        f"{', '.join(f'{c} = EXCLUDED.{c}' for c in TX_UPDATED_COLUMNS)} "
        "RETURNING 1"
    )
    return f"WITH op AS ({op}), tx AS ({tx}) SELECT (SELECT count(*) FROM op)"


FINISH_SQL = {
    (ref, exp, save): _finish_sql(with_reference=ref, expected=exp, save_tx=save)
    for ref in (False, True)
    for exp in (False, True)
    for save in (False, True)
}


def insert_operation(engine: Engine, row: dict[str, Any]) -> bool:
    """Insert a pending operation and commit it.

    Returns ``False`` when the key is already recorded (the caller then takes
    the general path, which decides between replay, takeover and conflict).
    """
    import psycopg

    raw = engine.raw_connection()
    try:
        pg: Any = raw.driver_connection
        try:
            pg.execute(INSERT_OPERATION, row)
            pg.commit()
        except BaseException:
            _rollback(raw, pg)
            raise
    except psycopg.errors.UniqueViolation:
        return False
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
    transaction_id: str,
    op_params: dict[str, Any],
    with_reference: bool,
    expected: bool,
    apply: Callable[[Transaction | None], Transaction | None],
    now: datetime,
) -> tuple[int, Transaction | None]:
    """Apply an outcome in one database transaction: ``(operations matched, tx)``.

    When ``expected`` is set and no operation matched, nothing was written
    (the caller raises :class:`~paygate.ledger.base.StaleFinish`).
    """
    raw = engine.raw_connection()
    try:
        pg: Any = raw.driver_connection
        try:
            row = pg.execute(TRANSACTION_FOR_UPDATE, {"p_id": transaction_id}).fetchone()
            current = Transaction.model_validate_json(row[0]) if row else None
            tx = apply(current)
            params = dict(op_params)
            if tx is not None:
                params.update({f"t_{k}": v for k, v in tx_row(tx, now).items()})
            sql = FINISH_SQL[(with_reference, expected, tx is not None)]
            matched = int(pg.execute(sql, params).fetchone()[0])
            pg.commit()
        except BaseException:
            _rollback(raw, pg)
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
    "FINISH_SQL",
    "INSERT_OPERATION",
    "PING_AFTER_IDLE_SECONDS",
    "TRANSACTION_FOR_UPDATE",
    "finish",
    "insert_operation",
    "ping_idle_connections",
]

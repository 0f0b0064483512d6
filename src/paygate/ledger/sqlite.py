"""The SQLite hot path of :class:`~paygate.ledger.sql.SQLLedger`.

Every payment writes the ledger twice (the pending record before the request
leaves, the outcome after). SQLAlchemy's statement machinery cost more than
SQLite itself on these two writes, so they run as prepared SQL on the
process's one write connection, under the same process lock as every other
write. Each is one statement in autocommit when it can be (the pending
``INSERT``; the outcome of an operation that created its transaction, through
:data:`SETTLE_NEW`), else a ``BEGIN IMMEDIATE`` transaction. Everything else
stays on SQLAlchemy.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from functools import cache
from typing import Any

from paygate.ledger.base import StaleFinish
from paygate.ledger.rows import PENDING_COLUMNS, TX_COLUMNS, TX_UPDATED_COLUMNS
from paygate.ledger.schema import operations, transactions
from paygate.models import Transaction

_TX_ON_CONFLICT = (
    f"ON CONFLICT (id) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in TX_UPDATED_COLUMNS)}"
)
# The two per-payment statements take positional parameters: the driver
# binds a named one by making a str of its name and looking it up in the
# dict, ~40 times a payment.
INSERT_PENDING = (
    f"INSERT INTO {operations.name} ({', '.join(PENDING_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in PENDING_COLUMNS)})"
)
TX_DATA = f"SELECT data FROM {transactions.name} WHERE id = :p_id"
UPSERT_TX = (
    f"INSERT INTO {transactions.name} ({', '.join(TX_COLUMNS)}) "
    f"VALUES ({', '.join(f':{c}' for c in TX_COLUMNS)}) "
    f"{_TX_ON_CONFLICT}"
)


#: The outcome columns of an operation, in the order of :func:`settle_sql`.
_SETTLED = ("state", "operation_reference", "error", "result", "updated_at")
_STALE = "paygate: stale finish"
#: A connection-local (TEMP) view whose INSTEAD OF trigger settles an
#: operation and writes its brand-new transaction: the two writes of an
#: outcome in one statement. In autocommit that statement is its own
#: transaction, so the process write lock is held across one driver call
#: (the GIL released and won back once) instead of four (BEGIN, UPDATE,
#: UPSERT, COMMIT). ``p_expected`` is ``|state|state|``; a compare-and-set
#: that matches nothing aborts the statement (nothing is written).
SETTLE_NEW_VIEW = "paygate_settle_new"
_VIEW_COLUMNS = (
    "p_key",
    "p_expected",
    *(f"p_{c}" for c in _SETTLED),
    "p_provider_reference",
    *(f"t_{c}" for c in TX_COLUMNS),
)
SETTLE_NEW_SETUP = (
    f"CREATE TEMP VIEW IF NOT EXISTS {SETTLE_NEW_VIEW} AS SELECT "
    + ", ".join(f"NULL AS {c}" for c in _VIEW_COLUMNS)
    + " WHERE 0",
    f"CREATE TEMP TRIGGER IF NOT EXISTS {SETTLE_NEW_VIEW} "
    f"INSTEAD OF INSERT ON {SETTLE_NEW_VIEW} BEGIN "
    f"SELECT RAISE(ABORT, '{_STALE}') WHERE NOT EXISTS (SELECT 1 FROM {operations.name} "
    "WHERE idempotency_key = NEW.p_key AND instr(NEW.p_expected, '|' || state || '|') > 0); "
    f"UPDATE {operations.name} SET "
    + ", ".join(f"{c} = NEW.p_{c}" for c in _SETTLED)
    + ", provider_reference = coalesce(NEW.p_provider_reference, provider_reference) "
    "WHERE idempotency_key = NEW.p_key; "
    f"INSERT INTO {transactions.name} ({', '.join(TX_COLUMNS)}) "
    f"SELECT {', '.join(f'NEW.t_{c}' for c in TX_COLUMNS)} WHERE NEW.t_id IS NOT NULL "
    f"{_TX_ON_CONFLICT}; "
    "END",
)
SETTLE_NEW = (
    f"INSERT INTO {SETTLE_NEW_VIEW} ({', '.join(_VIEW_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _VIEW_COLUMNS)})"
)
_NO_TX = (None,) * len(TX_COLUMNS)


def prepare(conn: sqlite3.Connection) -> None:
    """Create this connection's TEMP objects (see :data:`SETTLE_NEW_SETUP`).

    They name the ledger's tables only when used, so this runs on every new
    connection, before the tables may exist."""
    for sql in SETTLE_NEW_SETUP:
        conn.execute(sql)


@cache
def settle_sql(with_reference: bool, expected: int) -> str:
    """``UPDATE`` of one operation's outcome, compare-and-set on ``expected`` states."""
    sets = list(_SETTLED)
    if with_reference:
        sets.append("provider_reference")
    where = "idempotency_key = :p_key"
    if expected:
        where += f" AND state IN ({', '.join(f':p_expected{i}' for i in range(expected))})"
    return f"UPDATE {operations.name} SET {', '.join(f'{c} = :p_{c}' for c in sets)} WHERE {where}"


def insert_pending(conn: sqlite3.Connection, row: dict[str, Any]) -> bool:
    """Insert a pending operation; ``False`` when its key is already recorded."""
    try:
        conn.execute(INSERT_PENDING, tuple(row[c] for c in PENDING_COLUMNS))
    except sqlite3.IntegrityError:
        return False
    return True


def _settle(
    conn: sqlite3.Connection, params: dict[str, Any], expected: tuple[str, ...] | None
) -> None:
    """Write the operation's outcome; :class:`StaleFinish` when the
    compare-and-set on ``expected`` states finds it settled already."""
    sql = settle_sql("p_provider_reference" in params, len(expected or ()))
    if conn.execute(sql, params).rowcount == 0 and expected is not None:
        raise StaleFinish(params["p_key"])


def settle_new(
    conn: sqlite3.Connection,
    *,
    params: dict[str, Any],
    expected: tuple[str, ...],
    tx: dict[str, Any] | None,
) -> None:
    """Settle an operation whose transaction is brand new (no row to read):
    the outcome and the transaction row ``tx`` the caller built beforehand,
    in one statement (:data:`SETTLE_NEW`). Whoever settles the operation
    first writes the row; a later one gets :class:`StaleFinish`."""
    values = (
        params["p_key"],
        "|" + "|".join(expected) + "|",
        *(params[f"p_{c}"] for c in _SETTLED),
        params.get("p_provider_reference"),
        *(tuple(tx[c] for c in TX_COLUMNS) if tx is not None else _NO_TX),
    )
    try:
        conn.execute(SETTLE_NEW, values)
    except sqlite3.IntegrityError as exc:
        if str(exc) == _STALE:
            raise StaleFinish(params["p_key"]) from None
        raise


def finish(
    conn: sqlite3.Connection,
    *,
    transaction_id: str,
    params: dict[str, Any],
    expected: tuple[str, ...] | None,
    apply: Callable[[Transaction | None], Transaction | None],
    tx_row: Callable[[Transaction], dict[str, Any]],
) -> Transaction | None:
    """Settle an operation and save what ``apply`` makes of its transaction.

    Runs inside the caller's ``BEGIN IMMEDIATE``: the write lock is held from
    the read of the transaction to the save, as on the SQLAlchemy path.
    """
    row = conn.execute(TX_DATA, {"p_id": transaction_id}).fetchone()
    current = Transaction.model_validate_json(row[0]) if row else None
    _settle(conn, params, expected)
    tx = apply(current)
    if tx is not None:
        conn.execute(UPSERT_TX, tx_row(tx))
    return tx


__all__ = [
    "INSERT_PENDING",
    "SETTLE_NEW",
    "SETTLE_NEW_SETUP",
    "SETTLE_NEW_VIEW",
    "TX_DATA",
    "UPSERT_TX",
    "finish",
    "insert_pending",
    "prepare",
    "settle_new",
    "settle_sql",
]

"""The SQLite hot path of :class:`~paygate.ledger.sql.SQLLedger`.

Every payment writes the ledger twice (the pending record before the request
leaves, the outcome after). SQLAlchemy's statement machinery cost more than
SQLite itself on these two writes, so they run as prepared SQL on the
process's one write connection, under the same process lock and the same
``BEGIN IMMEDIATE`` as every other write. Everything else stays on
SQLAlchemy.
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

INSERT_PENDING = (
    f"INSERT INTO {operations.name} ({', '.join(PENDING_COLUMNS)}) "
    f"VALUES ({', '.join(f':{c}' for c in PENDING_COLUMNS)})"
)
TX_DATA = f"SELECT data FROM {transactions.name} WHERE id = :p_id"
UPSERT_TX = (
    f"INSERT INTO {transactions.name} ({', '.join(TX_COLUMNS)}) "
    f"VALUES ({', '.join(f':{c}' for c in TX_COLUMNS)}) "
    f"ON CONFLICT (id) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in TX_UPDATED_COLUMNS)}"
)


@cache
def settle_sql(with_reference: bool, expected: int) -> str:
    """``UPDATE`` of one operation's outcome, compare-and-set on ``expected`` states."""
    sets = ["state", "operation_reference", "error", "result", "updated_at"]
    if with_reference:
        sets.append("provider_reference")
    where = "idempotency_key = :p_key"
    if expected:
        where += f" AND state IN ({', '.join(f':p_expected{i}' for i in range(expected))})"
    return f"UPDATE {operations.name} SET {', '.join(f'{c} = :p_{c}' for c in sets)} WHERE {where}"


def insert_pending(conn: sqlite3.Connection, row: dict[str, Any]) -> bool:
    """Insert a pending operation; ``False`` when its key is already recorded."""
    try:
        conn.execute(INSERT_PENDING, row)
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
    the outcome, then the transaction row ``tx`` the caller built outside
    the write lock. Whoever settles the operation first writes the row."""
    _settle(conn, params, expected)
    if tx is not None:
        conn.execute(UPSERT_TX, tx)


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
    "TX_DATA",
    "UPSERT_TX",
    "finish",
    "insert_pending",
    "settle_new",
    "settle_sql",
]

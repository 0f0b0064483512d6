"""The ledger: every operation and its outcome, idempotency keys, money totals."""

from __future__ import annotations

from paygate.errors import ConfigurationError
from paygate.ledger.base import LedgerStore
from paygate.ledger.memory import MemoryLedger
from paygate.ledger.records import OperationRecord, OperationState, Reservation


def open_ledger(url: str, *, pool_size: int = 32, durability: str = "durable") -> LedgerStore:
    """A store for ``url``: ``"memory"``, or any SQLAlchemy URL.

    ``pool_size`` is how many connections a server database keeps open;
    ``durability`` is ``"durable"`` or ``"relaxed"`` (see
    :mod:`paygate.ledger.sql`; the memory ledger keeps nothing either way).
    """
    if url == "memory":
        return MemoryLedger()
    if "://" not in url:
        raise ConfigurationError(
            "database_url is not a SQLAlchemy URL (e.g. sqlite:///paygate.sqlite3)"
        )
    from paygate.ledger.sql import SQLLedger

    return SQLLedger(url, pool_size=pool_size, durability=durability)


__all__ = [
    "LedgerStore",
    "MemoryLedger",
    "OperationRecord",
    "OperationState",
    "Reservation",
    "open_ledger",
]

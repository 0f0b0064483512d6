"""The ledger's durability levels (config ``durability``) and what each sets.

``"durable"`` (the default): a ledger commit returns once it is on disk, so
the ``pending`` record written before a request leaves survives a power loss
or an operating-system crash. ``"relaxed"``: the host accepts that such a
crash may take the latest commits with it, for a cheaper commit.
docs/reliability.md has what survives what; docs/performance.md the cost.
"""

from __future__ import annotations

from paygate.config import DEFAULT_DURABILITY, DURABILITY_LEVELS
from paygate.errors import ConfigurationError

#: ``PRAGMA synchronous`` of the ledger's SQLite connections, per level. In
#: WAL mode FULL syncs the WAL at every commit: a commit that returned
#: survives a power loss. NORMAL syncs only at checkpoints: a commit survives
#: a killed process but may roll back after a power loss or an OS crash.
#: (EXTRA differs from FULL only in rollback-journal mode, which the ledger
#: does not run a file in: in WAL it makes the same syncs as FULL, counted.)
SQLITE_SYNCHRONOUS = {"durable": "FULL", "relaxed": "NORMAL"}

#: PostgreSQL ``synchronous_commit`` values under which a commit returns only
#: once its WAL is flushed to the server's own disk (``remote_write`` and
#: ``remote_apply`` also wait for synchronous standbys, as ``on`` does, less
#: or more far). ``local`` flushes locally but does not wait for a
#: synchronous standby, so a failover may lose the commit; ``off`` returns
#: before the flush (up to three times ``wal_writer_delay`` of commits lost
#: to a crash of the server).
DURABLE_COMMIT = frozenset({"on", "remote_write", "remote_apply"})


def checked(durability: str) -> str:
    """``durability`` if it is a level, else :class:`ConfigurationError`
    (which names the levels, never the value: it may be anything)."""
    if durability not in DURABILITY_LEVELS:
        raise ConfigurationError(
            f"durability must be one of {', '.join(map(repr, DURABILITY_LEVELS))}",
            param="durability",
        )
    return durability


def describe(durability: str = DEFAULT_DURABILITY) -> str:
    """One line for ``paygate plugins``: the level and the settings behind it."""
    if checked(durability) == "durable":
        return (
            f"durable (SQLite synchronous={SQLITE_SYNCHRONOUS['durable']} with WAL; PostgreSQL "
            "synchronous_commit at least 'on' in the ledger's sessions): the write-ahead "
            "record survives a power loss"
        )
    return (
        f"relaxed, risk accepted (SQLite synchronous={SQLITE_SYNCHRONOUS['relaxed']}; "
        "PostgreSQL synchronous_commit as the server sets it): a power loss or an OS crash "
        "may lose the latest ledger writes"
    )


__all__ = [
    "DEFAULT_DURABILITY",
    "DURABILITY_LEVELS",
    "DURABLE_COMMIT",
    "SQLITE_SYNCHRONOUS",
    "checked",
    "describe",
]

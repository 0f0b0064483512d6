"""Create or bring the ledger's schema up to date, with Alembic.

The migration scripts ship inside the package (``paygate/ledger/alembic``)
and run programmatically: no ``alembic.ini`` is needed at runtime. The
version is kept in ``paygate_alembic_version`` so a host's own Alembic
history in the same database is left alone.

Several processes may open the same database for the first time at once:
the whole upgrade runs in one transaction that first takes the database's
write lock (SQLite ``BEGIN IMMEDIATE``) or a transaction-scoped advisory lock
(PostgreSQL), so exactly one of them creates the tables and the others find
them at the current version.
"""

from __future__ import annotations

import threading
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

SCRIPT_LOCATION = Path(__file__).with_name("alembic")
VERSION_TABLE = "paygate_alembic_version"
#: The revision of a schema made by ``metadata.create_all`` before Alembic
#: was used (development databases of paygate 0.1 pre-releases).
BASELINE = "0001"
#: Arbitrary but fixed key of the PostgreSQL advisory lock taken while migrating.
_PG_LOCK_KEY = 0x7061796761746531  # "paygate1"

_local_lock = threading.Lock()


def alembic_config(connection: Connection | None = None) -> AlembicConfig:
    """An Alembic config built in code, pointing at the packaged scripts."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    cfg.set_main_option("version_table", VERSION_TABLE)
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@cache
def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(connection: Connection) -> str | None:
    """The schema version of the database ``connection`` is on (``None``: empty)."""
    ctx = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return ctx.get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (idempotent, safe to race)."""
    with engine.connect() as conn:
        up_to_date = revision == "head" and current_revision(conn) == head_revision()
        conn.rollback()
    if up_to_date:
        return
    with _local_lock, engine.connect() as conn:
        conn = conn.execution_options(paygate_write=True)
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
            if current_revision(conn) is None and inspect(conn).has_table("paygate_operations"):
                command.stamp(alembic_config(conn), BASELINE)
            command.upgrade(alembic_config(conn), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Go back to ``revision`` (``"base"`` drops every ledger table)."""
    with _local_lock, engine.connect() as conn:
        conn = conn.execution_options(paygate_write=True)
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
            command.downgrade(alembic_config(conn), revision)


__all__ = [
    "SCRIPT_LOCATION",
    "VERSION_TABLE",
    "alembic_config",
    "current_revision",
    "downgrade",
    "head_revision",
    "upgrade",
]

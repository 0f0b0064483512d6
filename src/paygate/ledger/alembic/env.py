"""Alembic environment of the paygate ledger.

Run by :func:`paygate.ledger.migrations.upgrade`, which hands over an open
connection inside a transaction. To write a new revision after changing
``paygate/ledger/schema.py``, from a checkout::

    from alembic import command
    from paygate.ledger.migrations import alembic_config, upgrade
    from paygate.ledger.sql import make_engine

    engine = make_engine("sqlite:////tmp/rev.sqlite3")
    upgrade(engine)  # the database at the current head
    with engine.begin() as conn:
        command.revision(alembic_config(conn), message="what changed", autogenerate=True)

then review the generated file (SQLite needs batch operations).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from paygate.ledger.schema import metadata

config = context.config
VERSION_TABLE = config.get_main_option("version_table") or "paygate_alembic_version"


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        # SQLite cannot ALTER most things: batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from paygate.ledger.sql import make_engine

    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise SystemExit("pass the database with -x url=...")
    engine = make_engine(url)
    with engine.connect() as conn, conn.begin():
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("the paygate ledger migrations run online only")
run()

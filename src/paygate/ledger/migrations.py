"""Create or bring the ledger's schema up to date."""

from __future__ import annotations

from sqlalchemy import Engine

from paygate.ledger.schema import metadata


def upgrade(engine: Engine) -> None:
    """Bring the schema to the current version (idempotent)."""
    metadata.create_all(engine)

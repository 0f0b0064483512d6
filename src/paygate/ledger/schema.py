"""The ledger's tables (SQLAlchemy Core).

Every change here needs a new revision in ``paygate/ledger/alembic/versions``
(tests compare the migrated schema with these tables)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

transactions = Table(
    "paygate_transactions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("provider", String(64), nullable=False),
    Column("status", String(32), nullable=False, index=True),
    Column("currency", String(3), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("captured_minor", BigInteger, nullable=False),
    Column("refunded_minor", BigInteger, nullable=False),
    Column("provider_reference", String(255), index=True),
    Column("customer_id", String(255), index=True),
    # The whole provider-neutral Transaction as JSON (no secret is ever in it).
    Column("data", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

operations = Table(
    "paygate_operations",
    metadata,
    Column("idempotency_key", String(255), primary_key=True),
    Column("operation", String(32), nullable=False),
    Column("provider", String(64), nullable=False),
    Column("transaction_id", String(64), nullable=False),
    Column("request_digest", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("currency", String(3)),
    Column("amount_minor", BigInteger),
    Column("reservation_kind", String(16)),
    Column("provider_reference", String(255)),
    Column("operation_reference", String(255)),
    Column("error", Text),
    Column("result", Text),
    Column("request", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_paygate_operations_tx_state", "transaction_id", "state"),
    Index("ix_paygate_operations_state", "state"),
)

webhook_events = Table(
    "paygate_webhook_events",
    metadata,
    Column("provider", String(64), primary_key=True),
    Column("event_id", String(255), primary_key=True),
    Column("event_type", String(128), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    # The transaction the event named and what it did to it (``applied``,
    # ``stale``, ``reported``, ``unknown_transaction``): the audit trail of
    # webhook ordering.
    Column("transaction_id", String(64)),
    Column("outcome", String(32)),
)

# The billing layer's tables share this metadata and the ledger's migrations.
from paygate.ledger import billing_schema as billing_schema  # noqa: E402

# So are the legal documents built on billing invoices (revision 0004).
from paygate.ledger import invoices_schema as invoices_schema  # noqa: E402

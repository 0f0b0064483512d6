"""The ledger's first schema: transactions, operations, webhook events.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "paygate_transactions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("captured_minor", sa.BigInteger, nullable=False),
        sa.Column("refunded_minor", sa.BigInteger, nullable=False),
        sa.Column("provider_reference", sa.String(255)),
        sa.Column("customer_id", sa.String(255)),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_paygate_transactions_status", "paygate_transactions", ["status"])
    op.create_index(
        "ix_paygate_transactions_provider_reference", "paygate_transactions", ["provider_reference"]
    )
    op.create_index("ix_paygate_transactions_customer_id", "paygate_transactions", ["customer_id"])
    op.create_table(
        "paygate_operations",
        sa.Column("idempotency_key", sa.String(255), primary_key=True),
        sa.Column("operation", sa.String(32), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("transaction_id", sa.String(64), nullable=False),
        sa.Column("request_digest", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("currency", sa.String(3)),
        sa.Column("amount_minor", sa.BigInteger),
        sa.Column("reservation_kind", sa.String(16)),
        sa.Column("provider_reference", sa.String(255)),
        sa.Column("operation_reference", sa.String(255)),
        sa.Column("error", sa.Text),
        sa.Column("result", sa.Text),
        sa.Column("request", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_paygate_operations_tx_state", "paygate_operations", ["transaction_id", "state"]
    )
    op.create_index("ix_paygate_operations_state", "paygate_operations", ["state"])
    op.create_table(
        "paygate_webhook_events",
        sa.Column("provider", sa.String(64), primary_key=True),
        sa.Column("event_id", sa.String(255), primary_key=True),
        sa.Column("event_type", sa.String(128), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("paygate_webhook_events")
    op.drop_index("ix_paygate_operations_state", "paygate_operations")
    op.drop_index("ix_paygate_operations_tx_state", "paygate_operations")
    op.drop_table("paygate_operations")
    op.drop_index("ix_paygate_transactions_customer_id", "paygate_transactions")
    op.drop_index("ix_paygate_transactions_provider_reference", "paygate_transactions")
    op.drop_index("ix_paygate_transactions_status", "paygate_transactions")
    op.drop_table("paygate_transactions")

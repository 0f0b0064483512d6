"""Billing reacts to provider webhooks: the disputes table, and indexes that
find an invoice and a payment attempt by the charge (transaction) a refund or
a dispute names.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07

A table or an index that already exists is left alone: a database made by
``metadata.create_all`` before Alembic was used (the adoption path of
``paygate.ledger.migrations``) already has everything the metadata declares.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_INDEXES = (
    ("ix_paygate_billing_invoices_transaction", "paygate_billing_invoices", ["transaction_id"]),
    (
        "ix_paygate_billing_attempts_transaction",
        "paygate_billing_payment_attempts",
        ["transaction_id"],
    ),
)


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for name, table, columns in _INDEXES:
        if name not in {ix["name"] for ix in inspector.get_indexes(table)}:
            op.create_index(name, table, columns)
    if inspector.has_table("paygate_billing_disputes"):
        return
    op.create_table(
        "paygate_billing_disputes",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("provider_event_id", sa.String(length=255), nullable=False),
        sa.Column("provider_type", sa.String(length=255), nullable=False),
        sa.Column("provider_dispute_id", sa.String(length=255), nullable=True),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("invoice_id", sa.String(length=64), nullable=False),
        sa.Column("transaction_id", sa.String(length=64), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("reason", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["paygate_billing_accounts.id"]),
        sa.ForeignKeyConstraint(["invoice_id"], ["paygate_billing_invoices.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "provider", "provider_event_id", name="uq_paygate_billing_disputes_event"
        ),
    )
    op.create_index(
        "ix_paygate_billing_disputes_account", "paygate_billing_disputes", ["account_id"]
    )


def downgrade() -> None:
    op.drop_table("paygate_billing_disputes")
    for name, table, _ in _INDEXES:
        op.drop_index(name, table_name=table)

"""The billing layer's tables: accounts, subscriptions, items, invoices and their
lines, number series, payment attempts, usage, the events outbox, runner locks;
and the triggers that keep a finalized invoice immutable.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07

A table that already exists is left alone: a database made by
``metadata.create_all`` before Alembic was used (the adoption path of
``paygate.ledger.migrations``, stamped at 0001) already has every table the
metadata declares.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from paygate.ledger.billing_schema import POSTGRES_TRIGGERS, SQLITE_TRIGGERS

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_created: set[str] = set()


def _create(name: str, *elements: Any) -> None:
    if sa.inspect(op.get_bind()).has_table(name):
        return
    op.create_table(name, *elements)
    _created.add(name)


def _index(name: str, table: str, columns: list[str]) -> None:
    if table in _created:
        op.create_index(name, table, columns)


def upgrade() -> None:
    _created.clear()
    _create(
        "paygate_billing_accounts",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("owner_ref", sa.String(length=255), nullable=False),
        sa.Column("parent_id", sa.String(length=64), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("nonprofit", sa.Boolean(), nullable=False),
        sa.Column("payment_method", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["paygate_billing_accounts.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    _index("ix_paygate_billing_accounts_owner_ref", "paygate_billing_accounts", ["owner_ref"])
    _index("ix_paygate_billing_accounts_parent_id", "paygate_billing_accounts", ["parent_id"])

    _create(
        "paygate_billing_events",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dedupe_key", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("subscription_id", sa.String(length=64), nullable=True),
        sa.Column("invoice_id", sa.String(length=64), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("dedupe_key"),
    )
    _index("ix_paygate_billing_events_account_id", "paygate_billing_events", ["account_id"])

    _create(
        "paygate_billing_number_series",
        sa.Column("series", sa.String(length=64), nullable=False),
        sa.Column("next_value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("series"),
    )
    _create(
        "paygate_billing_runner_locks",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    _create(
        "paygate_billing_members",
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("actor_ref", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["paygate_billing_accounts.id"],
        ),
        sa.PrimaryKeyConstraint("account_id", "actor_ref"),
    )
    _create(
        "paygate_billing_subscriptions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("offer", sa.String(length=160), nullable=False),
        sa.Column("cycle", sa.String(length=64), nullable=False),
        sa.Column("anchor", sa.Date(), nullable=False),
        sa.Column("anchor_index", sa.Integer(), nullable=False),
        sa.Column("period_index", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("entitlement", sa.String(length=16), nullable=False),
        sa.Column("billing_state", sa.String(length=16), nullable=False),
        sa.Column("collection_state", sa.String(length=16), nullable=False),
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False),
        sa.Column("frozen_on", sa.Date(), nullable=True),
        sa.Column("frozen_until", sa.Date(), nullable=True),
        sa.Column("pending", sa.Text(), nullable=True),
        sa.Column("next_action_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("review_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["paygate_billing_accounts.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    _index(
        "ix_paygate_billing_subscriptions_account", "paygate_billing_subscriptions", ["account_id"]
    )
    _index(
        "ix_paygate_billing_subscriptions_due", "paygate_billing_subscriptions", ["next_action_at"]
    )

    _create(
        "paygate_billing_invoices",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("subscription_id", sa.String(length=64), nullable=True),
        sa.Column("dedupe_key", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("series", sa.String(length=64), nullable=True),
        sa.Column("number", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("amount_paid_minor", sa.BigInteger(), nullable=False),
        sa.Column("period_index", sa.Integer(), nullable=True),
        sa.Column("period_start", sa.Date(), nullable=True),
        sa.Column("period_end", sa.Date(), nullable=True),
        sa.Column("attempt_count", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("transaction_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finalized_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(status = 'draft' AND number IS NULL AND series IS NULL) OR "
            "(status <> 'draft' AND number IS NOT NULL AND series IS NOT NULL)",
            name="ck_paygate_billing_invoices_number_iff_final",
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["paygate_billing_accounts.id"],
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["paygate_billing_subscriptions.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key"),
        sa.UniqueConstraint("series", "number", name="uq_paygate_billing_invoices_series_number"),
    )
    _index("ix_paygate_billing_invoices_account", "paygate_billing_invoices", ["account_id"])
    _index(
        "ix_paygate_billing_invoices_subscription", "paygate_billing_invoices", ["subscription_id"]
    )

    _create(
        "paygate_billing_items",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("subscription_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("offer", sa.String(length=160), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["paygate_billing_subscriptions.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    _index("ix_paygate_billing_items_subscription_id", "paygate_billing_items", ["subscription_id"])

    _create(
        "paygate_billing_usage",
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("subscription_id", sa.String(length=64), nullable=False),
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_index", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["paygate_billing_subscriptions.id"],
        ),
        sa.PrimaryKeyConstraint("event_id"),
    )
    _index(
        "ix_paygate_billing_usage_period",
        "paygate_billing_usage",
        ["subscription_id", "period_index"],
    )

    _create(
        "paygate_billing_invoice_lines",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("invoice_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("offer", sa.String(length=160), nullable=True),
        sa.Column("price_version", sa.String(length=200), nullable=True),
        sa.Column("item_id", sa.String(length=64), nullable=True),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("net_minor", sa.BigInteger(), nullable=True),
        sa.Column("period_start", sa.Date(), nullable=True),
        sa.Column("period_end", sa.Date(), nullable=True),
        sa.Column("credits_line_id", sa.String(length=64), nullable=True),
        sa.Column("proration", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["credits_line_id"],
            ["paygate_billing_invoice_lines.id"],
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["paygate_billing_invoices.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "invoice_id", "position", name="uq_paygate_billing_invoice_lines_position"
        ),
    )
    _index(
        "ix_paygate_billing_invoice_lines_credits",
        "paygate_billing_invoice_lines",
        ["credits_line_id"],
    )

    _create(
        "paygate_billing_payment_attempts",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("invoice_id", sa.String(length=64), nullable=False),
        sa.Column("attempt_no", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("transaction_id", sa.String(length=64), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("retryable", sa.Boolean(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["paygate_billing_invoices.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
        sa.UniqueConstraint(
            "invoice_id", "attempt_no", name="uq_paygate_billing_attempts_invoice_no"
        ),
    )
    bind = op.get_bind()
    for statement in POSTGRES_TRIGGERS if bind.dialect.name == "postgresql" else SQLITE_TRIGGERS:
        op.execute(statement)


_TABLES = (
    "paygate_billing_payment_attempts",
    "paygate_billing_invoice_lines",
    "paygate_billing_usage",
    "paygate_billing_items",
    "paygate_billing_invoices",
    "paygate_billing_subscriptions",
    "paygate_billing_members",
    "paygate_billing_runner_locks",
    "paygate_billing_number_series",
    "paygate_billing_events",
    "paygate_billing_accounts",
)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS paygate_billing_invoice_guard() CASCADE")
        op.execute("DROP FUNCTION IF EXISTS paygate_billing_line_guard() CASCADE")
    for table in _TABLES:
        op.drop_table(table)  # its indexes and SQLite triggers go with it

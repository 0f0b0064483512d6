"""Legal documents built on billing invoices: billing profiles (versioned
receivers), issued documents (380/381/384, hash-chained per series),
correction requests and deliveries; and the triggers that keep issued
documents and profile versions immutable.

Revision ID: 0004
Revises: 0003
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

from paygate.ledger.invoices_schema import POSTGRES_TRIGGERS, SQLITE_TRIGGERS

revision = "0004"
down_revision = "0003"
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
        "paygate_invoices_deliveries",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("document_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "document_id", "kind", "address", name="uq_paygate_invoices_deliveries_once"
        ),
    )
    _create(
        "paygate_invoices_profiles",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("legal_name", sa.String(length=300), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("vat_id", sa.String(length=32), nullable=True),
        sa.Column("siren", sa.String(length=9), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["paygate_billing_accounts.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "version", name="uq_paygate_invoices_profiles_version"),
    )
    _create(
        "paygate_invoices_documents",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("source_key", sa.String(length=255), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("invoice_id", sa.String(length=64), nullable=True),
        sa.Column("type_code", sa.String(length=3), nullable=False),
        sa.Column("series", sa.String(length=64), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("number_text", sa.String(length=100), nullable=False),
        sa.Column("issue_date", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("net_minor", sa.BigInteger(), nullable=False),
        sa.Column("tax_minor", sa.BigInteger(), nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("preceding_id", sa.String(length=64), nullable=True),
        sa.Column("buyer_profile_id", sa.String(length=64), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.Column("pdf_sha256", sa.String(length=64), nullable=False),
        sa.Column("data_sha256", sa.String(length=64), nullable=False),
        sa.Column("prev_chain", sa.String(length=64), nullable=False),
        sa.Column("chain", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["paygate_billing_accounts.id"],
        ),
        sa.ForeignKeyConstraint(
            ["buyer_profile_id"],
            ["paygate_invoices_profiles.id"],
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["paygate_billing_invoices.id"],
        ),
        sa.ForeignKeyConstraint(
            ["preceding_id"],
            ["paygate_invoices_documents.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("series", "number", name="uq_paygate_invoices_documents_series_number"),
        sa.UniqueConstraint("source_key"),
    )
    _index("ix_paygate_invoices_documents_account", "paygate_invoices_documents", ["account_id"])
    _index(
        "ix_paygate_invoices_documents_preceding", "paygate_invoices_documents", ["preceding_id"]
    )
    _create(
        "paygate_invoices_corrections",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("document_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("open_document_id", sa.String(length=64), nullable=True),
        sa.Column("requested_by", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("changes", sa.Text(), nullable=False),
        sa.Column("disable_old_receiver", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=255), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("result_ids", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["paygate_invoices_documents.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("open_document_id"),
    )
    _index("ix_paygate_invoices_documents_invoice", "paygate_invoices_documents", ["invoice_id"])
    _index("ix_paygate_invoices_deliveries_status", "paygate_invoices_deliveries", ["status"])
    _index(
        "ix_paygate_invoices_profiles_account",
        "paygate_invoices_profiles",
        ["account_id", "active"],
    )
    bind = op.get_bind()
    for statement in POSTGRES_TRIGGERS if bind.dialect.name == "postgresql" else SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS paygate_invoices_document_guard() CASCADE")
        op.execute("DROP FUNCTION IF EXISTS paygate_invoices_profile_guard() CASCADE")
    for table in (
        "paygate_invoices_corrections",
        "paygate_invoices_deliveries",
        "paygate_invoices_documents",
        "paygate_invoices_profiles",
    ):
        op.drop_table(table)

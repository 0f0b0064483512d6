"""Webhook events remember the transaction they name and whether they moved it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("paygate_webhook_events") as batch:
        batch.add_column(sa.Column("transaction_id", sa.String(64)))
        batch.add_column(sa.Column("outcome", sa.String(32)))


def downgrade() -> None:
    with op.batch_alter_table("paygate_webhook_events") as batch:
        batch.drop_column("outcome")
        batch.drop_column("transaction_id")

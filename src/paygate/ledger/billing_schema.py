"""The billing layer's tables, on the ledger's metadata (one engine, one
Alembic history: revision ``0003_billing``).

They live beside the ledger's own tables, not in :mod:`paygate.billing`, so
that the migration environment and the schema tests see them without
importing the billing layer (layers point down).

Invariants the database holds by itself:

* one invoice per ``dedupe_key`` (``subscription:period:reason``), so a
  renewal re-run never makes a second invoice for the same period;
* ``number`` is set exactly when the invoice is final, unique per ``series``,
  taken from ``paygate_billing_number_series`` (a counter row) in the
  finalizing transaction, never from a sequence or the primary key;
* a finalized invoice and its lines are immutable: triggers on both SQLite and
  PostgreSQL refuse the change (the store checks first, in code);
* a payment attempt's idempotency key is unique (one charge per attempt);
* a usage event is recorded once per ``event_id``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from paygate.ledger.schema import metadata

PREFIX = "paygate_billing_"

accounts = Table(
    "paygate_billing_accounts",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("owner_ref", String(255), nullable=False, index=True),
    # Seed: sub-accounts of a main account (one level).
    Column("parent_id", String(64), ForeignKey("paygate_billing_accounts.id"), index=True),
    Column("currency", String(3), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("nonprofit", Boolean, nullable=False),
    # The StoredPaymentMethod as JSON (a provider token, brand, last4: no secret).
    Column("payment_method", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

members = Table(
    "paygate_billing_members",
    metadata,
    Column("account_id", String(64), ForeignKey("paygate_billing_accounts.id"), primary_key=True),
    Column("actor_ref", String(255), primary_key=True),
    Column("role", String(32), nullable=False),
)

subscriptions = Table(
    "paygate_billing_subscriptions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("account_id", String(64), ForeignKey("paygate_billing_accounts.id"), nullable=False),
    Column("offer", String(160), nullable=False),
    Column("cycle", String(64), nullable=False),
    Column("anchor", Date, nullable=False),
    # Periods are numbered for ever (usage and invoices key on the number);
    # a cycle switch moves the anchor, which applies from period anchor_index.
    Column("anchor_index", Integer, nullable=False),
    Column("period_index", Integer, nullable=False),
    Column("period_start", Date, nullable=False),
    Column("period_end", Date, nullable=False),
    # Three separate states (lesson 10): access, the billing schedule, and money owed.
    Column("entitlement", String(16), nullable=False),
    Column("billing_state", String(16), nullable=False),
    Column("collection_state", String(16), nullable=False),
    Column("cancel_at_period_end", Boolean, nullable=False),
    Column("frozen_on", Date),
    Column("frozen_until", Date),
    # A change waiting for the period end (a downgrade, a cycle switch), as JSON.
    Column("pending", Text),
    Column("next_action_at", DateTime(timezone=True)),
    Column("lease_owner", String(64)),
    Column("lease_until", DateTime(timezone=True)),
    Column("version", Integer, nullable=False),
    Column("review_reason", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_paygate_billing_subscriptions_account", "account_id"),
    Index("ix_paygate_billing_subscriptions_due", "next_action_at"),
)

items = Table(
    "paygate_billing_items",
    metadata,
    Column("id", String(64), primary_key=True),
    Column(
        "subscription_id",
        String(64),
        ForeignKey("paygate_billing_subscriptions.id"),
        nullable=False,
        index=True,
    ),
    Column("kind", String(32), nullable=False),
    Column("offer", String(160), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("added_at", DateTime(timezone=True), nullable=False),
    Column("removed_at", DateTime(timezone=True)),
)

number_series = Table(
    "paygate_billing_number_series",
    metadata,
    Column("series", String(64), primary_key=True),
    Column("next_value", BigInteger, nullable=False),
)

invoices = Table(
    "paygate_billing_invoices",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("account_id", String(64), ForeignKey("paygate_billing_accounts.id"), nullable=False),
    Column("subscription_id", String(64), ForeignKey("paygate_billing_subscriptions.id")),
    Column("dedupe_key", String(255), nullable=False, unique=True),
    Column("reason", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("series", String(64)),
    Column("number", BigInteger),
    Column("currency", String(3), nullable=False),
    Column("total_minor", BigInteger, nullable=False),
    Column("amount_paid_minor", BigInteger, nullable=False),
    Column("period_index", Integer),
    Column("period_start", Date),
    Column("period_end", Date),
    Column("attempt_count", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("transaction_id", String(64)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("finalized_at", DateTime(timezone=True)),
    Column("closed_at", DateTime(timezone=True)),
    UniqueConstraint("series", "number", name="uq_paygate_billing_invoices_series_number"),
    CheckConstraint(
        "(status = 'draft' AND number IS NULL AND series IS NULL) OR "
        "(status <> 'draft' AND number IS NOT NULL AND series IS NOT NULL)",
        name="ck_paygate_billing_invoices_number_iff_final",
    ),
    Index("ix_paygate_billing_invoices_account", "account_id"),
    Index("ix_paygate_billing_invoices_subscription", "subscription_id"),
    # A provider's refund or dispute names a charge: its invoice is found by
    # the transaction (revision 0005).
    Index("ix_paygate_billing_invoices_transaction", "transaction_id"),
)

invoice_lines = Table(
    "paygate_billing_invoice_lines",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("invoice_id", String(64), ForeignKey("paygate_billing_invoices.id"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("description", String(500), nullable=False),
    Column("offer", String(160)),
    Column("price_version", String(200)),
    Column("item_id", String(64)),
    Column("quantity", BigInteger, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    # What a charge line charged after discounts: the base of a later credit.
    Column("net_minor", BigInteger),
    Column("period_start", Date),
    Column("period_end", Date),
    # A credit line names the line whose charge it gives back (lesson 5).
    Column("credits_line_id", String(64), ForeignKey("paygate_billing_invoice_lines.id")),
    # How a prorated line was computed: policy and fraction, shown on previews.
    Column("proration", String(200)),
    UniqueConstraint("invoice_id", "position", name="uq_paygate_billing_invoice_lines_position"),
    Index("ix_paygate_billing_invoice_lines_credits", "credits_line_id"),
)

payment_attempts = Table(
    "paygate_billing_payment_attempts",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("invoice_id", String(64), ForeignKey("paygate_billing_invoices.id"), nullable=False),
    Column("attempt_no", Integer, nullable=False),
    Column("idempotency_key", String(255), nullable=False, unique=True),
    Column("status", String(16), nullable=False),
    Column("transaction_id", String(64)),
    Column("error_code", String(64)),
    Column("retryable", Boolean),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    UniqueConstraint("invoice_id", "attempt_no", name="uq_paygate_billing_attempts_invoice_no"),
    Index("ix_paygate_billing_attempts_transaction", "transaction_id"),
)

usage_events = Table(
    "paygate_billing_usage",
    metadata,
    Column("event_id", String(255), primary_key=True),
    Column(
        "subscription_id",
        String(64),
        ForeignKey("paygate_billing_subscriptions.id"),
        nullable=False,
    ),
    Column("metric", String(64), nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("period_index", Integer, nullable=False),
    Index("ix_paygate_billing_usage_period", "subscription_id", "period_index"),
)

events = Table(
    "paygate_billing_events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("dedupe_key", String(255), nullable=False, unique=True),
    Column("type", String(64), nullable=False),
    Column("account_id", String(64), nullable=False, index=True),
    Column("subscription_id", String(64)),
    Column("invoice_id", String(64)),
    Column("payload", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True)),
)

#: Disputes (chargebacks) the providers reported on billing charges (revision
#: 0005). One row per provider event: a redelivery finds its row.
disputes = Table(
    "paygate_billing_disputes",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("provider", String(64), nullable=False),
    Column("provider_event_id", String(255), nullable=False),
    Column("provider_type", String(255), nullable=False),
    # The provider's own dispute id when the event carries one (stored exactly).
    Column("provider_dispute_id", String(255)),
    Column("account_id", String(64), ForeignKey("paygate_billing_accounts.id"), nullable=False),
    Column("invoice_id", String(64), ForeignKey("paygate_billing_invoices.id"), nullable=False),
    Column("transaction_id", String(64), nullable=False),
    Column("amount_minor", BigInteger),
    Column("currency", String(3)),
    Column("reason", String(255)),
    Column("status", String(16), nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("provider", "provider_event_id", name="uq_paygate_billing_disputes_event"),
    Index("ix_paygate_billing_disputes_account", "account_id"),
)

runner_locks = Table(
    "paygate_billing_runner_locks",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("until", DateTime(timezone=True), nullable=False),
)

#: Statements that make a finalized invoice immutable in the database.
#: Revision 0003 runs them: changing them needs a new revision.
SQLITE_TRIGGERS: tuple[str, ...] = (
    """CREATE TRIGGER IF NOT EXISTS paygate_billing_invoice_frozen
BEFORE UPDATE ON paygate_billing_invoices
WHEN OLD.status <> 'draft' AND (
    NEW.id IS NOT OLD.id OR NEW.account_id IS NOT OLD.account_id
    OR NEW.subscription_id IS NOT OLD.subscription_id OR NEW.dedupe_key IS NOT OLD.dedupe_key
    OR NEW.reason IS NOT OLD.reason OR NEW.series IS NOT OLD.series
    OR NEW.number IS NOT OLD.number OR NEW.currency IS NOT OLD.currency
    OR NEW.total_minor IS NOT OLD.total_minor OR NEW.period_index IS NOT OLD.period_index
    OR NEW.period_start IS NOT OLD.period_start OR NEW.period_end IS NOT OLD.period_end
    OR NEW.created_at IS NOT OLD.created_at OR NEW.finalized_at IS NOT OLD.finalized_at
    OR (OLD.status IN ('paid', 'void') AND NEW.status IS NOT OLD.status)
    OR NEW.status = 'draft')
BEGIN SELECT RAISE(ABORT, 'paygate: a finalized invoice is immutable'); END""",
    """CREATE TRIGGER IF NOT EXISTS paygate_billing_invoice_no_delete
BEFORE DELETE ON paygate_billing_invoices
WHEN OLD.status <> 'draft'
BEGIN SELECT RAISE(ABORT, 'paygate: a finalized invoice is never deleted'); END""",
    """CREATE TRIGGER IF NOT EXISTS paygate_billing_line_insert
BEFORE INSERT ON paygate_billing_invoice_lines
WHEN (SELECT status FROM paygate_billing_invoices WHERE id = NEW.invoice_id) <> 'draft'
BEGIN SELECT RAISE(ABORT, 'paygate: the lines of a finalized invoice are immutable'); END""",
    """CREATE TRIGGER IF NOT EXISTS paygate_billing_line_update
BEFORE UPDATE ON paygate_billing_invoice_lines
WHEN (SELECT status FROM paygate_billing_invoices WHERE id = OLD.invoice_id) <> 'draft'
BEGIN SELECT RAISE(ABORT, 'paygate: the lines of a finalized invoice are immutable'); END""",
    """CREATE TRIGGER IF NOT EXISTS paygate_billing_line_delete
BEFORE DELETE ON paygate_billing_invoice_lines
WHEN (SELECT status FROM paygate_billing_invoices WHERE id = OLD.invoice_id) <> 'draft'
BEGIN SELECT RAISE(ABORT, 'paygate: the lines of a finalized invoice are immutable'); END""",
)

POSTGRES_TRIGGERS: tuple[str, ...] = (
    """CREATE OR REPLACE FUNCTION paygate_billing_invoice_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'draft' THEN
            RAISE EXCEPTION 'paygate: a finalized invoice is never deleted';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status <> 'draft' AND (
        (NEW.id, NEW.account_id, NEW.subscription_id, NEW.dedupe_key, NEW.reason, NEW.series,
         NEW.number, NEW.currency, NEW.total_minor, NEW.period_index, NEW.period_start,
         NEW.period_end, NEW.created_at, NEW.finalized_at)
        IS DISTINCT FROM
        (OLD.id, OLD.account_id, OLD.subscription_id, OLD.dedupe_key, OLD.reason, OLD.series,
         OLD.number, OLD.currency, OLD.total_minor, OLD.period_index, OLD.period_start,
         OLD.period_end, OLD.created_at, OLD.finalized_at)
        OR (OLD.status IN ('paid', 'void') AND NEW.status IS DISTINCT FROM OLD.status)
        OR NEW.status = 'draft'
    ) THEN
        RAISE EXCEPTION 'paygate: a finalized invoice is immutable';
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql""",
    """CREATE OR REPLACE FUNCTION paygate_billing_line_guard() RETURNS trigger AS $$
DECLARE parent text;
BEGIN
    SELECT status INTO parent FROM paygate_billing_invoices
     WHERE id = (CASE WHEN TG_OP = 'INSERT' THEN NEW.invoice_id ELSE OLD.invoice_id END);
    IF parent IS DISTINCT FROM 'draft' THEN
        RAISE EXCEPTION 'paygate: the lines of a finalized invoice are immutable';
    END IF;
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql""",
    "DROP TRIGGER IF EXISTS paygate_billing_invoice_guard ON paygate_billing_invoices",
    """CREATE TRIGGER paygate_billing_invoice_guard BEFORE UPDATE OR DELETE
ON paygate_billing_invoices FOR EACH ROW EXECUTE FUNCTION paygate_billing_invoice_guard()""",
    "DROP TRIGGER IF EXISTS paygate_billing_line_guard ON paygate_billing_invoice_lines",
    """CREATE TRIGGER paygate_billing_line_guard BEFORE INSERT OR UPDATE OR DELETE
ON paygate_billing_invoice_lines FOR EACH ROW EXECUTE FUNCTION paygate_billing_line_guard()""",
)

__all__ = [
    "POSTGRES_TRIGGERS",
    "SQLITE_TRIGGERS",
    "accounts",
    "disputes",
    "events",
    "invoice_lines",
    "invoices",
    "items",
    "members",
    "number_series",
    "payment_attempts",
    "runner_locks",
    "subscriptions",
    "usage_events",
]

"""Tables of the legal documents built on billing invoices (revision ``0004``):
billing profiles (the receiver, versioned), issued documents (380 invoice,
381 credit note, 384 corrected invoice), correction requests and deliveries.

Invariants the database holds by itself:

* a profile version never changes, except its ``active`` flag ("disable the
  old receiver"); it is never deleted;
* an issued document is never updated nor deleted (triggers on SQLite and
  PostgreSQL), and its number is unique per series (``UNIQUE(series, number)``);
  numbers come from the billing counter rows, in the issuing transaction;
* one document per ``source_key`` (``inv:{invoice}``, ``refund:{tx}``,
  ``corr:{request}:{type}``): a retried issue never makes a second document;
* one open correction request per document (``open_document_id`` is set
  while the request is pending, and unique);
* one delivery per (document, address): never sent twice to one address.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from paygate.ledger.schema import metadata

profiles = Table(
    "paygate_invoices_profiles",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("account_id", String(64), ForeignKey("paygate_billing_accounts.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("legal_name", String(300), nullable=False),
    Column("address", Text, nullable=False),
    Column("country", String(2), nullable=False),
    Column("vat_id", String(32)),
    Column("siren", String(9)),
    Column("email", String(320)),
    Column("locale", String(16), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(255), nullable=False),
    UniqueConstraint("account_id", "version", name="uq_paygate_invoices_profiles_version"),
    Index("ix_paygate_invoices_profiles_account", "account_id", "active"),
)

documents = Table(
    "paygate_invoices_documents",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("source_key", String(255), nullable=False, unique=True),
    Column("account_id", String(64), ForeignKey("paygate_billing_accounts.id"), nullable=False),
    Column("invoice_id", String(64), ForeignKey("paygate_billing_invoices.id")),
    Column("type_code", String(3), nullable=False),
    Column("series", String(64), nullable=False),
    Column("number", BigInteger, nullable=False),
    Column("number_text", String(100), nullable=False),
    Column("issue_date", Date, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("net_minor", BigInteger, nullable=False),
    Column("tax_minor", BigInteger, nullable=False),
    Column("total_minor", BigInteger, nullable=False),
    Column("preceding_id", String(64), ForeignKey("paygate_invoices_documents.id")),
    Column("buyer_profile_id", String(64), ForeignKey("paygate_invoices_profiles.id")),
    # The document's immutable data (seller and buyer snapshots, lines, VAT
    # breakdown, mentions, preceding reference) as canonical JSON.
    Column("data", Text, nullable=False),
    Column("pdf", LargeBinary, nullable=False),
    Column("pdf_sha256", String(64), nullable=False),
    Column("data_sha256", String(64), nullable=False),
    Column("prev_chain", String(64), nullable=False),
    Column("chain", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("series", "number", name="uq_paygate_invoices_documents_series_number"),
    Index("ix_paygate_invoices_documents_account", "account_id"),
    Index("ix_paygate_invoices_documents_preceding", "preceding_id"),
    Index("ix_paygate_invoices_documents_invoice", "invoice_id"),
)

corrections = Table(
    "paygate_invoices_corrections",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("document_id", String(64), ForeignKey("paygate_invoices_documents.id"), nullable=False),
    Column("account_id", String(64), nullable=False),
    # Set while pending, NULL once decided: one open request per document.
    Column("open_document_id", String(64), unique=True),
    Column("requested_by", String(255), nullable=False),
    Column("reason", Text, nullable=False),
    Column("changes", Text, nullable=False),
    Column("disable_old_receiver", Boolean, nullable=False),
    Column("status", String(16), nullable=False),
    Column("decided_by", String(255)),
    Column("decided_at", DateTime(timezone=True)),
    Column("decision_reason", Text),
    Column("result_ids", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

deliveries = Table(
    "paygate_invoices_deliveries",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("document_id", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("address", String(320), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    # Set when a sender claims the row (status ``sending``); a claim older
    # than the lease is taken over (the sender died mid-send).
    Column("claimed_at", DateTime(timezone=True)),
    UniqueConstraint("document_id", "kind", "address", name="uq_paygate_invoices_deliveries_once"),
    Index("ix_paygate_invoices_deliveries_status", "status"),
)

#: Issued documents and profile versions are immutable (revision 0004).
SQLITE_TRIGGERS: tuple[str, ...] = (
    """CREATE TRIGGER IF NOT EXISTS paygate_invoices_document_frozen
BEFORE UPDATE ON paygate_invoices_documents
BEGIN SELECT RAISE(ABORT, 'paygate: an issued document is immutable'); END""",
    """CREATE TRIGGER IF NOT EXISTS paygate_invoices_document_no_delete
BEFORE DELETE ON paygate_invoices_documents
BEGIN SELECT RAISE(ABORT, 'paygate: an issued document is never deleted'); END""",
    """CREATE TRIGGER IF NOT EXISTS paygate_invoices_profile_frozen
BEFORE UPDATE ON paygate_invoices_profiles
WHEN NEW.id IS NOT OLD.id OR NEW.account_id IS NOT OLD.account_id
    OR NEW.version IS NOT OLD.version OR NEW.legal_name IS NOT OLD.legal_name
    OR NEW.address IS NOT OLD.address OR NEW.country IS NOT OLD.country
    OR NEW.vat_id IS NOT OLD.vat_id OR NEW.siren IS NOT OLD.siren
    OR NEW.email IS NOT OLD.email OR NEW.locale IS NOT OLD.locale
    OR NEW.created_at IS NOT OLD.created_at OR NEW.created_by IS NOT OLD.created_by
BEGIN SELECT RAISE(ABORT, 'paygate: a profile version is immutable'); END""",
    """CREATE TRIGGER IF NOT EXISTS paygate_invoices_profile_no_delete
BEFORE DELETE ON paygate_invoices_profiles
BEGIN SELECT RAISE(ABORT, 'paygate: a profile version is never deleted'); END""",
)

POSTGRES_TRIGGERS: tuple[str, ...] = (
    """CREATE OR REPLACE FUNCTION paygate_invoices_document_guard() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'paygate: an issued document is immutable';
END $$ LANGUAGE plpgsql""",
    """CREATE OR REPLACE FUNCTION paygate_invoices_profile_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'paygate: a profile version is never deleted';
    END IF;
    IF (NEW.id, NEW.account_id, NEW.version, NEW.legal_name, NEW.address, NEW.country,
        NEW.vat_id, NEW.siren, NEW.email, NEW.locale, NEW.created_at, NEW.created_by)
       IS DISTINCT FROM
       (OLD.id, OLD.account_id, OLD.version, OLD.legal_name, OLD.address, OLD.country,
        OLD.vat_id, OLD.siren, OLD.email, OLD.locale, OLD.created_at, OLD.created_by) THEN
        RAISE EXCEPTION 'paygate: a profile version is immutable';
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql""",
    "DROP TRIGGER IF EXISTS paygate_invoices_document_guard ON paygate_invoices_documents",
    """CREATE TRIGGER paygate_invoices_document_guard BEFORE UPDATE OR DELETE
ON paygate_invoices_documents FOR EACH ROW EXECUTE FUNCTION paygate_invoices_document_guard()""",
    "DROP TRIGGER IF EXISTS paygate_invoices_profile_guard ON paygate_invoices_profiles",
    """CREATE TRIGGER paygate_invoices_profile_guard BEFORE UPDATE OR DELETE
ON paygate_invoices_profiles FOR EACH ROW EXECUTE FUNCTION paygate_invoices_profile_guard()""",
)

__all__ = [
    "POSTGRES_TRIGGERS",
    "SQLITE_TRIGGERS",
    "corrections",
    "deliveries",
    "documents",
    "profiles",
]

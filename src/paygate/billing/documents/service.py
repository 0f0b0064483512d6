"""``Billing.invoices``: billing profiles, legal documents (380/381/384),
their history and PDF, the hash-chain check, corrections and delivery.

Where rendering runs: **at issue, off the renewal's critical path.** A paid
billing invoice is committed by the renewal run first; its document is issued
afterwards (``issue_due``, called after each billing operation and each
run), in a transaction of its own that takes the number, renders the PDF and
stores it with its hash. A render failure rolls that transaction back (no
number is consumed) and leaves the payment untouched; the next pass retries.
The PDF exists before anyone can download or receive it, and it is the one
stored file that is always served.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, exists, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from paygate.billing.documents import chain as chainmod
from paygate.billing.documents.codec import from_data, to_data
from paygate.billing.documents.errors import (
    CorrectionRefused,
    DocumentNotFound,
    MissingMandatoryData,
    RenderFailed,
)
from paygate.billing.documents.models import (
    CorrectionRequest,
    Delivery,
    Document,
    DocumentLine,
    DocumentType,
    Mention,
    MentionProblem,
    Party,
    Profile,
    VatBreakdown,
    VatContext,
    VatTreatment,
)
from paygate.billing.documents.vat import clean_siren, clean_vat
from paygate.billing.errors import BillingPermissionDenied
from paygate.billing.models import Account, Action, Actor, Invoice
from paygate.billing.periods import local_date, zone
from paygate.billing.store import PAID, new_id
from paygate.errors import ConfigurationError, InvalidRequest, PaygateError
from paygate.ledger.billing_schema import invoices as billing_invoices
from paygate.ledger.billing_schema import number_series
from paygate.ledger.invoices_schema import corrections, deliveries, documents, profiles
from paygate.money import Money, currency_exponent
from paygate.redaction import get_logger

if TYPE_CHECKING:
    from paygate.billing.core import BillingCore

log = get_logger("paygate.invoices")

_PROFILE_FIELDS = ("legal_name", "address", "country", "vat_id", "siren", "email", "locale")
_SELLER_FIELDS = frozenset(
    {
        "legal_name",
        "address",
        "country",
        "vat_id",
        "siren",
        "email",
        "legal_form",
        "share_capital",
        "rcs",
    }
)
_SECTION_KEYS = frozenset({"seller", "locale", "smtp", "issue", "timezone"})
PENDING, ACCEPTED, REJECTED = "pending", "accepted", "rejected"
#: A delivery claimed longer ago than this is taken over (its sender died).
SEND_LEASE = timedelta(minutes=10)
#: A failed send is tried again this long after its last try.
RETRY_AFTER = timedelta(minutes=5)


def _utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _q(amount: Decimal, ccy: str) -> Money:
    """One rounding step, half up, to the currency's minor unit."""
    unit = Decimal(1).scaleb(-currency_exponent(ccy))
    return Money(amount.quantize(unit, rounding=ROUND_HALF_UP), ccy)


def _issue_order(row: Any) -> tuple[Any, ...]:
    """Oldest first; at one instant an original before what amends it, and a
    credit note before the invoice that replaces what it credits."""
    if row.preceding_id is None:
        rank = 0
    else:
        rank = 2 if row.type_code == DocumentType.INVOICE.value else 1
    return (_utc(row.created_at), rank, row.series, row.number)


class Invoices:
    """The documents side of billing (``billing.invoices``).

    Calling it like the former method, ``billing.invoices(actor, account)``,
    still returns the billing records (:class:`paygate.billing.Invoice`).
    """

    def __init__(self, billing: BillingCore) -> None:
        self.billing = billing
        self.store = billing.store
        section = billing.payments.config.section("invoices")
        seller = dict(section.get("seller") or {})
        unknown = sorted(set(seller) - _SELLER_FIELDS)
        if unknown:
            raise ConfigurationError(f"[invoices.seller] has unknown keys {unknown}")
        self.seller: Party | None = self._seller(seller) if seller else None
        unknown = sorted(set(section) - _SECTION_KEYS)
        if unknown:
            raise ConfigurationError(
                f"[invoices] has unknown keys {unknown}; known: {sorted(_SECTION_KEYS)}"
            )
        self.locale: str = str(section.get("locale", "fr"))
        self.timezone: str | None = section.get("timezone")
        if self.timezone is not None:
            try:  # an unknown zone is refused now, not at the first issue
                zone(str(self.timezone))
            except InvalidRequest:
                raise ConfigurationError(
                    "[invoices] timezone must be an IANA name such as 'Europe/Paris'"
                ) from None
        issue = section.get("issue", "inline")
        if issue not in ("inline", "worker"):
            raise ConfigurationError("[invoices] issue is 'inline' or 'worker'")
        #: ``inline``: every billing call and run issues the documents due;
        #: ``worker``: only ``issue_due()`` (``paygate invoices issue``) does.
        self.inline: bool = issue == "inline"
        self.test_mode: bool = bool(billing.payments.config.test_mode)

    # -- compatibility: the billing records ------------------------------------------
    def __call__(self, actor: Actor, account: str) -> list[Invoice]:
        with self.store.read() as conn:
            acct = self.store.account(conn, account)
            self.billing._authorize(actor, Action.VIEW, acct)
            return self.store.invoices_of(conn, acct.id)

    # -- configuration -------------------------------------------------------------
    def _seller(self, data: dict[str, Any]) -> Party:
        country = str(data.get("country", "")).upper()
        vat_id = data.get("vat_id")
        return Party(
            legal_name=str(data.get("legal_name", "")),
            address=str(data.get("address", "")),
            country=country,
            vat_id=clean_vat(vat_id, country) if vat_id else None,
            siren=clean_siren(data["siren"]) if data.get("siren") else None,
            email=data.get("email"),
            legal_form=data.get("legal_form"),
            share_capital=data.get("share_capital"),
            rcs=data.get("rcs"),
        )

    def configure_seller(self, **fields: Any) -> Party:
        """Set the seller (what ``[invoices.seller]`` sets); VAT number checked."""
        unknown = sorted(set(fields) - _SELLER_FIELDS)
        if unknown:
            raise InvalidRequest(f"unknown seller fields {unknown}", param="seller")
        self.seller = self._seller(fields)
        return self.seller

    @property
    def now(self) -> datetime:
        return self.billing.now()

    def _account(self, conn: Connection, actor: Actor, account_id: str, action: Action) -> Account:
        acct = self.store.account(conn, account_id)
        self.billing._authorize(actor, action, acct)
        return acct

    # -- profiles ------------------------------------------------------------------
    def _validated(self, fields: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(fields) - set(_PROFILE_FIELDS))
        if unknown:
            raise InvalidRequest(f"unknown profile fields {unknown}", param="profile")
        out: dict[str, Any] = {}
        for key in ("legal_name", "address"):
            value = fields.get(key)
            if not isinstance(value, str) or not value.strip():
                raise MissingMandatoryData(
                    f"a billing profile needs {key} (VAT Directive art. 226 (5))",
                    mention=f"buyer.{key}",
                )
            out[key] = value.strip()
        country = fields.get("country")
        if not isinstance(country, str) or len(country) != 2 or not country.isalpha():
            raise InvalidRequest("country is an ISO 3166 two-letter code", param="country")
        out["country"] = country.upper()
        vat_id = fields.get("vat_id")
        out["vat_id"] = clean_vat(vat_id, out["country"]) if vat_id else None
        siren = fields.get("siren")
        out["siren"] = clean_siren(siren) if siren else None
        email = fields.get("email")
        if email is not None and (not isinstance(email, str) or "@" not in email):
            raise InvalidRequest("email must be an e-mail address", param="email")
        out["email"] = email
        locale = fields.get("locale") or self.locale
        if locale not in ("fr", "en"):
            raise InvalidRequest("locale is 'fr' or 'en'", param="locale")
        out["locale"] = locale
        return out

    def _insert_profile(
        self, conn: Connection, account_id: str, fields: dict[str, Any], by: str, active: bool
    ) -> Profile:
        version = (
            len(
                conn.execute(select(profiles.c.id).where(profiles.c.account_id == account_id)).all()
            )
            + 1
        )
        pid = new_id("prof")
        conn.execute(
            insert(profiles).values(
                id=pid,
                account_id=account_id,
                version=version,
                active=active,
                created_at=self.now,
                created_by=by,
                **fields,
            )
        )
        return self._profile(conn, pid)

    def _profile(self, conn: Connection, profile_id: str) -> Profile:
        row = conn.execute(select(profiles).where(profiles.c.id == profile_id)).one()
        return Profile(
            id=row.id,
            account_id=row.account_id,
            version=row.version,
            legal_name=row.legal_name,
            address=row.address,
            country=row.country,
            vat_id=row.vat_id,
            siren=row.siren,
            email=row.email,
            locale=row.locale,
            active=row.active,
            created_at=_utc(row.created_at) or self.now,
        )

    def _active_profile(self, conn: Connection, account_id: str) -> Profile | None:
        row = conn.execute(
            select(profiles.c.id)
            .where(and_(profiles.c.account_id == account_id, profiles.c.active.is_(True)))
            .order_by(profiles.c.version.desc())
        ).first()
        return self._profile(conn, row.id) if row is not None else None

    def _activate(self, conn: Connection, account_id: str, profile_id: str) -> None:
        """ "Disable the old receiver": the new version is the default, older ones inactive."""
        conn.execute(
            update(profiles)
            .where(and_(profiles.c.account_id == account_id, profiles.c.id != profile_id))
            .values(active=False)
        )
        conn.execute(update(profiles).where(profiles.c.id == profile_id).values(active=True))

    def set_profile(self, actor: Actor, account: str, **fields: Any) -> Profile:
        """Add a new version of the account's billing profile and make it the
        default for future documents (issued documents keep their snapshots)."""
        clean = self._validated(fields)
        with self.store.write() as conn:
            self._account(conn, actor, account, Action.PAY)
            prof = self._insert_profile(conn, account, clean, actor.ref, active=False)
            self._activate(conn, account, prof.id)
            prof = self._profile(conn, prof.id)
        self.after_billing()  # paid invoices that waited for a receiver
        return prof

    def profile(self, actor: Actor, account: str) -> Profile | None:
        """The profile future documents use (``None``: none given yet)."""
        with self.store.read() as conn:
            self._account(conn, actor, account, Action.VIEW)
            return self._active_profile(conn, account)

    def profiles(self, actor: Actor, account: str) -> list[Profile]:
        """Every version, oldest first."""
        with self.store.read() as conn:
            self._account(conn, actor, account, Action.VIEW)
            rows = conn.execute(
                select(profiles.c.id)
                .where(profiles.c.account_id == account)
                .order_by(profiles.c.version)
            ).all()
            return [self._profile(conn, r.id) for r in rows]

    # -- building a document --------------------------------------------------------
    def _vat(self, seller: Party, buyer: Party, on: date) -> VatTreatment:
        found = self.billing.hook.paygate_billing_vat(
            context=VatContext(seller=seller, buyer=buyer, on=on)
        )
        if not isinstance(found, VatTreatment):
            raise ConfigurationError("paygate_billing_vat gave no VatTreatment")
        return found

    def _build(
        self,
        *,
        account_id: str,
        invoice_id: str | None,
        type_: DocumentType,
        buyer: Party,
        buyer_profile_id: str | None,
        locale: str,
        gross_lines: list[tuple[str, int, Money, date | None, date | None]],
        currency: str,
        preceding: Document | None = None,
        supply: tuple[date | None, date | None] = (None, None),
        paid_on: date | None = None,
        transaction_id: str | None = None,
    ) -> Document:
        """A document without number, mentions nor hash. Amounts charged are
        VAT included: each line's net is extracted at the treatment's rate,
        rounded once per line, and the VAT is what remains, so the document's
        total is exactly what was charged."""
        if self.seller is None:
            raise MissingMandatoryData(
                "no seller is configured ([invoices.seller])", mention="seller"
            )
        # The issue date is the seller's calendar day.
        tz = self.timezone or ("Europe/Paris" if self.seller.country == "FR" else "UTC")
        issue_date = local_date(self.now, zone(tz))
        treatment = self._vat(self.seller, buyer, issue_date)
        factor = Decimal(100) + treatment.rate
        lines = []
        for pos, (desc, qty, gross, start, end) in enumerate(gross_lines, start=1):
            net = _q(gross.amount * 100 / factor, currency)
            lines.append(
                DocumentLine(pos, desc, qty, net, treatment.category, treatment.rate, start, end)
            )
        total = Money(sum((g[2].amount for g in gross_lines), Decimal(0)), currency)
        net_total = Money(sum((ln.net.amount for ln in lines), Decimal(0)), currency)
        tax_total = total - net_total
        vat = (
            VatBreakdown(
                treatment.category,
                treatment.rate,
                net_total,
                tax_total,
                treatment.exemption_reason,
                treatment.exemption_code,
            ),
        )
        return Document(
            id=new_id("doc"),
            account_id=account_id,
            invoice_id=invoice_id,
            type=type_,
            series="",
            number=0,
            number_text="",
            issue_date=issue_date,
            currency=currency,
            seller=self.seller,
            buyer=buyer,
            lines=tuple(lines),
            vat=vat,
            net=net_total,
            tax=tax_total,
            total=total,
            mentions=(),
            locale=locale,
            test_mode=self.test_mode,
            preceding_id=preceding.id if preceding else None,
            preceding_number=preceding.number_text if preceding else None,
            preceding_date=preceding.issue_date if preceding else None,
            supply_start=supply[0],
            supply_end=supply[1],
            paid_on=paid_on,
            transaction_id=transaction_id,
            buyer_profile_id=buyer_profile_id,
        )

    def _issue(self, conn: Connection, draft: Document, source_key: str) -> Document:
        """Check, number, render, hash-chain and store ``draft`` in ``conn``'s
        transaction. Any failure raises and the caller's rollback gives the
        number back."""
        found = self.billing.hook.paygate_billing_mentions(document=draft)
        mentions: list[Mention] = []
        for group in found or ():
            for item in group or ():
                if isinstance(item, MentionProblem):
                    raise MissingMandatoryData(
                        f"document refused, mandatory {item.code} missing: {item.detail}",
                        mention=item.code,
                    )
                mentions.append(item)
        series = self.billing.hook.paygate_billing_document_series(document=draft)
        if not isinstance(series, str) or not 1 <= len(series) <= 64:
            raise ConfigurationError("paygate_billing_document_series must name a series")
        number = self.store.take_number(conn, series)
        doc = replace(
            draft,
            series=series,
            number=number,
            number_text=f"{series}-{number:06d}",
            mentions=tuple(mentions),
        )
        try:
            pdf = self.billing.hook.paygate_billing_render(document=doc)
        except PaygateError:
            raise
        except Exception as exc:
            raise RenderFailed(
                f"rendering {doc.number_text} failed: {type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(pdf, bytes) or not pdf:
            raise RenderFailed("no renderer answered paygate_billing_render (install one)")
        data = chainmod.canonical(to_data(doc))
        prev = conn.execute(
            select(documents.c.chain).where(
                and_(documents.c.series == series, documents.c.number == number - 1)
            )
        ).scalar_one_or_none()
        prev_chain = prev if prev is not None else chainmod.GENESIS
        pdf_sha = chainmod.sha256(pdf)
        data_sha = chainmod.sha256(data.encode("utf-8"))
        conn.execute(
            insert(documents).values(
                id=doc.id,
                source_key=source_key,
                account_id=doc.account_id,
                invoice_id=doc.invoice_id,
                type_code=doc.type.value,
                series=series,
                number=number,
                number_text=doc.number_text,
                issue_date=doc.issue_date,
                currency=doc.currency,
                net_minor=doc.net.minor_units,
                tax_minor=doc.tax.minor_units,
                total_minor=doc.total.minor_units,
                preceding_id=doc.preceding_id,
                buyer_profile_id=doc.buyer_profile_id,
                data=data,
                pdf=pdf,
                pdf_sha256=pdf_sha,
                data_sha256=data_sha,
                prev_chain=prev_chain,
                chain=chainmod.link(
                    prev_chain, series, number, doc.issue_date.isoformat(), pdf_sha, data_sha
                ),
                created_at=self.now,
            )
        )
        if doc.buyer.email:
            self._queue(conn, doc.id, "document", doc.buyer.email)
        return replace(doc, sha256=pdf_sha, created_at=self.now)

    # -- reading -----------------------------------------------------------------------
    def _row_doc(self, row: Any) -> Document:
        return from_data(
            json.loads(row.data),
            id=row.id,
            account_id=row.account_id,
            invoice_id=row.invoice_id,
            buyer_profile_id=row.buyer_profile_id,
            sha256=row.pdf_sha256,
            created_at=_utc(row.created_at),
        )

    def _doc(self, conn: Connection, document_id: object) -> Document:
        if not isinstance(document_id, str):
            raise InvalidRequest("document must be an id string", param="document")
        row = conn.execute(select(documents).where(documents.c.id == document_id)).first()
        if row is None:
            raise DocumentNotFound(f"no document {document_id}")
        return self._row_doc(row)

    def _amended(self, conn: Connection, ids: list[str]) -> dict[str, tuple[str, ...]]:
        if not ids:
            return {}
        rows = conn.execute(
            select(
                documents.c.preceding_id,
                documents.c.id,
                documents.c.type_code,
                documents.c.created_at,
                documents.c.series,
                documents.c.number,
            ).where(documents.c.preceding_id.in_(ids))
        ).all()
        out: dict[str, list[str]] = {}
        for r in sorted(rows, key=_issue_order):
            out.setdefault(r.preceding_id, []).append(r.id)
        return {k: tuple(v) for k, v in out.items()}

    def list(self, actor: Actor, account: str) -> list[Document]:
        """Every document of the account, oldest first, with ``amended_by``
        naming the credit notes and corrected invoices that refer to each.
        Owner (and staff) only; a frozen account still reaches its documents."""
        with self.store.read() as conn:
            self._account(conn, actor, account, Action.VIEW)
            rows = sorted(
                conn.execute(select(documents).where(documents.c.account_id == account)).all(),
                key=_issue_order,
            )
            docs = [self._row_doc(r) for r in rows]
            links = self._amended(conn, [d.id for d in docs])
        return [replace(d, amended_by=links.get(d.id, ())) for d in docs]

    def show(self, actor: Actor, document_id: str) -> Document:
        with self.store.read() as conn:
            doc = self._doc(conn, document_id)
            self._account(conn, actor, doc.account_id, Action.VIEW)
            links = self._amended(conn, [doc.id])
        return replace(doc, amended_by=links.get(doc.id, ()))

    def pdf(self, actor: Actor, document_id: str) -> bytes:
        """The stored PDF: the same bytes that were hashed and e-mailed."""
        with self.store.read() as conn:
            row = (
                conn.execute(
                    select(documents.c.account_id, documents.c.pdf).where(
                        documents.c.id == document_id
                    )
                ).first()
                if isinstance(document_id, str)
                else None
            )
            if row is None:
                raise DocumentNotFound(f"no document {document_id}")
            self._account(conn, actor, row.account_id, Action.VIEW)
            return bytes(row.pdf)

    def all_documents(
        self, *, since: date | None = None, until: date | None = None
    ) -> builtins.list[Document]:
        """Every document (staff, CLI, export), by series then number."""
        with self.store.read() as conn:
            stmt = select(documents).order_by(documents.c.series, documents.c.number)
            if since is not None:
                stmt = stmt.where(documents.c.issue_date >= since)
            if until is not None:
                stmt = stmt.where(documents.c.issue_date <= until)
            return [self._row_doc(r) for r in conn.execute(stmt).all()]

    def stored_pdf(self, document_id: str) -> bytes:
        with self.store.read() as conn:
            row = conn.execute(select(documents.c.pdf).where(documents.c.id == document_id)).first()
        if row is None:
            raise DocumentNotFound(f"no document {document_id}")
        return bytes(row.pdf)

    # -- issuing from billing ----------------------------------------------------------
    def ready(self) -> bool:
        """Documents are issued automatically once a seller is configured and
        a renderer plugin is installed."""
        return self.seller is not None and bool(
            self.billing.hook.paygate_billing_render.get_hookimpls()
        )

    def after_billing(self) -> None:
        """What billing calls after each operation: issue and send the
        documents due, unless a separate worker does (``issue = "worker"``)."""
        if self.inline:
            self.issue_due()

    def issue_due(self) -> builtins.list[Document]:
        """Issue the invoice (380) of every paid billing invoice of an account
        with a billing profile that has none yet; then send what is queued.
        A failure is logged and retried at the next pass (nothing numbered)."""
        if not self.ready():
            return []
        # Paid, without a document, of an account that has a profile (an
        # account without one is not looked at again and again).
        issued_already = exists().where(documents.c.invoice_id == billing_invoices.c.id)
        has_profile = exists().where(
            and_(
                profiles.c.account_id == billing_invoices.c.account_id,
                profiles.c.active.is_(True),
            )
        )
        with self.store.read() as conn:
            rows = conn.execute(
                select(billing_invoices.c.id)
                .where(billing_invoices.c.status == PAID)
                .where(~issued_already)
                .where(has_profile)
                .order_by(billing_invoices.c.finalized_at, billing_invoices.c.id)
            ).all()
        issued = []
        for r in rows:
            try:
                doc, new = self._issue_invoice(r.id)
            except PaygateError as exc:
                log.warning("document for invoice %s not issued: %s", r.id, exc)
                continue
            if doc is not None and new:
                issued.append(doc)
        self.deliver_due()
        return issued

    def issue_for_invoice(self, invoice_id: str) -> Document | None:
        """Issue the 380 of one paid billing invoice (idempotent: the same
        invoice gives the same document). ``None``: the account has no
        billing profile yet."""
        return self._issue_invoice(invoice_id)[0]

    def _issue_invoice(self, invoice_id: str) -> tuple[Document | None, bool]:
        """The 380 of a paid billing invoice, and whether this call issued it."""
        key = f"inv:{invoice_id}"
        try:
            with self.store.write() as conn:
                existing = conn.execute(
                    select(documents).where(documents.c.source_key == key)
                ).first()
                if existing is not None:
                    return self._row_doc(existing), False
                inv = self.store.invoice(conn, invoice_id)
                if inv.status != PAID:
                    raise InvalidRequest(f"invoice {invoice_id} is not paid", param="invoice")
                prof = self._active_profile(conn, inv.account_id)
                if prof is None:
                    return None, False
                draft = self._build(
                    account_id=inv.account_id,
                    invoice_id=inv.id,
                    type_=DocumentType.INVOICE,
                    buyer=prof.party(),
                    buyer_profile_id=prof.id,
                    locale=prof.locale,
                    gross_lines=[
                        (ln.description, ln.quantity, ln.amount, ln.period_start, ln.period_end)
                        for ln in inv.lines
                    ],
                    currency=inv.currency,
                    supply=(inv.period_start, inv.period_end),
                    paid_on=(inv.closed_at or self.now).date(),
                    transaction_id=inv.transaction_id,
                )
                return self._issue(conn, draft, key), True
        except IntegrityError:
            # Another worker issued it at the same moment: read theirs.
            with self.store.read() as conn:
                row = conn.execute(select(documents).where(documents.c.source_key == key)).one()
                return self._row_doc(row), False

    def credit_refund(
        self, actor: Actor, document_id: str, refund: Money, *, transaction_id: str, reason: str
    ) -> Document:
        """Issue a credit note (381) for what a refund through ``Payments``
        gave back on an invoiced charge, linked to its invoice (billing staff,
        or the host acting as staff, when it refunded by itself; ``refund``
        does both). The same ``transaction_id`` (the refund's) gives the same
        credit note."""
        key = f"refund:{transaction_id}"
        with self.store.write() as conn:
            existing = conn.execute(select(documents).where(documents.c.source_key == key)).first()
            if existing is not None:
                return self._row_doc(existing)
            self._staff_only(actor)
            orig = self._doc(conn, document_id)
            if orig.type is DocumentType.CREDIT_NOTE:
                raise CorrectionRefused("a credit note cannot itself be credited")
            credited = self._credited(conn, orig.id)
            if refund.currency != orig.currency or refund.amount <= 0:
                raise InvalidRequest("the refund must be positive, in the invoice's currency")
            if credited + refund.amount > orig.total.amount:
                raise InvalidRequest(
                    f"credits would exceed invoice {orig.number_text}'s total {orig.total}",
                    param="refund",
                )
            doc = self._issue(conn, self._credit_draft(orig, refund, transaction_id, reason), key)
        self.deliver_due()
        return doc

    def _credit_draft(
        self, orig: Document, refund: Money, transaction_id: str, reason: str
    ) -> Document:
        draft = self._build(
            account_id=orig.account_id,
            invoice_id=None,
            type_=DocumentType.CREDIT_NOTE,
            buyer=orig.buyer,
            buyer_profile_id=orig.buyer_profile_id,
            locale=orig.locale,
            gross_lines=[(reason, 1, refund, orig.supply_start, orig.supply_end)],
            currency=orig.currency,
            preceding=orig,
            supply=(orig.supply_start, orig.supply_end),
            transaction_id=transaction_id,
        )
        return self._same_vat(draft, orig)

    def invoice_document(self, invoice_id: str) -> Document | None:
        """The 380 issued for billing invoice ``invoice_id``, issuing it now if
        the invoice is paid and was not yet (``None``: no billing profile, not
        paid, or no seller and renderer configured)."""
        with self.store.read() as conn:
            row = conn.execute(
                select(documents).where(documents.c.source_key == f"inv:{invoice_id}")
            ).first()
            if row is not None:
                return self._row_doc(row)
            inv = self.store.invoice(conn, invoice_id)
        if inv.status != PAID or not self.ready():
            return None  # no seller or renderer: billing issues no documents at all
        return self.issue_for_invoice(invoice_id)

    def credit_charge_refunds(
        self,
        document_id: str,
        refunds: Sequence[tuple[str, Money]],
        *,
        charge_id: str,
        refunded_total: Money | None,
        reason: str,
    ) -> tuple[builtins.list[Document], builtins.list[str]]:
        """Credit what a provider says was refunded on the charge of invoice
        ``document_id`` (billing's reaction to a ``payment.refunded`` webhook;
        no actor: the provider's signed event is the authority).

        Each refund the ledger knows (``(refund id, amount)``) gets the credit
        note ``credit_refund`` would give it (same key: never twice). Then, if
        the provider's cumulative ``refunded_total`` is above what refund
        credit notes already cover (a refund made outside paygate), the
        difference is credited, keyed by the charge and that total: a
        redelivery finds nothing left to credit. Credits never exceed the
        invoice total. One write transaction, the invoice's row locked, so two
        deliveries at once cannot both credit the same difference.

        Returns the credit notes issued now and what needs a person's review.
        """
        for attempt in (1, 2):
            try:
                issued, problems = self._credit_once(
                    document_id,
                    refunds,
                    charge_id=charge_id,
                    refunded_total=refunded_total,
                    reason=reason,
                )
                break
            except IntegrityError:
                # The host's own credit_refund issued the same refund's credit
                # note at this very moment: read again, it is now credited.
                if attempt == 2:
                    raise
        if issued:
            self.deliver_due()
        return issued, problems

    def _credit_once(
        self,
        document_id: str,
        refunds: Sequence[tuple[str, Money]],
        *,
        charge_id: str,
        refunded_total: Money | None,
        reason: str,
    ) -> tuple[builtins.list[Document], builtins.list[str]]:
        issued: builtins.list[Document] = []
        problems: builtins.list[str] = []
        with self.store.write() as conn:
            # PostgreSQL: deliveries for the same charge queue here (SQLite's
            # write transaction is already exclusive).
            conn.execute(
                select(documents.c.id).where(documents.c.id == document_id).with_for_update()
            )
            orig = self._doc(conn, document_id)
            rows = conn.execute(
                select(documents.c.source_key, documents.c.total_minor, documents.c.currency).where(
                    and_(
                        documents.c.preceding_id == orig.id,
                        documents.c.type_code == DocumentType.CREDIT_NOTE.value,
                    )
                )
            ).all()
            keys = {r.source_key for r in rows}
            credited = sum(
                (Money.from_minor(r.total_minor, r.currency).amount for r in rows), Decimal(0)
            )
            by_refunds = sum(
                (
                    Money.from_minor(r.total_minor, r.currency).amount
                    for r in rows
                    if r.source_key.startswith("refund:")
                ),
                Decimal(0),
            )
            room = orig.total.amount - credited

            def credit(amount: Decimal, key: str, transaction_id: str) -> None:
                nonlocal room, by_refunds
                money = Money(amount, orig.currency)
                doc = self._issue(
                    conn, self._credit_draft(orig, money, transaction_id, reason), key
                )
                issued.append(doc)
                room -= amount
                by_refunds += amount
                keys.add(key)

            for refund_id, amount in refunds:
                key = f"refund:{refund_id}"
                if key in keys:
                    continue
                if amount.currency != orig.currency or amount.amount <= 0:
                    problems.append(f"refund {refund_id} of {amount} cannot credit {orig.total}")
                elif amount.amount > room:
                    problems.append(
                        f"refund {refund_id} of {amount} would credit more than "
                        f"{orig.number_text}'s total {orig.total}"
                    )
                else:
                    credit(amount.amount, key, refund_id)
            if refunded_total is not None:
                if refunded_total.currency != orig.currency:
                    problems.append(
                        f"the provider reports {refunded_total} refunded on a "
                        f"{orig.currency} invoice"
                    )
                else:
                    missing = refunded_total.amount - by_refunds
                    if missing > room:
                        problems.append(
                            f"the provider reports {refunded_total} refunded: more than "
                            f"{orig.number_text}'s total {orig.total} can credit"
                        )
                    missing = min(missing, room)
                    if missing > 0:
                        key = f"refund:{charge_id}:total:{refunded_total.minor_units}"
                        if key not in keys:
                            credit(missing, key, charge_id)
        return issued, problems

    def refund(
        self,
        actor: Actor,
        document_id: str,
        amount: Money | None = None,
        *,
        reason: str = "Remboursement / Refund",
        idempotency_key: str,
    ) -> Document:
        """Refund (part of) an invoice's charge through ``Payments.refund``
        and issue its credit note (381) linked to the invoice. Billing staff
        only. A retry with the same ``idempotency_key`` refunds once and
        returns the same credit note (also after a failure between the two)."""
        self._staff_only(actor)
        with self.store.read() as conn:
            doc = self._doc(conn, document_id)
        if doc.type is DocumentType.CREDIT_NOTE or doc.transaction_id is None:
            raise CorrectionRefused(f"{doc.number_text} has no charge of its own to refund")
        if not isinstance(idempotency_key, str) or not 1 <= len(idempotency_key) <= 200:
            raise InvalidRequest("idempotency_key is a 1-200 character string")
        tx = self.billing.payments.refund(
            doc.transaction_id,
            amount,
            reason=reason,
            idempotency_key=f"paygate-invoices:{doc.id}:{idempotency_key}",
        )
        if not tx.refunds:
            raise InvalidRequest(f"the refund of {doc.number_text} returned no refund")
        made = tx.refunds[-1]
        return self.credit_refund(actor, doc.id, made.amount, transaction_id=made.id, reason=reason)

    def _staff_only(self, actor: Actor) -> None:
        if not isinstance(actor, Actor) or not actor.staff:
            raise BillingPermissionDenied("only billing staff refund and credit invoices")

    def _credited(self, conn: Connection, document_id: str) -> Decimal:
        rows = conn.execute(
            select(documents.c.total_minor, documents.c.currency).where(
                and_(
                    documents.c.preceding_id == document_id,
                    documents.c.type_code == DocumentType.CREDIT_NOTE.value,
                )
            )
        ).all()
        return sum((Money.from_minor(r.total_minor, r.currency).amount for r in rows), Decimal(0))

    def _same_vat(self, draft: Document, orig: Document) -> Document:
        """A credit note takes the VAT treatment of the invoice it credits."""
        if not orig.vat:
            return draft
        v = orig.vat[0]
        factor = Decimal(100) + v.rate
        lines = tuple(
            replace(
                ln,
                net=_q(ln.net.amount * (Decimal(100) + ln.vat_rate) / factor, draft.currency),
                vat_category=v.category,
                vat_rate=v.rate,
            )
            for ln in draft.lines
        )
        net = Money(sum((ln.net.amount for ln in lines), Decimal(0)), draft.currency)
        tax = draft.total - net
        return replace(
            draft,
            lines=lines,
            net=net,
            tax=tax,
            vat=(replace(v, taxable=net, tax=tax),),
        )

    # -- verification ---------------------------------------------------------------------
    def verify(self) -> builtins.list[chainmod.Problem]:
        """Check every series: each file and its data against their hashes,
        numbers contiguous from 1, each link to the previous document, and
        the last number against the series' counter (a removed last document)."""
        with self.store.read() as conn:
            rows = conn.execute(select(documents)).all()
            counters = {
                r.series: int(r.next_value) - 1 for r in conn.execute(select(number_series)).all()
            }
        stored = [
            chainmod.StoredRow(
                id=r.id,
                series=r.series,
                number=int(r.number),
                issue_date=(
                    r.issue_date.isoformat()
                    if isinstance(r.issue_date, date)
                    else str(r.issue_date)
                ),
                data=r.data,
                pdf=bytes(r.pdf),
                pdf_sha256=r.pdf_sha256,
                data_sha256=r.data_sha256,
                prev_chain=r.prev_chain,
                chain=r.chain,
            )
            for r in rows
        ]
        problems = chainmod.verify(stored)
        last: dict[str, int] = {}
        for s in stored:
            last[s.series] = max(last.get(s.series, 0), s.number)
        for series, top in sorted(last.items()):
            counted = counters.get(series, 0)
            if counted > top:
                problems.append(
                    chainmod.Problem(
                        series,
                        counted,
                        "gap",
                        f"numbers {top + 1}..{counted} were taken but have no document",
                    )
                )
        return problems

    # -- delivery --------------------------------------------------------------------------
    def _queue(self, conn: Connection, document_id: str, kind: str, address: str) -> None:
        conn.execute(
            self.store._insert(deliveries).values(
                id=new_id("dlv"),
                document_id=document_id,
                kind=kind,
                address=address,
                status="pending",
                attempts=0,
                created_at=self.now,
            )
        )

    def deliveries(self, document_id: str) -> builtins.list[Delivery]:
        with self.store.read() as conn:
            rows = conn.execute(
                select(deliveries)
                .where(deliveries.c.document_id == document_id)
                .order_by(deliveries.c.created_at, deliveries.c.kind)
            ).all()
        return [
            Delivery(
                r.id,
                r.document_id,
                r.kind,
                r.address,
                r.status,
                r.attempts,
                r.last_error,
                _utc(r.sent_at),
            )
            for r in rows
        ]

    def deliver_due(self) -> int:
        """Send every queued delivery (new, failed before, or claimed by a
        sender that died); each is sent once. Returns how many were sent now."""
        now = self.now
        due = or_(
            deliveries.c.status == "pending",
            and_(deliveries.c.status == "failed", deliveries.c.claimed_at < now - RETRY_AFTER),
            and_(deliveries.c.status == "sending", deliveries.c.claimed_at < now - SEND_LEASE),
        )
        with self.store.read() as conn:
            rows = conn.execute(
                select(deliveries.c.id).where(due).order_by(deliveries.c.created_at)
            ).all()
        sent = 0
        for r in rows:
            with self.store.write() as conn:
                # Claim it: a concurrent sender that got here first sends it.
                claimed = conn.execute(
                    update(deliveries)
                    .where(and_(deliveries.c.id == r.id, due))
                    .values(status="sending", claimed_at=now)
                ).rowcount
                if not claimed:
                    continue
                row = conn.execute(select(deliveries).where(deliveries.c.id == r.id)).one()
                doc_row = conn.execute(
                    select(documents).where(documents.c.id == row.document_id)
                ).one()
            doc = self._row_doc(doc_row)
            error: str | None = None
            try:
                ok = self.billing.hook.paygate_billing_deliver(
                    document=doc, pdf=bytes(doc_row.pdf), address=row.address, kind=row.kind
                )
            except Exception as exc:  # a mail server down: retried at the next pass
                ok, error = False, f"{type(exc).__name__}: {exc}"[:500]
            with self.store.write() as conn:
                if ok is None:
                    # No deliverer is configured: the row waits as it was.
                    values: dict[str, Any] = {"status": "pending", "claimed_at": None}
                else:
                    values = {
                        "status": "sent" if ok else "failed",
                        "attempts": row.attempts + 1,
                        "last_error": error,
                        "sent_at": self.now if ok else None,
                    }
                conn.execute(update(deliveries).where(deliveries.c.id == r.id).values(**values))
            if ok is None:
                break
            sent += bool(ok)
        return sent

    # -- corrections ---------------------------------------------------------------------
    def _request(self, row: Any) -> CorrectionRequest:
        return CorrectionRequest(
            id=row.id,
            document_id=row.document_id,
            account_id=row.account_id,
            requested_by=row.requested_by,
            reason=row.reason,
            changes=json.loads(row.changes),
            disable_old_receiver=bool(row.disable_old_receiver),
            status=row.status,
            decided_by=row.decided_by,
            decided_at=_utc(row.decided_at),
            decision_reason=row.decision_reason,
            result_ids=tuple(json.loads(row.result_ids or "[]")),
            created_at=_utc(row.created_at) or self.now,
        )

    def request_correction(
        self,
        actor: Actor,
        document_id: str,
        *,
        reason: str,
        disable_old_receiver: bool = False,
        **changes: Any,
    ) -> CorrectionRequest:
        """File a correction request (the seed's "Invoice Correction Request").

        ``changes`` are the new receiver details (``legal_name``, ``address``,
        ``country``, ``vat_id``, ``siren``, ``email``, ``locale``); the request
        stays ``pending`` until billing staff accept or reject it."""
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidRequest("a correction request gives a reason", param="reason")
        with self.store.write() as conn:
            doc = self._doc(conn, document_id)
            self._account(conn, actor, doc.account_id, Action.PAY)
            if actor.staff:
                raise BillingPermissionDenied("the account's owner files correction requests")
            if doc.type is DocumentType.CREDIT_NOTE:
                raise CorrectionRefused(
                    f"{doc.number_text} is a credit note: ask for a correction of its invoice"
                )
            if self._amended(conn, [doc.id]).get(doc.id):
                raise CorrectionRefused(
                    f"{doc.number_text} was already cancelled or replaced: "
                    "correct the newest document"
                )
            merged = {
                k: getattr(doc.buyer, k)
                for k in ("legal_name", "address", "country", "vat_id", "siren", "email")
            }
            merged["locale"] = doc.locale
            merged.update(changes)
            clean = self._validated(merged)
            current = {
                k: getattr(doc.buyer, k)
                for k in ("legal_name", "address", "country", "vat_id", "siren", "email")
            }
            current["locale"] = doc.locale
            if clean == current:
                raise CorrectionRefused("the correction changes nothing on the document")
            rid = new_id("corr")
            try:
                with conn.begin_nested():
                    conn.execute(
                        insert(corrections).values(
                            id=rid,
                            document_id=doc.id,
                            account_id=doc.account_id,
                            open_document_id=doc.id,
                            requested_by=actor.ref,
                            reason=reason.strip(),
                            changes=json.dumps(clean, sort_keys=True),
                            disable_old_receiver=bool(disable_old_receiver),
                            status=PENDING,
                            created_at=self.now,
                        )
                    )
            except IntegrityError:
                raise CorrectionRefused(
                    f"{doc.number_text} already has an open correction request"
                ) from None
            row = conn.execute(select(corrections).where(corrections.c.id == rid)).one()
            return self._request(row)

    def pending_corrections(self, actor: Actor) -> builtins.list[CorrectionRequest]:
        """Open requests, oldest first (billing staff)."""
        self._staff(actor)
        with self.store.read() as conn:
            rows = conn.execute(
                select(corrections)
                .where(corrections.c.status == PENDING)
                .order_by(corrections.c.created_at)
            ).all()
        return [self._request(r) for r in rows]

    def corrections(self, actor: Actor, account: str) -> builtins.list[CorrectionRequest]:
        """The account's requests and their outcome (owner)."""
        with self.store.read() as conn:
            self._account(conn, actor, account, Action.VIEW)
            rows = conn.execute(
                select(corrections)
                .where(corrections.c.account_id == account)
                .order_by(corrections.c.created_at)
            ).all()
        return [self._request(r) for r in rows]

    def _staff(self, actor: Actor) -> None:
        if not isinstance(actor, Actor) or not actor.staff:
            raise BillingPermissionDenied("only billing staff decide correction requests")

    def _open(self, conn: Connection, request_id: str) -> CorrectionRequest:
        row = conn.execute(select(corrections).where(corrections.c.id == request_id)).first()
        if row is None:
            raise DocumentNotFound(f"no correction request {request_id}")
        req = self._request(row)
        if req.status != PENDING:
            raise CorrectionRefused(f"request {request_id} is already {req.status}")
        return req

    def reject_correction(self, actor: Actor, request_id: str, *, reason: str) -> CorrectionRequest:
        self._staff(actor)
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidRequest("a rejection gives a reason", param="reason")
        with self.store.write() as conn:
            self._open(conn, request_id)
            conn.execute(
                update(corrections)
                .where(corrections.c.id == request_id)
                .values(
                    status=REJECTED,
                    open_document_id=None,
                    decided_by=actor.ref,
                    decided_at=self.now,
                    decision_reason=reason.strip(),
                )
            )
            return self._request(
                conn.execute(select(corrections).where(corrections.c.id == request_id)).one()
            )

    def accept_correction(
        self, actor: Actor, request_id: str, *, reason: str = ""
    ) -> CorrectionRequest:
        """Issue the corrective document(s) and link them to the original:
        a 384 "cancels and replaces" when only the receiver changes, or a 381
        crediting the original plus a new 380 when the amounts change (a new
        VAT treatment). With ``disable_old_receiver`` the new details become
        the account's profile for future invoices. The owner is notified."""
        self._staff(actor)
        with self.store.write() as conn:
            req = self._open(conn, request_id)
            orig = self._doc(conn, req.document_id)
            prof_fields = dict(req.changes)
            prof = self._insert_profile(conn, orig.account_id, prof_fields, actor.ref, active=False)
            if req.disable_old_receiver:
                self._activate(conn, orig.account_id, prof.id)
            buyer = prof.party()
            gross = [
                (
                    ln.description,
                    ln.quantity,
                    _q(ln.net.amount * (Decimal(100) + ln.vat_rate) / 100, orig.currency),
                    ln.period_start,
                    ln.period_end,
                )
                for ln in orig.lines
            ]
            # The original gross per line is net x (1 + rate); the residue of
            # rounding goes to the last line so the total is exactly the original's.
            diff = orig.total.amount - sum((g[2].amount for g in gross), Decimal(0))
            if gross and diff:
                d, q, amt, s, e = gross[-1]
                gross[-1] = (d, q, Money(amt.amount + diff, orig.currency), s, e)
            common: dict[str, Any] = {
                "account_id": orig.account_id,
                "invoice_id": None,
                "currency": orig.currency,
                "supply": (orig.supply_start, orig.supply_end),
                "paid_on": orig.paid_on,
                "transaction_id": orig.transaction_id,
            }
            corrected = self._build(
                type_=DocumentType.CORRECTED_INVOICE,
                buyer=buyer,
                buyer_profile_id=prof.id,
                locale=prof.locale,
                gross_lines=gross,
                preceding=orig,
                **common,
            )
            results: list[Document] = []
            if corrected.vat == orig.vat and corrected.net == orig.net:
                results.append(self._issue(conn, corrected, f"corr:{req.id}:384"))
            else:
                credit = self._build(
                    type_=DocumentType.CREDIT_NOTE,
                    buyer=orig.buyer,
                    buyer_profile_id=orig.buyer_profile_id,
                    locale=orig.locale,
                    gross_lines=[(f"{ln[0]}", ln[1], ln[2], ln[3], ln[4]) for ln in gross],
                    preceding=orig,
                    **common,
                )
                credit = self._same_vat(credit, orig)
                results.append(self._issue(conn, credit, f"corr:{req.id}:381"))
                fresh = replace(
                    corrected,
                    type=DocumentType.INVOICE,
                    preceding_id=orig.id,
                    preceding_number=None,
                    preceding_date=None,
                )
                results.append(self._issue(conn, fresh, f"corr:{req.id}:380"))
            conn.execute(
                update(corrections)
                .where(corrections.c.id == request_id)
                .values(
                    status=ACCEPTED,
                    open_document_id=None,
                    decided_by=actor.ref,
                    decided_at=self.now,
                    decision_reason=reason or None,
                    result_ids=json.dumps([d.id for d in results]),
                )
            )
            notify = buyer.email or orig.buyer.email
            if notify:
                self._queue(conn, results[-1].id, "correction_accepted", notify)
            row = conn.execute(select(corrections).where(corrections.c.id == request_id)).one()
            out = self._request(row)
        self.deliver_due()
        return out


__all__ = ["ACCEPTED", "PENDING", "REJECTED", "Invoices"]

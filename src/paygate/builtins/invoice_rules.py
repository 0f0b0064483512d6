"""Built-in plugin ``invoice_rules``: the default document series, VAT
treatment and legal mentions (EU and French packs). Each hook answers last
(``trylast``), so a host plugin answering first wins.

Series: ``F-{year}`` for invoices and corrected invoices, ``AV-{year}`` for
credit notes, prefixed ``TEST-`` when paygate runs in test mode (the
config's ``test_mode``, on by default).
"""

from __future__ import annotations

from decimal import Decimal

from babel.dates import format_date

from paygate._markers import hookimpl
from paygate.billing.documents.models import (
    Document,
    DocumentType,
    Mention,
    MentionProblem,
    VatContext,
    VatTreatment,
)
from paygate.billing.documents.packs import is_eu, pack, standard_rates

#: Operations of 150 EUR excl. VAT or less may omit the seller's VAT number
#: in France (CGI ann. II art. 242 nonies A, I-2°); paygate always requires it.


def _date(d: object, locale: str) -> str:
    return format_date(d, format="long", locale=locale)  # type: ignore[arg-type]


class InvoiceRules:
    @hookimpl(trylast=True)
    def paygate_billing_document_series(self, document: Document) -> str:
        prefix = "AV" if document.type is DocumentType.CREDIT_NOTE else "F"
        series = f"{prefix}-{document.issue_date.year}"
        return f"TEST-{series}" if document.test_mode else series

    @hookimpl(trylast=True)
    def paygate_billing_vat(self, context: VatContext) -> VatTreatment:
        seller, buyer = context.seller, context.buyer
        rates = standard_rates()
        if buyer.country == seller.country:
            return VatTreatment("S", rates.get(seller.country, Decimal(0)))
        if is_eu(buyer.country):
            if buyer.vat_id:
                return VatTreatment(
                    "AE",
                    Decimal(0),
                    exemption_reason=pack("eu")["reverse_charge"].text["en"],
                    exemption_code="VATEX-EU-AE",
                )
            # A consumer in another Member State: electronically supplied
            # services are taxed where the consumer is (OSS).
            return VatTreatment("S", rates[buyer.country])
        return VatTreatment(
            "G",
            Decimal(0),
            exemption_reason=pack("eu")["export"].text["en"],
            exemption_code="VATEX-EU-G",
        )

    @hookimpl(trylast=True)
    def paygate_billing_mentions(self, document: Document) -> list[Mention | MentionProblem]:
        out: list[Mention | MentionProblem] = []
        loc = document.locale
        seller, buyer = document.seller, document.buyer
        # EU, Directive 2006/112/EC art. 226: details every invoice carries.
        for code, value in (
            ("seller.legal_name", seller.legal_name),
            ("seller.address", seller.address),
            ("seller.vat_id", seller.vat_id),
            ("buyer.legal_name", buyer.legal_name),
            ("buyer.address", buyer.address),
        ):
            if not value or not str(value).strip():
                out.append(MentionProblem(code, f"art. 226 requires {code}"))
        if not document.lines:
            out.append(MentionProblem("lines", "art. 226 (6): the nature of the services"))
        eu = pack("eu")
        categories = {v.category for v in document.vat}
        if "AE" in categories:
            if not buyer.vat_id:
                out.append(MentionProblem("buyer.vat_id", "art. 226 (4): reverse charge needs it"))
            m = eu["reverse_charge"]
            out.append(Mention(m.code, m.render(loc), m.basis))
        if "G" in categories:
            m = eu["export"]
            out.append(Mention(m.code, m.render(loc), m.basis))
        if document.preceding_number and document.preceding_date:
            m = eu["credits"] if document.type is DocumentType.CREDIT_NOTE else eu["corrects"]
            out.append(
                Mention(
                    m.code,
                    m.render(
                        loc,
                        number=document.preceding_number,
                        date=_date(document.preceding_date, loc),
                    ),
                    m.basis,
                )
            )
        elif document.type is not DocumentType.INVOICE:
            out.append(
                MentionProblem("preceding", "art. 219: an amending document names the invoice")
            )
        if seller.country == "FR":
            out.extend(self._france(document))
        return out

    def _france(self, document: Document) -> list[Mention | MentionProblem]:
        fr = pack("fr")
        loc = document.locale
        seller, buyer = document.seller, document.buyer
        out: list[Mention | MentionProblem] = []
        # CGI ann. II art. 242 nonies A and C. com. R123-237: who the seller is.
        if not seller.siren:
            out.append(MentionProblem("seller.siren", "CGI ann. II art. 242 nonies A: SIREN"))
        for code, value in (
            ("seller.legal_form", seller.legal_form),
            ("seller.share_capital", seller.share_capital),
            ("seller.rcs", seller.rcs),
        ):
            if not value:
                out.append(MentionProblem(code, f"C. com. R123-237 requires {code}"))
        if buyer.country == "FR" and buyer.is_business and not buyer.siren:
            out.append(
                MentionProblem("buyer.siren", "CGI ann. II art. 242 nonies A: the buyer's SIREN")
            )
        keys = ["late_penalties", "no_discount", "nature"]
        if buyer.is_business:
            keys.insert(1, "recovery_indemnity")  # the 40 EUR, B2B only (D441-5)
        for key in keys:
            m = fr[key]
            if m.applies_on(document.issue_date):
                out.append(Mention(m.code, m.render(loc), m.basis))
        if document.paid_on is not None:
            m = fr["paid"]
            out.append(Mention(m.code, m.render(loc, date=_date(document.paid_on, loc)), m.basis))
        return out

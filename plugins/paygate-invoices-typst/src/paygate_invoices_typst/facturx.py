"""The Factur-X (EN 16931) CII XML of a document, built with drafthorse
(which validates it against the XSD on serialize)."""

from __future__ import annotations

from decimal import Decimal

from drafthorse.models.accounting import ApplicableTradeTax  # type: ignore[import-untyped]
from drafthorse.models.document import Document as CII  # type: ignore[import-untyped]
from drafthorse.models.note import IncludedNote  # type: ignore[import-untyped]
from drafthorse.models.party import TaxRegistration  # type: ignore[import-untyped]
from drafthorse.models.tradelines import LineItem  # type: ignore[import-untyped]

from paygate.billing.documents import Document, DocumentType


def _addr(party_address: object, text: str, country: str) -> None:
    lines = [x.strip() for x in text.splitlines() if x.strip()] or [text]
    party_address.line_one = lines[0]  # type: ignore[attr-defined]
    if len(lines) > 1:
        party_address.line_two = lines[1]  # type: ignore[attr-defined]
    party_address.country_id = country  # type: ignore[attr-defined]


def build_xml(doc: Document) -> bytes:
    cii = CII()
    cii.context.guideline_parameter.id = "urn:cen.eu:en16931:2017"
    cii.header.id = doc.number_text
    cii.header.type_code = doc.type.value
    cii.header.issue_date_time = doc.issue_date
    for m in doc.mentions:
        note = IncludedNote()
        note.content = m.text
        cii.header.notes.add(note)

    agreement = cii.trade.agreement
    agreement.seller.name = doc.seller.legal_name
    _addr(agreement.seller.address, doc.seller.address, doc.seller.country)
    if doc.seller.siren:
        agreement.seller.legal_organization.id = ("0002", doc.seller.siren)
    if doc.seller.vat_id:
        agreement.seller.tax_registrations.add(TaxRegistration(id=("VA", doc.seller.vat_id)))
    agreement.buyer.name = doc.buyer.legal_name
    _addr(agreement.buyer.address, doc.buyer.address, doc.buyer.country)
    if doc.buyer.siren:
        agreement.buyer.legal_organization.id = ("0002", doc.buyer.siren)
    if doc.buyer.vat_id:
        agreement.buyer.tax_registrations.add(TaxRegistration(id=("VA", doc.buyer.vat_id)))

    delivery = cii.trade.delivery
    delivery.event.occurrence = doc.supply_start or doc.issue_date

    settlement = cii.trade.settlement
    settlement.currency_code = doc.currency
    if doc.preceding_number and doc.preceding_date is not None:
        # BG-3: the invoice a credit note or a corrected invoice refers to.
        settlement.invoice_referenced_document.issuer_assigned_id = doc.preceding_number
        settlement.invoice_referenced_document.issue_date_time = doc.preceding_date
    if doc.supply_start and doc.supply_end:
        settlement.period.start = doc.supply_start
        settlement.period.end = doc.supply_end

    for ln in doc.lines:
        li = LineItem()
        li.document.line_id = str(ln.position)
        li.product.name = ln.description
        li.agreement.net.amount = (ln.net.amount / ln.quantity).quantize(Decimal("0.0001"))
        li.delivery.billed_quantity = (Decimal(ln.quantity), "C62")
        li.settlement.trade_tax.type_code = "VAT"
        li.settlement.trade_tax.category_code = ln.vat_category
        li.settlement.trade_tax.rate_applicable_percent = ln.vat_rate
        li.settlement.monetary_summation.total_amount = ln.net.amount
        cii.trade.items.add(li)

    for v in doc.vat:
        tax = ApplicableTradeTax()
        tax.calculated_amount = v.tax.amount
        tax.basis_amount = v.taxable.amount
        tax.type_code = "VAT"
        tax.category_code = v.category
        tax.rate_applicable_percent = v.rate
        if v.exemption_reason:
            tax.exemption_reason = v.exemption_reason
        if v.exemption_code:
            tax.exemption_reason_code = v.exemption_code
        settlement.trade_tax.add(tax)

    if doc.type is not DocumentType.CREDIT_NOTE and doc.paid_on is not None:
        paid = doc.total.amount
    else:
        paid = Decimal(0)
    summ = settlement.monetary_summation
    summ.line_total = doc.net.amount
    summ.charge_total = Decimal("0.00")
    summ.allowance_total = Decimal("0.00")
    summ.tax_basis_total = doc.net.amount
    summ.tax_total = (doc.tax.amount, doc.currency)
    summ.grand_total = doc.total.amount
    summ.prepaid_total = paid
    summ.due_amount = doc.total.amount - paid
    return bytes(cii.serialize(schema="FACTUR-X_EN16931"))


__all__ = ["build_xml"]

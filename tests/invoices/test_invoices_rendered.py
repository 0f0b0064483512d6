"""End to end with the real Typst renderer: the PDF a business customer
downloads holds every mandatory detail (read back with pypdf, as a person
would read it) and its Factur-X XML is XSD-valid EN 16931."""

from __future__ import annotations

from facturx import get_level, get_xml_from_pdf
from invoices_helpers import OWNER, STAFF, customer, pdf_text
from lxml import etree

from paygate.billing import Billing

BUSINESS = {
    "legal_name": "Café-Théâtre SARL",
    "address": "5 rue Mercière\n69002 Lyon",
    "country": "FR",
    "vat_id": "FR40303265045",
    "siren": "303265045",
    "email": "compta@example.fr",
}


def _clean(text: str) -> str:
    return text.replace("\xa0", " ").replace("\u202f", " ")


def test_a_business_invoice_carries_every_mandatory_mention(typst_billing: Billing) -> None:
    billing = typst_billing
    acct = customer(billing, BUSINESS)
    billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="k1")
    [doc] = billing.invoices.list(OWNER, acct)
    pdf = billing.invoices.pdf(OWNER, doc.id)
    text = _clean(pdf_text(pdf))
    required = {
        "art. 226 (1) date of issue": "31 janvier 2027",
        "art. 226 (2) sequential number": "TEST-F-2027-000001",
        "art. 226 (3) seller VAT number": "FR40303265045",
        "art. 226 (5) seller name": "Webinaires Exemple SAS",
        "art. 226 (5) seller address": "75002 Paris",
        "art. 226 (5) buyer name": "Café-Théâtre SARL",
        "art. 226 (5) buyer address": "69002 Lyon",
        "art. 226 (6) nature of the service": "Webinar",
        "art. 226 (7) period of supply": "28 février 2027",
        "art. 226 (8) taxable amount": "Total HT",
        "art. 226 (9) VAT rate": "20 %",
        "art. 226 (10) VAT payable": "Total TVA",
        "CGI 242 nonies A seller SIREN": "SIREN 303265045",
        "R123-237 legal form and capital": "SAS, au capital de 50 000 €",
        "R123-237 RCS": "RCS Paris",
        "L441-9 late penalties": "Pénalités de retard",
        "L441-9 recovery indemnity (B2B)": "40 €",
        "L441-9 discount terms": "escompte",
        "L441-9 payment date": "acquittée le 31 janvier 2027",
        "2026 reform nature of the operation": "prestation de services",
        "total incl. VAT": "28,00 €",
    }
    missing = {name: phrase for name, phrase in required.items() if phrase not in text}
    assert not missing, missing
    name, xml = get_xml_from_pdf(pdf, check_xsd=True)
    assert name == "factur-x.xml" and get_level(etree.fromstring(xml)) == "en16931"
    # The file downloaded is the file whose hash is chained.
    assert billing.invoices.verify() == []


def test_the_seed_correction_as_rendered(typst_billing: Billing) -> None:
    billing = typst_billing
    acct = customer(billing, BUSINESS)
    billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="k1")
    [orig] = billing.invoices.list(OWNER, acct)
    req = billing.invoices.request_correction(
        OWNER,
        orig.id,
        reason="nouvelle raison sociale",
        disable_old_receiver=True,
        legal_name="Association Café-Théâtre",
    )
    billing.invoices.accept_correction(STAFF, req.id)
    [_, fixed] = billing.invoices.list(OWNER, acct)
    text = _clean(pdf_text(billing.invoices.pdf(OWNER, fixed.id)))
    assert "Facture rectificative" in text
    assert "Annule et remplace la facture n° TEST-F-2027-000001 du 31 janvier 2027" in text
    assert "Association Café-Théâtre" in text

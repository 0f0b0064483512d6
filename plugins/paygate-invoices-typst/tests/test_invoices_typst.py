"""The Typst renderer: PDF/A-3b with the Factur-X XML read back by an
independent library (factur-x, XSD check on) for an invoice, a credit note and
a corrected invoice with its preceding reference; text as a person reads it;
a host's own template; determinism of the typeset file."""

from __future__ import annotations

import io
import shutil
import subprocess
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pypdf
import pytest
from facturx import get_level, get_xml_from_pdf
from lxml import etree
from paygate_invoices_typst.plugin import TypstRenderer

from paygate.billing.documents import (
    Document,
    DocumentLine,
    DocumentType,
    Mention,
    Party,
    VatBreakdown,
)
from paygate.config import Config
from paygate.money import Money

NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
}
SELLER = Party(
    legal_name="Webinaires Exemple SAS",
    address="12 rue de la Paix\n75002 Paris",
    country="FR",
    vat_id="FR40303265045",
    siren="303265045",
    legal_form="SAS",
    share_capital="50 000 €",
    rcs="RCS Paris",
)
BUYER = Party(
    legal_name="Café-Théâtre SARL",
    address="5 rue Mercière\n69002 Lyon",
    country="FR",
    vat_id="FR40303265045",
    siren="303265045",
)


def invoice(**kw: object) -> Document:
    eur = "EUR"
    base = Document(
        id="doc_1",
        account_id="acct_1",
        invoice_id="inv_1",
        type=DocumentType.INVOICE,
        series="F-2027",
        number=1,
        number_text="F-2027-000001",
        issue_date=date(2027, 1, 31),
        currency=eur,
        seller=SELLER,
        buyer=BUYER,
        lines=(
            DocumentLine(
                1,
                "Webinar — 25 participants, janvier",
                1,
                Money("23.33", eur),
                "S",
                Decimal(20),
                date(2027, 1, 31),
                date(2027, 2, 28),
            ),
        ),
        vat=(VatBreakdown("S", Decimal(20), Money("23.33", eur), Money("4.67", eur)),),
        net=Money("23.33", eur),
        tax=Money("4.67", eur),
        total=Money("28.00", eur),
        mentions=(
            Mention(
                "fr.recovery_indemnity", "Indemnité forfaitaire pour frais de recouvrement : 40 €"
            ),
        ),
        locale="fr",
        test_mode=False,
        supply_start=date(2027, 1, 31),
        supply_end=date(2027, 2, 28),
        paid_on=date(2027, 1, 31),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def corrected() -> Document:
    return invoice(
        id="doc_2",
        type=DocumentType.CORRECTED_INVOICE,
        number=2,
        number_text="F-2027-000002",
        issue_date=date(2027, 2, 3),
        buyer=replace(BUYER, legal_name="Association Café-Théâtre"),
        preceding_id="doc_1",
        preceding_number="F-2027-000001",
        preceding_date=date(2027, 1, 31),
    )


def credit() -> Document:
    return invoice(
        id="doc_3",
        type=DocumentType.CREDIT_NOTE,
        series="AV-2027",
        number=1,
        number_text="AV-2027-000001",
        issue_date=date(2027, 2, 3),
        preceding_id="doc_1",
        preceding_number="F-2027-000001",
        preceding_date=date(2027, 1, 31),
        paid_on=None,
    )


def _xml(pdf: bytes) -> etree._Element:
    name, xml = get_xml_from_pdf(pdf, check_xsd=True)
    assert name == "factur-x.xml"
    root = etree.fromstring(xml)
    assert get_level(root) == "en16931"
    return root


def _text(pdf: bytes) -> str:
    text = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    return text.replace("\xa0", " ").replace("\u202f", " ")  # Babel's no-break spaces


def test_an_invoice_is_pdfa3_with_factur_x() -> None:
    pdf = TypstRenderer().paygate_billing_render(document=invoice())
    root = _xml(pdf)
    assert root.findtext(".//rsm:ExchangedDocument/ram:ID", namespaces=NS) == "F-2027-000001"
    assert root.findtext(".//rsm:ExchangedDocument/ram:TypeCode", namespaces=NS) == "380"
    assert root.findtext(".//ram:GrandTotalAmount", namespaces=NS) == "28.00"
    assert root.findtext(".//ram:TaxTotalAmount", namespaces=NS) == "4.67"
    meta = pypdf.PdfReader(io.BytesIO(pdf)).xmp_metadata
    assert meta is not None
    raw = meta.stream.get_data().decode("utf-8")
    assert "<pdfaid:part>3</pdfaid:part>" in raw  # PDF/A-3
    assert "<pdfaid:conformance>B</pdfaid:conformance>" in raw
    assert "<fx:ConformanceLevel>EN 16931</fx:ConformanceLevel>" in raw


@pytest.mark.parametrize("make", [corrected, credit])
def test_an_amending_document_names_the_invoice_it_amends(make: object) -> None:
    doc = make()  # type: ignore[operator]
    root = _xml(TypstRenderer().paygate_billing_render(document=doc))
    assert root.findtext(".//rsm:ExchangedDocument/ram:TypeCode", namespaces=NS) == doc.type.value
    ref = root.find(".//ram:InvoiceReferencedDocument", namespaces=NS)
    assert ref is not None
    assert ref.findtext("ram:IssuerAssignedID", namespaces=NS) == "F-2027-000001"
    assert ref.findtext(".//qdt:DateTimeString", namespaces=NS) == "20270131"


def test_the_text_reads_as_a_person_reads_it() -> None:
    text = _text(TypstRenderer().paygate_billing_render(document=corrected()))
    for expected in (
        "Facture rectificative",
        "F-2027-000002",
        "Facture d'origine",
        "F-2027-000001",
        "Association Café-Théâtre",
        "Webinaires Exemple SAS",
        "SIREN 303265045",
        "FR40303265045",
        "28,00 €",
        "4,67 €",
        "23,33 €",
        "20 %",
        "40 €",
        "3 février 2027",
    ):
        assert expected in text, expected


def test_english_labels_and_amounts() -> None:
    text = _text(TypstRenderer().paygate_billing_render(document=invoice(locale="en")))
    assert "Invoice" in text and "€28.00" in text and "January 31, 2027" in text


def test_the_typeset_file_is_deterministic() -> None:
    r = TypstRenderer()
    assert r.pdf_a3(invoice()) == r.pdf_a3(invoice())
    assert r.pdf_a3(invoice()) != r.pdf_a3(corrected())


def test_a_host_template_and_colour(tmp_path: Path) -> None:
    tpl = tmp_path / "mine.typ"
    tpl.write_text(
        '#let d = json(bytes(sys.inputs.data))\n#set text(font: "Libertinus Serif")\n'
        "Maison Exemple — #d.number — #d.total\n",
        encoding="utf-8",
    )
    r = TypstRenderer()
    r.paygate_configure(
        config=Config({"invoices_typst": {"template": str(tpl), "accent": "#aa0000"}})
    )
    text = _text(r.paygate_billing_render(document=invoice()))
    assert "Maison Exemple — F-2027-000001 — 28,00 €" in text


def test_a_page_renders_to_png_with_pdftoppm(tmp_path: Path) -> None:
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    pdf = tmp_path / "inv.pdf"
    pdf.write_bytes(TypstRenderer().paygate_billing_render(document=invoice()))
    subprocess.run(
        ["pdftoppm", "-png", "-r", "50", str(pdf), str(tmp_path / "p")], check=True, timeout=60
    )
    [png] = list(tmp_path.glob("p*.png"))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_font_is_embedded() -> None:
    # PDF/A needs every glyph's font inside the file: the EUR sign and the
    # accents then print the same everywhere.
    reader = pypdf.PdfReader(io.BytesIO(TypstRenderer().paygate_billing_render(document=invoice())))
    fonts = 0
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descendants = font.get("/DescendantFonts")
            target = descendants[0].get_object() if descendants else font
            descriptor = target["/FontDescriptor"].get_object()
            assert {"/FontFile", "/FontFile2", "/FontFile3"} & set(descriptor), font["/BaseFont"]
            fonts += 1
    assert fonts >= 1

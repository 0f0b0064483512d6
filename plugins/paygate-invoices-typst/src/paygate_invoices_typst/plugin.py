"""The ``paygate_billing_render`` implementation: Typst PDF/A-3b plus the
embedded Factur-X XML.

Settings (``[invoices_typst]``): ``template`` (a host's own ``.typ`` file,
read once), ``accent`` (a ``#rrggbb`` colour).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import typst
from babel.dates import format_date
from babel.numbers import format_currency, format_decimal
from drafthorse.pdf import attach_xml  # type: ignore[import-untyped]

from paygate import hookimpl
from paygate.billing.documents import Document, DocumentType
from paygate.config import Config
from paygate.errors import ConfigurationError
from paygate_invoices_typst.facturx import build_xml

LABELS: dict[str, dict[str, str]] = {
    "fr": {
        "380": "Facture",
        "381": "Avoir",
        "384": "Facture rectificative",
        "number": "N°",
        "issue_date": "Date d'émission",
        "supply": "Période",
        "preceding": "Facture d'origine",
        "bill_to": "Facturé à",
        "description": "Désignation",
        "quantity": "Qté",
        "unit_price": "PU HT",
        "vat_rate": "TVA",
        "net": "Montant HT",
        "taxable": "Base HT",
        "vat": "TVA",
        "total_net": "Total HT",
        "total_vat": "Total TVA",
        "total": "Total TTC",
        "vat_id": "N° TVA",
        "siren": "SIREN",
        "capital": "au capital de",
        "test": "DOCUMENT DE TEST, sans valeur fiscale",
    },
    "en": {
        "380": "Invoice",
        "381": "Credit note",
        "384": "Corrected invoice",
        "number": "No.",
        "issue_date": "Date of issue",
        "supply": "Period",
        "preceding": "Original invoice",
        "bill_to": "Bill to",
        "description": "Description",
        "quantity": "Qty",
        "unit_price": "Unit price",
        "vat_rate": "VAT",
        "net": "Net amount",
        "taxable": "Taxable",
        "vat": "VAT",
        "total_net": "Total excl. VAT",
        "total_vat": "Total VAT",
        "total": "Total incl. VAT",
        "vat_id": "VAT No.",
        "siren": "SIREN",
        "capital": "share capital",
        "test": "TEST DOCUMENT, not a tax invoice",
    },
}
_KEYS = frozenset({"template", "accent"})
#: Typst's own embedded fonts only: the same bytes on every machine.
_FONTS = typst.Fonts(include_system_fonts=False, include_embedded_fonts=True)


def _template() -> bytes:
    return (resources.files("paygate_invoices_typst") / "invoice.typ").read_bytes()


class TypstRenderer:
    def __init__(self) -> None:
        self.template = _template()
        self.accent = "#1f4e79"

    @hookimpl
    def paygate_configure(self, config: Config) -> None:
        section = config.section("invoices_typst")
        unknown = sorted(set(section) - _KEYS)
        if unknown:
            raise ConfigurationError(f"[invoices_typst] has unknown keys {unknown}")
        if "template" in section:
            try:
                self.template = Path(section["template"]).read_bytes()
            except OSError as exc:
                raise ConfigurationError(f"[invoices_typst] template: {exc}") from None
        if "accent" in section:
            accent = str(section["accent"])
            if len(accent) != 7 or accent[0] != "#":
                raise ConfigurationError("[invoices_typst] accent is a #rrggbb colour")
            self.accent = accent

    def data(self, doc: Document) -> dict[str, Any]:
        """What the template prints, formatted for the document's locale."""
        loc = doc.locale if doc.locale in LABELS else "en"
        labels = LABELS[loc]

        def money(m: Any) -> str:
            return str(format_currency(m.amount, m.currency, locale=loc))

        def day(d: Any) -> str:
            return str(format_date(d, format="long", locale=loc))

        def ids(p: Any) -> list[str]:
            out = []
            if p.legal_form:
                cap = f", {labels['capital']} {p.share_capital}" if p.share_capital else ""
                out.append(f"{p.legal_form}{cap}")
            if p.siren:
                out.append(f"{labels['siren']} {p.siren}" + (f" — {p.rcs}" if p.rcs else ""))
            if p.vat_id:
                out.append(f"{labels['vat_id']} {p.vat_id}")
            if p.email:
                out.append(p.email)
            return out

        def party(p: Any) -> dict[str, Any]:
            return {
                "legal_name": p.legal_name,
                "address_lines": [x for x in p.address.splitlines() if x.strip()],
                "ids": ids(p),
            }

        title = labels[doc.type.value]
        preceding = None
        if doc.preceding_number and doc.preceding_date:
            preceding = f"{doc.preceding_number} ({day(doc.preceding_date)})"
        supply = None
        if doc.supply_start and doc.supply_end:
            supply = f"{day(doc.supply_start)} – {day(doc.supply_end)}"
        return {
            "lang": loc,
            "accent": self.accent,
            "title": title,
            "labels": labels,
            "number": doc.number_text,
            "issue_date": day(doc.issue_date),
            "supply": supply,
            "preceding": preceding,
            "seller": party(doc.seller),
            "buyer": party(doc.buyer),
            "lines": [
                {
                    "description": ln.description,
                    "quantity": str(ln.quantity),
                    "unit": money(ln.net.multiply(Decimal(1) / ln.quantity))
                    if ln.quantity > 1
                    else money(ln.net),
                    "rate": f"{format_decimal(ln.vat_rate, locale=loc)} %",
                    "net": money(ln.net),
                }
                for ln in doc.lines
            ],
            "vat": [
                {
                    "label": f"{v.category} {format_decimal(v.rate, locale=loc)} %",
                    "taxable": money(v.taxable),
                    "tax": money(v.tax),
                }
                for v in doc.vat
            ],
            "net": money(doc.net),
            "tax": money(doc.tax),
            "total": money(doc.total),
            "mentions": [m.text for m in doc.mentions],
            "footer": (labels["test"] + " — " if doc.test_mode else "")
            + f"{doc.seller.legal_name} — {doc.number_text}",
        }

    def pdf_a3(self, doc: Document, fmt: str = "pdf") -> bytes:
        """The typeset file alone (PDF/A-3b, or ``png`` of page 1 for a preview)."""
        when = datetime(doc.issue_date.year, doc.issue_date.month, doc.issue_date.day, tzinfo=UTC)
        out = typst.Compiler(font_paths=_FONTS).compile(
            input=self.template,
            format=fmt,  # type: ignore[arg-type]
            sys_inputs={"data": json.dumps(self.data(doc), ensure_ascii=False)},
            pdf_standards=["a-3b"] if fmt == "pdf" else [],
            timestamp=when,
        )
        if isinstance(out, list):
            out = out[0]
        assert isinstance(out, bytes)
        return out

    @hookimpl
    def paygate_billing_render(self, document: Document) -> bytes:
        pdf = self.pdf_a3(document)
        xml = build_xml(document)
        level = "EN 16931"
        return bytes(attach_xml(pdf, xml, level=level))


__all__ = ["LABELS", "DocumentType", "TypstRenderer"]

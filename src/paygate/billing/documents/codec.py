"""Documents to and from their stored canonical data (JSON)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from paygate.billing.documents.models import (
    Document,
    DocumentLine,
    DocumentType,
    Mention,
    Party,
    VatBreakdown,
)
from paygate.money import Money


def _d(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _pd(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def to_data(doc: Document) -> dict[str, Any]:
    """Everything printed on the document: the hash covers exactly this."""
    return {
        "type": doc.type.value,
        "series": doc.series,
        "number": doc.number,
        "number_text": doc.number_text,
        "issue_date": _d(doc.issue_date),
        "currency": doc.currency,
        "seller": doc.seller.as_dict(),
        "buyer": doc.buyer.as_dict(),
        "lines": [
            {
                "position": ln.position,
                "description": ln.description,
                "quantity": ln.quantity,
                "net": str(ln.net.amount),
                "vat_category": ln.vat_category,
                "vat_rate": str(ln.vat_rate),
                "period_start": _d(ln.period_start),
                "period_end": _d(ln.period_end),
            }
            for ln in doc.lines
        ],
        "vat": [
            {
                "category": v.category,
                "rate": str(v.rate),
                "taxable": str(v.taxable.amount),
                "tax": str(v.tax.amount),
                "exemption_reason": v.exemption_reason,
                "exemption_code": v.exemption_code,
            }
            for v in doc.vat
        ],
        "net": str(doc.net.amount),
        "tax": str(doc.tax.amount),
        "total": str(doc.total.amount),
        "mentions": [{"code": m.code, "text": m.text, "basis": m.basis} for m in doc.mentions],
        "locale": doc.locale,
        "test_mode": doc.test_mode,
        "preceding_id": doc.preceding_id,
        "preceding_number": doc.preceding_number,
        "preceding_date": _d(doc.preceding_date),
        "supply_start": _d(doc.supply_start),
        "supply_end": _d(doc.supply_end),
        "paid_on": _d(doc.paid_on),
        "transaction_id": doc.transaction_id,
    }


def from_data(
    data: dict[str, Any],
    *,
    id: str,
    account_id: str,
    invoice_id: str | None,
    buyer_profile_id: str | None,
    sha256: str,
    created_at: Any = None,
) -> Document:
    ccy = data["currency"]

    def m(text: str) -> Money:
        return Money(Decimal(text), ccy)

    return Document(
        id=id,
        account_id=account_id,
        invoice_id=invoice_id,
        type=DocumentType(data["type"]),
        series=data["series"],
        number=int(data["number"]),
        number_text=data["number_text"],
        issue_date=date.fromisoformat(data["issue_date"]),
        currency=ccy,
        seller=Party.from_dict(data["seller"]),
        buyer=Party.from_dict(data["buyer"]),
        lines=tuple(
            DocumentLine(
                position=ln["position"],
                description=ln["description"],
                quantity=ln["quantity"],
                net=m(ln["net"]),
                vat_category=ln["vat_category"],
                vat_rate=Decimal(ln["vat_rate"]),
                period_start=_pd(ln["period_start"]),
                period_end=_pd(ln["period_end"]),
            )
            for ln in data["lines"]
        ),
        vat=tuple(
            VatBreakdown(
                category=v["category"],
                rate=Decimal(v["rate"]),
                taxable=m(v["taxable"]),
                tax=m(v["tax"]),
                exemption_reason=v["exemption_reason"],
                exemption_code=v["exemption_code"],
            )
            for v in data["vat"]
        ),
        net=m(data["net"]),
        tax=m(data["tax"]),
        total=m(data["total"]),
        mentions=tuple(Mention(**x) for x in data["mentions"]),
        locale=data["locale"],
        test_mode=bool(data["test_mode"]),
        preceding_id=data["preceding_id"],
        preceding_number=data["preceding_number"],
        preceding_date=_pd(data["preceding_date"]),
        supply_start=_pd(data["supply_start"]),
        supply_end=_pd(data["supply_end"]),
        paid_on=_pd(data["paid_on"]),
        transaction_id=data["transaction_id"],
        buyer_profile_id=buyer_profile_id,
        created_at=created_at,
        sha256=sha256,
    )


__all__ = ["from_data", "to_data"]

"""Values of the documents layer, handed to hosts and to the document hooks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from paygate.money import Money


class DocumentType(StrEnum):
    """UNTDID 1001 document codes (EN 16931 BT-3)."""

    INVOICE = "380"
    CREDIT_NOTE = "381"
    CORRECTED_INVOICE = "384"


@dataclass(frozen=True, slots=True)
class Party:
    """A seller or buyer as printed on a document (a snapshot: never changes)."""

    legal_name: str
    address: str
    country: str
    vat_id: str | None = None
    siren: str | None = None
    email: str | None = None
    # Seller-only commercial identity (C. com. R123-237): legal form, share
    # capital, RCS city; empty for a buyer.
    legal_form: str | None = None
    share_capital: str | None = None
    rcs: str | None = None

    @property
    def is_business(self) -> bool:
        return bool(self.vat_id or self.siren)

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__ if getattr(self, k) is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Party:
        return cls(**data)


@dataclass(frozen=True, slots=True)
class Profile:
    """One immutable version of an account's billing profile (the receiver)."""

    id: str
    account_id: str
    version: int
    legal_name: str
    address: str
    country: str
    vat_id: str | None
    siren: str | None
    email: str | None
    locale: str
    active: bool
    created_at: datetime

    def party(self) -> Party:
        return Party(
            legal_name=self.legal_name,
            address=self.address,
            country=self.country,
            vat_id=self.vat_id,
            siren=self.siren,
            email=self.email,
        )


@dataclass(frozen=True, slots=True)
class VatTreatment:
    """What the tax hook decides for a line: EN 16931 category (BT-151),
    rate in percent, and the exemption or reverse-charge mention if any."""

    category: str  # S standard, AE reverse charge, G export, E exempt, Z zero
    rate: Decimal
    exemption_reason: str | None = None
    exemption_code: str | None = None


@dataclass(frozen=True, slots=True)
class VatContext:
    """Handed to ``paygate_billing_vat``."""

    seller: Party
    buyer: Party
    on: date


@dataclass(frozen=True, slots=True)
class DocumentLine:
    position: int
    description: str
    quantity: int
    net: Money  # excluding VAT (may be negative: a prorated credit)
    vat_category: str
    vat_rate: Decimal
    period_start: date | None = None
    period_end: date | None = None


@dataclass(frozen=True, slots=True)
class VatBreakdown:
    """One row of the VAT breakdown (EN 16931 BG-23)."""

    category: str
    rate: Decimal
    taxable: Money
    tax: Money
    exemption_reason: str | None = None
    exemption_code: str | None = None


@dataclass(frozen=True, slots=True)
class Mention:
    """A legal mention printed on a document (``code`` names it, ``basis`` its law)."""

    code: str
    text: str
    basis: str = ""


@dataclass(frozen=True, slots=True)
class MentionProblem:
    """A mandatory detail or mention a document lacks (finalizing is refused)."""

    code: str
    detail: str


@dataclass(frozen=True, slots=True)
class Document:
    """A legal document: invoice (380), credit note (381) or corrected
    invoice (384). Everything on it is a snapshot taken at issue."""

    id: str
    account_id: str
    invoice_id: str | None
    type: DocumentType
    series: str
    number: int
    number_text: str
    issue_date: date
    currency: str
    seller: Party
    buyer: Party
    lines: tuple[DocumentLine, ...]
    vat: tuple[VatBreakdown, ...]
    net: Money
    tax: Money
    total: Money
    mentions: tuple[Mention, ...]
    locale: str
    test_mode: bool
    preceding_id: str | None = None
    preceding_number: str | None = None
    preceding_date: date | None = None
    supply_start: date | None = None
    supply_end: date | None = None
    paid_on: date | None = None
    transaction_id: str | None = None
    buyer_profile_id: str | None = None
    created_at: datetime | None = None
    sha256: str = ""
    # Filled by ``Billing.invoices.list``: documents that amend this one.
    amended_by: tuple[str, ...] = field(default=())

    @property
    def is_credit_note(self) -> bool:
        return self.type is DocumentType.CREDIT_NOTE


@dataclass(frozen=True, slots=True)
class CorrectionRequest:
    id: str
    document_id: str
    account_id: str
    requested_by: str
    reason: str
    changes: dict[str, Any]
    disable_old_receiver: bool
    status: str  # pending | accepted | rejected
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    result_ids: tuple[str, ...]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    document_id: str
    kind: str
    address: str
    status: str  # pending | sent | failed
    attempts: int
    last_error: str | None
    sent_at: datetime | None


__all__ = [
    "CorrectionRequest",
    "Delivery",
    "Document",
    "DocumentLine",
    "DocumentType",
    "Mention",
    "MentionProblem",
    "Party",
    "Profile",
    "VatBreakdown",
    "VatContext",
    "VatTreatment",
]

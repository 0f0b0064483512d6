"""Legal documents on billing invoices: invoices (380), credit notes (381) and
corrected invoices (384), with billing profiles, VAT, mentions, a hash chain,
rendering through ``paygate_billing_render``, delivery and corrections."""

from __future__ import annotations

from paygate.billing.documents.chain import Problem
from paygate.billing.documents.errors import (
    CorrectionRefused,
    DocumentNotFound,
    InvalidVatNumber,
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
from paygate.billing.documents.service import Invoices

__all__ = [
    "CorrectionRefused",
    "CorrectionRequest",
    "Delivery",
    "Document",
    "DocumentLine",
    "DocumentNotFound",
    "DocumentType",
    "InvalidVatNumber",
    "Invoices",
    "Mention",
    "MentionProblem",
    "MissingMandatoryData",
    "Party",
    "Problem",
    "Profile",
    "RenderFailed",
    "VatBreakdown",
    "VatContext",
    "VatTreatment",
]

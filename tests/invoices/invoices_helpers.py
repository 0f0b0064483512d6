"""Helpers of the invoices tests (a module of its own, like billing_helpers)."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import pypdf

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "billing"))

from billing_helpers import OWNER, STAFF, Clock, account_with_card, pg_url_or_skip
from paygate_invoices_typst.plugin import TypstRenderer
from paygate_pricing.plugin import PricingRules

import paygate
from paygate import hookimpl
from paygate.billing import Billing

#: A French seller with every identity detail the French pack asks for
#: (the SIREN and VAT number are real check-digit-valid examples).
SELLER: dict[str, str] = {
    "legal_name": "Webinaires Exemple SAS",
    "address": "12 rue de la Paix\n75002 Paris",
    "country": "FR",
    "vat_id": "FR40303265045",
    "siren": "303265045",
    "legal_form": "SAS",
    "share_capital": "50 000 €",
    "rcs": "RCS Paris",
    "email": "factures@example.fr",
}
CONSUMER: dict[str, str] = {
    "legal_name": "Hélène Dupré",
    "address": "3 place Bellecour\n69002 Lyon",
    "country": "FR",
    "email": "helene@example.org",
}


class FastRenderer:
    """A stand-in PDF for tests about numbering, chains and workflow (the
    real renderer is tested on its own and in the end-to-end tests): the
    bytes depend on every field that matters, like a real rendering."""

    @hookimpl
    def paygate_billing_render(self, document: Any) -> bytes:
        return (
            f"%PDF-test {document.type.value} {document.number_text} "
            f"{document.buyer.legal_name} {document.total}"
        ).encode()


def make_payments(
    url: str, *, renderer: Any = TypstRenderer, extra: tuple[Any, ...] = (), **config: Any
) -> paygate.Payments:
    conf: dict[str, Any] = {"database_url": url, "invoices": {"seller": SELLER}}
    conf.update(config)
    plugins = [PricingRules, *extra] + ([renderer] if renderer is not None else [])
    return paygate.Payments(conf, plugins=plugins, load_entrypoints=False)


def customer(billing: Billing, profile: dict[str, str] | None = None, **kw: Any) -> str:
    """An account with a card and a billing profile (a consumer in Lyon by default)."""
    acct = account_with_card(billing, currency="EUR", **kw)
    billing.invoices.set_profile(OWNER, acct, **(profile or CONSUMER))
    return acct


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)


__all__ = [
    "CONSUMER",
    "OWNER",
    "SELLER",
    "STAFF",
    "Clock",
    "FastRenderer",
    "account_with_card",
    "customer",
    "make_payments",
    "pdf_text",
    "pg_url_or_skip",
]

"""VAT per seller and buyer (the default ``paygate_billing_vat``) and the
mentions each case needs (EU and French packs)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from invoices_helpers import OWNER, customer

from paygate.billing import Billing
from paygate.billing.documents import MissingMandatoryData
from paygate.money import Money

GERMAN_BUSINESS = {
    "legal_name": "Beispiel GmbH",
    "address": "Unter den Linden 1\n10117 Berlin",
    "country": "DE",
    "vat_id": "DE136695976",
    "email": "rechnung@example.de",
    "locale": "en",
}
GERMAN_CONSUMER = {k: v for k, v in GERMAN_BUSINESS.items() if k != "vat_id"}
US_BUSINESS = {
    "legal_name": "Example Inc.",
    "address": "1 Main Street\nSpringfield, IL 62701",
    "country": "US",
    "email": "ap@example.com",
    "locale": "en",
}
FRENCH_BUSINESS = {
    "legal_name": "Café-Théâtre SARL",
    "address": "5 rue Mercière\n69002 Lyon",
    "country": "FR",
    "vat_id": "FR40303265045",
    "siren": "303265045",
    "email": "compta@example.fr",
}


def _issue(billing: Billing, profile: dict[str, str]) -> tuple[object, list[str]]:
    acct = customer(billing, profile)
    billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="k1")
    [doc] = billing.invoices.list(OWNER, acct)
    return doc, [m.code for m in doc.mentions]


@pytest.mark.parametrize(
    ("profile", "category", "rate", "mention"),
    [
        (GERMAN_BUSINESS, "AE", "0", "eu.reverse_charge"),
        (GERMAN_CONSUMER, "S", "19", None),  # OSS: the consumer's country rate
        (US_BUSINESS, "G", "0", "eu.export"),
        (FRENCH_BUSINESS, "S", "20", None),
    ],
)
def test_vat_follows_the_seller_and_buyer(
    billing: Billing, profile: dict[str, str], category: str, rate: str, mention: str | None
) -> None:
    doc, codes = _issue(billing, profile)
    [vat] = doc.vat  # type: ignore[attr-defined]
    assert (vat.category, vat.rate) == (category, Decimal(rate))
    total = doc.total  # type: ignore[attr-defined]
    expected_net = (total.amount * 100 / (100 + Decimal(rate))).quantize(Decimal("0.01"))
    assert vat.taxable == Money(expected_net, "EUR")
    assert vat.tax == total - vat.taxable
    if mention:
        assert mention in codes
        assert vat.exemption_reason
    else:
        assert not {"eu.reverse_charge", "eu.export"} & set(codes)


def test_the_recovery_indemnity_is_for_business_buyers_only(billing: Billing) -> None:
    _, b2b = _issue(billing, FRENCH_BUSINESS)
    assert "fr.recovery_indemnity" in b2b and "fr.late_penalties" in b2b


def test_a_consumer_gets_no_recovery_indemnity(billing: Billing) -> None:
    _, b2c = _issue(billing, {**FRENCH_BUSINESS, "vat_id": "", "siren": ""})
    assert "fr.recovery_indemnity" not in b2c and "fr.late_penalties" in b2c


def test_a_french_business_buyer_without_siren_is_refused(billing: Billing) -> None:
    acct = customer(billing, {**FRENCH_BUSINESS, "siren": ""})
    billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="k1")
    assert billing.invoices.list(OWNER, acct) == []  # nothing issued, nothing numbered
    [record] = billing.invoices(OWNER, acct)
    with pytest.raises(MissingMandatoryData) as err:
        billing.invoices.issue_for_invoice(record.id)
    assert err.value.mention == "buyer.siren"

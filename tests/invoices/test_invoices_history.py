"""History and download: owner only (multi-users and sub-accounts refused,
the seed), a frozen account still reaches its documents, links between
originals and their corrections, profiles and VAT numbers."""

from __future__ import annotations

import pytest
from invoices_helpers import CONSUMER, OWNER, STAFF, customer

from paygate.billing import Actor, Billing, BillingPermissionDenied
from paygate.billing.documents import DocumentNotFound, InvalidVatNumber, MissingMandatoryData


def test_the_owner_downloads_every_document_and_others_are_refused(billing: Billing) -> None:
    acct = customer(billing)
    billing.add_member(acct, "colleague", "multi_user")
    billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="k1")
    [doc] = billing.invoices.list(OWNER, acct)
    assert billing.invoices.pdf(OWNER, doc.id).startswith(b"%PDF")
    assert billing.invoices.list(STAFF, acct) == [doc]  # billing staff see them
    for actor in (Actor.user("colleague"), Actor.user("stranger")):
        with pytest.raises(BillingPermissionDenied):
            billing.invoices.list(actor, acct)
        with pytest.raises(BillingPermissionDenied):
            billing.invoices.pdf(actor, doc.id)
        with pytest.raises(BillingPermissionDenied):
            billing.invoices.request_correction(actor, doc.id, reason="x", legal_name="Y")
    with pytest.raises(DocumentNotFound):
        billing.invoices.pdf(OWNER, "doc_missing")


def test_a_sub_account_owner_sees_no_billing(billing: Billing) -> None:
    main = customer(billing)
    child = billing.create_account("child-owner", currency="EUR", parent_id=main)
    with pytest.raises(BillingPermissionDenied, match="sub-account"):
        billing.invoices.list(Actor.user("child-owner"), child.id)


def test_a_frozen_account_still_reaches_its_invoices(billing: Billing) -> None:
    acct = customer(billing)
    sub = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="k1")
    billing.freeze(OWNER, sub.id, days=30)
    [doc] = billing.invoices.list(OWNER, acct)
    assert billing.invoices.pdf(OWNER, doc.id).startswith(b"%PDF")


def test_profiles_are_versioned_and_vat_numbers_checked(billing: Billing) -> None:
    acct = billing.create_account(OWNER.ref, currency="EUR", timezone="Europe/Paris")
    assert billing.invoices.profile(OWNER, acct.id) is None
    first = billing.invoices.set_profile(OWNER, acct.id, **CONSUMER)
    second = billing.invoices.set_profile(
        OWNER, acct.id, **{**CONSUMER, "vat_id": "fr 40 303 265 045", "siren": "303265045"}
    )
    assert second.vat_id == "FR40303265045"  # compact, with its country prefix
    assert [(p.version, p.active) for p in billing.invoices.profiles(OWNER, acct.id)] == [
        (1, False),
        (2, True),
    ]
    assert first.legal_name == billing.invoices.profiles(OWNER, acct.id)[0].legal_name
    with pytest.raises(InvalidVatNumber, match="FR40303265046"):
        billing.invoices.set_profile(OWNER, acct.id, **{**CONSUMER, "vat_id": "FR40303265046"})
    with pytest.raises(InvalidVatNumber):
        billing.invoices.set_profile(OWNER, acct.id, **{**CONSUMER, "siren": "123456789"})
    with pytest.raises(MissingMandatoryData) as err:
        billing.invoices.set_profile(OWNER, acct.id, **{**CONSUMER, "address": " "})
    assert err.value.mention == "buyer.address"
    with pytest.raises(BillingPermissionDenied):
        billing.invoices.set_profile(Actor.user("stranger"), acct.id, **CONSUMER)
    assert billing.invoices.profile(OWNER, acct.id) == second

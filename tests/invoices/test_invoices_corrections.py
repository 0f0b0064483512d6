"""The seed's correction request: filed by the owner, decided by staff; a 384
for a receiver change, a 381 plus a new 380 when the amounts change; "disable
the old receiver" for future invoices; refusals."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from invoices_helpers import CONSUMER, OWNER, STAFF, Clock, customer

from paygate.billing import Billing, BillingPermissionDenied
from paygate.billing.documents import CorrectionRefused, DocumentType, InvalidVatNumber
from paygate.money import Money


def _paid(billing: Billing) -> tuple[str, object]:
    acct = customer(billing)
    billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="k1")
    [doc] = billing.invoices.list(OWNER, acct)
    return acct, doc


def test_a_receiver_correction_issues_a_384_linked_to_the_original(
    billing: Billing, clock: Clock
) -> None:
    acct, orig = _paid(billing)
    req = billing.invoices.request_correction(
        OWNER,
        orig.id,  # type: ignore[attr-defined]
        reason="The invoice must name the association",
        disable_old_receiver=True,
        legal_name="Association Café-Théâtre",
    )
    assert req.status == "pending"
    assert billing.invoices.list(OWNER, acct) == [orig]  # nothing yet
    assert [r.id for r in billing.invoices.pending_corrections(STAFF)] == [req.id]
    done = billing.invoices.accept_correction(STAFF, req.id)
    assert done.status == "accepted" and done.decided_by == STAFF.ref
    [original, corrected] = billing.invoices.list(OWNER, acct)
    assert original.amended_by == (corrected.id,) == done.result_ids
    assert corrected.type is DocumentType.CORRECTED_INVOICE
    assert corrected.preceding_id == original.id
    assert (corrected.preceding_number, corrected.preceding_date) == (
        original.number_text,
        original.issue_date,
    )
    assert corrected.buyer.legal_name == "Association Café-Théâtre"
    assert corrected.buyer.address == CONSUMER["address"]  # unchanged details carried over
    assert (corrected.total, corrected.net, corrected.tax) == (
        original.total,
        original.net,
        original.tax,
    )
    assert "eu.corrects" in [m.code for m in corrected.mentions]
    assert original.buyer.legal_name == CONSUMER["legal_name"]  # never rewritten
    assert billing.invoices.pending_corrections(STAFF) == []
    # "Disable the old receiver": the next renewal bills the new details.
    profiles = billing.invoices.profiles(OWNER, acct)
    assert [p.active for p in profiles] == [False, True]
    clock.now = datetime(2027, 2, 28, 10, tzinfo=UTC)
    billing.run_once()
    assert billing.invoices.list(OWNER, acct)[-1].buyer.legal_name == "Association Café-Théâtre"
    assert billing.invoices.verify() == []


def test_without_disabling_the_old_receiver_future_invoices_keep_it(
    billing: Billing, clock: Clock
) -> None:
    acct, orig = _paid(billing)
    req = billing.invoices.request_correction(
        OWNER,
        orig.id,  # type: ignore[attr-defined]
        reason="typo",
        legal_name="Hélène Dupré-Martin",
    )
    billing.invoices.accept_correction(STAFF, req.id)
    clock.now = datetime(2027, 2, 28, 10, tzinfo=UTC)
    billing.run_once()
    assert billing.invoices.list(OWNER, acct)[-1].buyer.legal_name == CONSUMER["legal_name"]


def test_an_amount_change_issues_a_credit_note_and_a_new_invoice(billing: Billing) -> None:
    acct, orig = _paid(billing)
    # A German business with its VAT number: reverse charge, so the net and
    # the VAT change (the total charged does not).
    req = billing.invoices.request_correction(
        OWNER,
        orig.id,  # type: ignore[attr-defined]
        reason="We are a business in Germany",
        disable_old_receiver=True,
        legal_name="Beispiel GmbH",
        address="Unter den Linden 1\n10117 Berlin",
        country="DE",
        vat_id="DE136695976",
    )
    done = billing.invoices.accept_correction(STAFF, req.id)
    [original, credit, fresh] = billing.invoices.list(OWNER, acct)
    assert done.result_ids == (credit.id, fresh.id)
    assert original.amended_by == (credit.id, fresh.id)
    assert credit.type is DocumentType.CREDIT_NOTE
    assert credit.preceding_number == original.number_text
    assert (credit.total, credit.net, credit.tax) == (original.total, original.net, original.tax)
    assert credit.buyer == original.buyer
    assert fresh.type is DocumentType.INVOICE and fresh.vat[0].category == "AE"
    assert fresh.total == original.total and fresh.tax == Money("0.00", "EUR")
    assert credit.series.startswith("TEST-AV") and fresh.series == original.series
    assert billing.invoices.verify() == []


def test_refusals(billing: Billing) -> None:
    acct, orig = _paid(billing)
    oid = orig.id  # type: ignore[attr-defined]
    with pytest.raises(CorrectionRefused, match="changes nothing"):
        billing.invoices.request_correction(OWNER, oid, reason="x", **CONSUMER)
    with pytest.raises(InvalidVatNumber):
        billing.invoices.request_correction(OWNER, oid, reason="x", vat_id="FR00000000000")
    with pytest.raises(BillingPermissionDenied):
        billing.invoices.request_correction(STAFF, oid, reason="x", legal_name="Y")
    req = billing.invoices.request_correction(OWNER, oid, reason="x", legal_name="Y")
    with pytest.raises(CorrectionRefused, match="already has an open"):
        billing.invoices.request_correction(OWNER, oid, reason="again", legal_name="Z")
    with pytest.raises(BillingPermissionDenied):
        billing.invoices.accept_correction(OWNER, req.id)
    rejected = billing.invoices.reject_correction(STAFF, req.id, reason="not your name")
    assert (rejected.status, rejected.decision_reason) == ("rejected", "not your name")
    with pytest.raises(CorrectionRefused, match="already rejected"):
        billing.invoices.accept_correction(STAFF, req.id)
    assert billing.invoices.list(OWNER, acct) == [orig]
    # A credit note cannot be corrected; a replaced invoice neither.
    credit = billing.invoices.credit_refund(
        STAFF, oid, Money("28.00", "EUR"), transaction_id="tx_r1", reason="refund"
    )
    with pytest.raises(CorrectionRefused, match="credit note"):
        billing.invoices.request_correction(OWNER, credit.id, reason="x", legal_name="Y")
    with pytest.raises(CorrectionRefused, match="already cancelled or replaced"):
        billing.invoices.request_correction(OWNER, oid, reason="x", legal_name="Y")
    assert [r.status for r in billing.invoices.corrections(OWNER, acct)] == ["rejected"]

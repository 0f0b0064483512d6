"""Documents issued from billing: numbering, immutability, the render-or-nothing
rule, mandatory mentions, credit notes for refunds, and the hash chain."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from invoices_helpers import (
    CONSUMER,
    OWNER,
    SELLER,
    STAFF,
    Clock,
    FastRenderer,
    account_with_card,
    customer,
    make_payments,
)
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

import paygate
from paygate import hookimpl
from paygate.billing import Billing
from paygate.billing.documents import (
    DocumentType,
    MissingMandatoryData,
    RenderFailed,
)
from paygate.builtins.invoice_rules import InvoiceRules
from paygate.money import Money


def test_a_paid_subscription_gets_an_invoice_380_with_the_profile_snapshot(
    billing: Billing,
) -> None:
    acct = customer(billing)
    billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="k1")
    [doc] = billing.invoices.list(OWNER, acct)
    [record] = billing.invoices(OWNER, acct)
    assert doc.type is DocumentType.INVOICE
    assert doc.invoice_id == record.id
    assert (doc.series, doc.number, doc.number_text) == ("TEST-F-2027", 1, "TEST-F-2027-000001")
    assert doc.buyer.legal_name == CONSUMER["legal_name"]
    assert doc.seller.vat_id == SELLER["vat_id"]
    # What was charged is the document's total: VAT is included in it.
    assert doc.total == record.total
    assert doc.net + doc.tax == doc.total
    # Domestic consumer: French 20 %; the net is total / 1.2 rounded once.
    assert doc.vat[0].category == "S" and doc.vat[0].rate == Decimal(20)
    assert doc.net == Money((record.total.amount / Decimal("1.2")).quantize(Decimal("0.01")), "EUR")


def test_a_profile_change_never_changes_an_issued_document(billing: Billing, clock: Clock) -> None:
    acct = customer(billing)
    billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="k1")
    before = billing.invoices.list(OWNER, acct)[0]
    pdf_before = billing.invoices.pdf(OWNER, before.id)
    billing.invoices.set_profile(OWNER, acct, **{**CONSUMER, "legal_name": "Someone Else"})
    after = billing.invoices.list(OWNER, acct)[0]
    assert after.buyer.legal_name == CONSUMER["legal_name"]
    assert billing.invoices.pdf(OWNER, before.id) == pdf_before
    # ... and the next renewal uses the new profile.
    clock.now = datetime(2027, 2, 28, 10, tzinfo=UTC)
    billing.run_once()
    docs = billing.invoices.list(OWNER, acct)
    assert [d.buyer.legal_name for d in docs] == [CONSUMER["legal_name"], "Someone Else"]
    assert [d.number for d in docs] == [1, 2]


def test_issued_documents_are_immutable_in_the_database(billing: Billing) -> None:
    acct = customer(billing)
    billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="k1")
    engine = billing.store.engine
    for statement in (
        "UPDATE paygate_invoices_documents SET total_minor = 1",
        "UPDATE paygate_invoices_documents SET number = 7",
        "DELETE FROM paygate_invoices_documents",
        "UPDATE paygate_invoices_profiles SET legal_name = 'x'",
        "DELETE FROM paygate_invoices_profiles",
    ):
        with pytest.raises(DBAPIError, match=r"immutable|never deleted"), engine.begin() as conn:
            conn.execute(text(statement))
    # Only the active flag of a profile version moves.
    with engine.begin() as conn:
        conn.execute(text("UPDATE paygate_invoices_profiles SET active = active"))


class Broken:
    @hookimpl
    def paygate_billing_render(self, document: Any) -> bytes:
        raise RuntimeError("template error")


def test_a_render_failure_issues_nothing_and_consumes_no_number(db_url: str, clock: Clock) -> None:
    p = make_payments(db_url, renderer=Broken)
    billing = Billing(p, clock=clock)
    acct = customer(billing)
    billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="k1")  # paid all the same
    assert billing.invoices.list(OWNER, acct) == []
    [record] = billing.invoices(OWNER, acct)
    with pytest.raises(RenderFailed, match="template error"):
        billing.invoices.issue_for_invoice(record.id)
    p.close()
    # Fixed renderer: the invoice gets number 1 (nothing was consumed).
    p = make_payments(db_url, renderer=FastRenderer)
    billing = Billing(p, clock=clock)
    billing.invoices.issue_due()
    assert [d.number for d in billing.invoices.list(OWNER, acct)] == [1]
    assert billing.invoices.verify() == []
    p.close()


def test_a_missing_mandatory_mention_is_named_and_nothing_is_numbered(
    db_url: str, clock: Clock
) -> None:
    seller = {k: v for k, v in SELLER.items() if k != "rcs"}
    p = make_payments(db_url, renderer=FastRenderer, invoices={"seller": seller})
    billing = Billing(p, clock=clock)
    acct = customer(billing)
    billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="k1")
    [record] = billing.invoices(OWNER, acct)
    with pytest.raises(MissingMandatoryData, match=r"seller\.rcs") as err:
        billing.invoices.issue_for_invoice(record.id)
    assert err.value.mention == "seller.rcs"
    billing.invoices.configure_seller(**SELLER)
    assert billing.invoices.issue_for_invoice(record.id).number == 1  # type: ignore[union-attr]
    p.close()


def test_a_seller_without_vat_number_is_refused(sqlite_url: str, clock: Clock) -> None:
    seller = {k: v for k, v in SELLER.items() if k != "vat_id"}
    p = make_payments(sqlite_url, renderer=FastRenderer, invoices={"seller": seller})
    billing = Billing(p, clock=clock)
    acct = customer(billing)
    billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="k1")
    [record] = billing.invoices(OWNER, acct)
    with pytest.raises(MissingMandatoryData) as err:
        billing.invoices.issue_for_invoice(record.id)
    assert err.value.mention == "seller.vat_id"
    p.close()


class YearlySeries:
    @hookimpl
    def paygate_billing_document_series(self, document: Any) -> str:
        return f"H{document.issue_date.year}-{document.type.value}"


def test_series_come_from_the_hook_and_each_is_gapless(sqlite_url: str, clock: Clock) -> None:
    p = make_payments(sqlite_url, renderer=FastRenderer, extra=(YearlySeries,))
    billing = Billing(p, clock=clock)
    acct = customer(billing)
    billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="k1")
    clock.now = datetime(2027, 2, 28, 10, tzinfo=UTC)
    billing.run_once()
    [first, second] = billing.invoices.list(OWNER, acct)
    credit = billing.invoices.credit_refund(
        STAFF, first.id, Money("5.00", "EUR"), transaction_id="tx_r1", reason="goodwill"
    )
    assert (first.series, first.number, second.number) == ("H2027-380", 1, 2)
    assert (credit.series, credit.number) == ("H2027-381", 1)
    p.close()


def test_default_series_per_year_type_and_mode(billing: Billing) -> None:
    acct = customer(billing)
    billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="k1")
    [inv] = billing.invoices.list(OWNER, acct)
    credit = billing.invoices.credit_refund(
        STAFF, inv.id, Money("28.00", "EUR"), transaction_id="tx_r1", reason="refund"
    )
    assert (inv.number_text, credit.number_text) == ("TEST-F-2027-000001", "TEST-AV-2027-000001")
    rules = InvoiceRules()
    live = replace(inv, test_mode=False, issue_date=date(2028, 1, 1))
    assert rules.paygate_billing_document_series(document=live) == "F-2028"
    corrected = replace(live, type=DocumentType.CORRECTED_INVOICE)
    assert rules.paygate_billing_document_series(document=corrected) == "F-2028"


def test_a_refund_issues_a_credit_note_linked_to_its_invoice(billing: Billing) -> None:
    acct = customer(billing)
    billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="k1")
    [inv] = billing.invoices.list(OWNER, acct)
    credit = billing.invoices.credit_refund(
        STAFF, inv.id, Money("10.00", "EUR"), transaction_id="tx_r1", reason="partial refund"
    )
    again = billing.invoices.credit_refund(
        STAFF, inv.id, Money("10.00", "EUR"), transaction_id="tx_r1", reason="partial refund"
    )
    assert again.id == credit.id  # the same refund never makes a second credit note
    assert credit.type is DocumentType.CREDIT_NOTE
    assert (credit.preceding_number, credit.preceding_date) == (inv.number_text, inv.issue_date)
    assert credit.total == Money("10.00", "EUR") and credit.vat[0].rate == Decimal(20)
    assert credit.net + credit.tax == credit.total
    inv_now = billing.invoices.show(OWNER, inv.id)
    assert inv_now.amended_by == (credit.id,)
    # Never credit more than the invoice.
    with pytest.raises(paygate.errors.InvalidRequest, match="exceed"):
        billing.invoices.credit_refund(
            STAFF, inv.id, Money("18.01", "EUR"), transaction_id="tx_r2", reason="too much"
        )


def _tamper(billing: Billing, *statements: str, **params: Any) -> None:
    """What someone with database access would do: drop the guard, edit."""
    engine = billing.store.engine
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(
                text(
                    "ALTER TABLE paygate_invoices_documents "
                    "DISABLE TRIGGER paygate_invoices_document_guard"
                )
            )
        else:
            conn.execute(text("DROP TRIGGER paygate_invoices_document_frozen"))
            conn.execute(text("DROP TRIGGER paygate_invoices_document_no_delete"))
        for s in statements:
            conn.execute(text(s), params)


def _three(billing: Billing, clock: Clock) -> list[Any]:
    acct = customer(billing)
    billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="k1")
    for month in (2, 3):
        clock.now = datetime(2027, month, 28 if month == 2 else 31, 10, tzinfo=UTC)
        billing.run_once()
    docs = billing.invoices.list(OWNER, acct)
    assert [d.number for d in docs] == [1, 2, 3]
    assert billing.invoices.verify() == []
    return docs


def test_verify_detects_an_altered_pdf(billing: Billing, clock: Clock) -> None:
    docs = _three(billing, clock)
    _tamper(
        billing,
        "UPDATE paygate_invoices_documents SET pdf = :p WHERE id = :id",
        p=b"%PDF-forged",
        id=docs[1].id,
    )
    problems = billing.invoices.verify()
    assert [(p.number, p.kind) for p in problems] == [(2, "altered")]
    assert "PDF bytes changed" in str(problems[0])


def test_verify_detects_altered_data(billing: Billing, clock: Clock) -> None:
    docs = _three(billing, clock)
    _tamper(
        billing,
        "UPDATE paygate_invoices_documents SET data = replace(data, 'Dupré', 'Dupont') "
        "WHERE id = :id",
        id=docs[0].id,
    )
    problems = billing.invoices.verify()
    assert [(p.number, p.kind) for p in problems] == [(1, "altered")]
    assert "data changed" in str(problems[0])


def test_verify_detects_a_removed_document(billing: Billing, clock: Clock) -> None:
    docs = _three(billing, clock)
    _tamper(billing, "DELETE FROM paygate_invoices_documents WHERE id = :id", id=docs[1].id)
    problems = billing.invoices.verify()
    assert [(p.number, p.kind) for p in problems] == [(3, "gap")]
    assert "missing number(s) 2" in str(problems[0])


def test_verify_detects_a_removed_last_document(billing: Billing, clock: Clock) -> None:
    docs = _three(billing, clock)
    _tamper(billing, "DELETE FROM paygate_invoices_documents WHERE id = :id", id=docs[2].id)
    problems = billing.invoices.verify()
    assert [(p.number, p.kind) for p in problems] == [(3, "gap")]


def test_verify_detects_a_renumbered_document(billing: Billing, clock: Clock) -> None:
    docs = _three(billing, clock)
    # Remove number 2 and renumber 3 as 2 to hide the hole.
    _tamper(
        billing,
        "DELETE FROM paygate_invoices_documents WHERE id = :gone",
        "UPDATE paygate_invoices_documents SET number = 2 WHERE id = :moved",
        gone=docs[1].id,
        moved=docs[2].id,
    )
    problems = billing.invoices.verify()
    kinds = {(p.number, p.kind) for p in problems}
    assert (2, "altered") in kinds and (2, "broken_link") in kinds
    assert (3, "gap") in kinds  # the counter says 3 was taken


def test_a_refund_through_payments_issues_its_credit_note_once(billing: Billing) -> None:
    acct = customer(billing)
    billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="k1")
    [inv] = billing.invoices.list(OWNER, acct)
    assert inv.transaction_id is not None
    with pytest.raises(paygate.errors.PermissionDenied):
        billing.invoices.refund(OWNER, inv.id, Money("10.00", "EUR"), idempotency_key="r1")
    credit = billing.invoices.refund(
        STAFF, inv.id, Money("10.00", "EUR"), reason="goodwill", idempotency_key="r1"
    )
    again = billing.invoices.refund(
        STAFF, inv.id, Money("10.00", "EUR"), reason="goodwill", idempotency_key="r1"
    )
    assert again.id == credit.id
    tx = billing.payments.transaction(inv.transaction_id)
    assert tx.refunded == Money("10.00", "EUR")  # refunded once
    assert credit.type is DocumentType.CREDIT_NOTE and credit.total == Money("10.00", "EUR")
    assert credit.preceding_id == inv.id and credit.transaction_id == tx.refunds[0].id
    rest = billing.invoices.refund(STAFF, inv.id, idempotency_key="r2")  # all that is left
    assert rest.total == Money("18.00", "EUR")
    assert billing.invoices.show(OWNER, inv.id).amended_by == (credit.id, rest.id)


@pytest.mark.parametrize(("tz", "day"), [(None, date(2027, 2, 1)), ("UTC", date(2027, 1, 31))])
def test_the_issue_date_is_the_sellers_calendar_day(
    sqlite_url: str, tz: str | None, day: date
) -> None:
    # 23:30 UTC on Jan 31 is already Feb 1 in Paris (a French seller's default).
    clock = Clock(datetime(2027, 1, 31, 23, 30, tzinfo=UTC))
    section: dict[str, Any] = {"seller": SELLER} | ({"timezone": tz} if tz else {})
    p = make_payments(sqlite_url, renderer=FastRenderer, invoices=section)
    billing = Billing(p, clock=clock)
    acct = customer(billing)
    billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="k1")
    [doc] = billing.invoices.list(OWNER, acct)
    assert doc.issue_date == day
    p.close()


def test_an_unknown_timezone_is_a_configuration_error(sqlite_url: str, clock: Clock) -> None:
    p = make_payments(
        sqlite_url, renderer=FastRenderer, invoices={"seller": SELLER, "timezone": "Mars/Base"}
    )
    with pytest.raises(paygate.errors.ConfigurationError, match="timezone"):
        Billing(p, clock=clock)
    p.close()


def test_an_account_without_profile_gets_its_invoice_once_it_gives_one(billing: Billing) -> None:
    acct = account_with_card(billing, currency="EUR")
    billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="k1")
    assert billing.invoices.issue_due() == []  # no receiver yet: nothing to issue
    assert billing.invoices.list(OWNER, acct) == []
    billing.invoices.set_profile(OWNER, acct, **CONSUMER)  # issues what was waiting
    [doc] = billing.invoices.list(OWNER, acct)
    assert (doc.number, doc.buyer.legal_name) == (1, CONSUMER["legal_name"])

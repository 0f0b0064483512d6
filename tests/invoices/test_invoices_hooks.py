"""Host plugins answering the documents hooks: VAT, mentions, delivery."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from invoices_helpers import OWNER, STAFF, Clock, FastRenderer, customer, make_payments

from paygate import hookimpl
from paygate.billing import Billing
from paygate.billing.documents import (
    Mention,
    MentionProblem,
    MissingMandatoryData,
    VatTreatment,
)
from paygate.money import Money


class ExemptAssociations:
    """A host's own VAT rule, answered before the built-in."""

    @hookimpl
    def paygate_billing_vat(self, context: Any) -> VatTreatment | None:
        if context.buyer.legal_name.startswith("Association"):
            return VatTreatment("E", Decimal(0), "Exonération (test)", "VATEX-EU-O")
        return None


class PurchaseOrders:
    """A host's own mention, and a detail it requires."""

    required = False

    @hookimpl
    def paygate_billing_mentions(self, document: Any) -> list[Mention | MentionProblem]:
        if self.required:
            return [MentionProblem("buyer.purchase_order", "the customer's PO number")]
        return [Mention("host.support", "Questions: billing@example.com")]


class Outbox:
    """A host's own deliverer (its transactional mail service)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str, int]] = []

    @hookimpl
    def paygate_billing_deliver(self, document: Any, pdf: bytes, address: str, kind: str) -> bool:
        self.sent.append((document.number_text, address, kind, len(pdf)))
        return True


def test_a_host_vat_rule_answers_first(sqlite_url: str, clock: Clock) -> None:
    p = make_payments(sqlite_url, renderer=FastRenderer, extra=(ExemptAssociations(),))
    billing = Billing(p, clock=clock)
    acct = customer(billing, {"legal_name": "Association X", "address": "1 rue A", "country": "FR"})
    billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="k1")
    [doc] = billing.invoices.list(OWNER, acct)
    assert (doc.vat[0].category, doc.tax.amount, doc.net) == ("E", 0, doc.total)
    assert doc.vat[0].exemption_reason == "Exonération (test)"
    p.close()


def test_host_mentions_are_printed_and_a_problem_refuses(sqlite_url: str, clock: Clock) -> None:
    po = PurchaseOrders()
    p = make_payments(sqlite_url, renderer=FastRenderer, extra=(po,))
    billing = Billing(p, clock=clock)
    acct = customer(billing)
    billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="k1")
    [doc] = billing.invoices.list(OWNER, acct)
    assert "host.support" in [m.code for m in doc.mentions]
    po.required = True
    with pytest.raises(MissingMandatoryData) as err:
        billing.invoices.credit_refund(
            STAFF, doc.id, Money("1.00", "EUR"), transaction_id="tx", reason="r"
        )
    assert err.value.mention == "buyer.purchase_order"
    assert len(billing.invoices.list(OWNER, acct)) == 1  # nothing issued
    p.close()


def test_a_host_deliverer_sends_documents_and_the_correction_notice(
    sqlite_url: str, clock: Clock
) -> None:
    outbox = Outbox()
    p = make_payments(sqlite_url, renderer=FastRenderer, extra=(outbox,))
    billing = Billing(p, clock=clock)
    acct = customer(billing)
    billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="k1")
    [doc] = billing.invoices.list(OWNER, acct)
    req = billing.invoices.request_correction(
        OWNER, doc.id, reason="name", disable_old_receiver=True, legal_name="New Name"
    )
    billing.invoices.accept_correction(STAFF, req.id)
    [_, fixed] = billing.invoices.list(OWNER, acct)
    addr = "helene@example.org"
    assert sorted(outbox.sent) == sorted(
        [
            (doc.number_text, addr, "document", len(billing.invoices.pdf(OWNER, doc.id))),
            (fixed.number_text, addr, "document", len(billing.invoices.pdf(OWNER, fixed.id))),
            (
                fixed.number_text,
                addr,
                "correction_accepted",
                len(billing.invoices.pdf(OWNER, fixed.id)),
            ),
        ]
    )
    billing.invoices.deliver_due()
    assert len(outbox.sent) == 3  # never twice
    p.close()

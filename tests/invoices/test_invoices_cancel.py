"""A cancel now pays back the unused part of the period: its credit note
(381) refers to the invoice (380) whose charge was refunded."""

from __future__ import annotations

from invoices_helpers import CONSUMER, OWNER, Clock, account_with_card, customer

from paygate.billing import Billing
from paygate.billing.documents import DocumentType


def test_cancel_now_issues_a_credit_note_linked_to_the_paid_invoice(
    billing: Billing, clock: Clock
) -> None:
    acct = customer(billing)
    sub = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="k1")
    [inv] = billing.invoices.list(OWNER, acct)
    clock.set(2027, 2, 14)  # 14 of 28 days left
    billing.cancel(OWNER, sub.id, at="now")
    docs = billing.invoices.list(OWNER, acct)
    credit_notes = [d for d in docs if d.type is DocumentType.CREDIT_NOTE]
    [note] = credit_notes
    assert note.preceding_id == inv.id and note.preceding_number == inv.number_text
    # half the period is left: half of what the invoice charged
    assert note.total.amount * 2 == inv.total.amount and note.total.amount > 0
    [record] = [i for i in billing.invoices(OWNER, acct) if i.reason == "cancel"]
    assert note.total == -record.total
    assert note.transaction_id == record.transaction_id
    # Settling again (a run) issues nothing more.
    billing.run_once()
    assert [d.id for d in billing.invoices.list(OWNER, acct)] == [d.id for d in docs]


def test_a_credit_note_follows_once_the_paid_invoice_gets_its_document(
    billing: Billing, clock: Clock
) -> None:
    acct = account_with_card(billing, currency="EUR")  # no billing profile yet
    sub = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="k1")
    clock.set(2027, 2, 14)
    billing.cancel(OWNER, sub.id, at="now")
    assert billing.invoices.list(OWNER, acct) == []  # nothing issued without a profile
    billing.invoices.set_profile(OWNER, acct, **CONSUMER)
    billing.run_once()  # issues the paid invoice's 380, then the refund's 381
    docs = billing.invoices.list(OWNER, acct)
    assert [d.type for d in docs] == [DocumentType.INVOICE, DocumentType.CREDIT_NOTE]
    assert docs[1].preceding_id == docs[0].id
    [record] = [i for i in billing.invoices(OWNER, acct) if i.reason == "cancel"]
    assert docs[1].total == -record.total


def test_the_providers_refund_event_after_a_cancel_credits_nothing_more(
    billing: Billing, clock: Clock
) -> None:
    """A cancel's refund and the provider's webhook about that same refund meet
    on the refund's id: one credit note, whichever reaches the invoices first."""
    acct = customer(billing)
    sub = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="k1")
    [paid] = billing.invoices(OWNER, acct)
    assert paid.transaction_id is not None
    clock.set(2027, 2, 14)
    billing.cancel(OWNER, sub.id, at="now")
    [note] = [d for d in billing.invoices.list(OWNER, acct) if d.type is DocumentType.CREDIT_NOTE]
    sandbox = billing.payments.plugin("sandbox")
    headers, body = sandbox.make_webhook("payment.refunded", paid.transaction_id)
    reaction = billing.on_webhook(billing.payments.parse_webhook("sandbox", headers, body))
    assert reaction.credit_notes == ()
    notes = [d for d in billing.invoices.list(OWNER, acct) if d.type is DocumentType.CREDIT_NOTE]
    assert [d.id for d in notes] == [note.id]

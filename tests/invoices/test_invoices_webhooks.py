"""Billing reacts to provider webhooks (``Billing.on_webhook``): a refund gets
its credit note (also one made on the provider's dashboard, from the
provider's cumulative refunded total), never twice and never above the
invoice; a dispute is recorded, emitted and readable by the owner; events
about charges billing did not make are ignored."""

from __future__ import annotations

import json
import secrets
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from invoices_helpers import OWNER, STAFF, account_with_card, customer
from sqlalchemy import inspect, select

import paygate
from paygate.billing import Actor, Billing, BillingPermissionDenied, Reaction
from paygate.billing.documents import DocumentType
from paygate.billing.models import DraftLine
from paygate.billing.store import Store
from paygate.ledger import migrations as mig
from paygate.ledger.billing_schema import accounts, invoices
from paygate.ledger.sql import make_engine
from paygate.models import WebhookEvent
from paygate.money import Money

EUR = "EUR"


def subscribed(billing: Billing, *, profile: bool = True) -> tuple[str, str, str]:
    """``(account, 380 document id or "", charge transaction id)`` of a
    fresh subscription paid now."""
    acct = customer(billing) if profile else account_with_card(billing, currency=EUR)
    billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="k1")
    [inv] = billing.invoices(OWNER, acct)
    assert inv.transaction_id is not None
    docs = billing.invoices.list(OWNER, acct) if profile else []
    return acct, (docs[0].id if docs else ""), inv.transaction_id


def deliver(billing: Billing, headers: dict[str, str], body: bytes) -> Any:
    event = billing.payments.parse_webhook("sandbox", headers, body)
    return billing.on_webhook(event)


def webhook(billing: Billing, event_type: str, tx_id: str) -> tuple[dict[str, str], bytes]:
    sandbox = billing.payments.plugin("sandbox")
    headers, body = sandbox.make_webhook(event_type, tx_id)
    return dict(headers), body


def crafted(
    billing: Billing,
    event_type: str,
    *,
    reference: str | None,
    transaction_id: str | None,
    amount: int | None,
    currency: str | None = EUR,
) -> tuple[dict[str, str], bytes]:
    """A signed sandbox delivery with the fields a provider chose to send."""
    sandbox = billing.payments.plugin("sandbox")
    body = json.dumps(
        {
            "id": "evt_" + secrets.token_hex(8),
            "type": event_type,
            "created": int(time.time()),
            "data": {
                "reference": reference,
                "transaction_id": transaction_id,
                "amount": amount,
                "currency": currency,
            },
        }
    ).encode()
    return {"Paygate-Signature": sandbox.sign(body)}, body


def credit_notes(billing: Billing, acct: str) -> list[Any]:
    return [d for d in billing.invoices.list(OWNER, acct) if d.type is DocumentType.CREDIT_NOTE]


def events(billing: Billing, kind: str) -> list[Any]:
    return [e for e in billing.events() if e.type == kind]


def test_a_refund_through_payments_gets_one_credit_note(billing: Billing) -> None:
    acct, doc_id, tx_id = subscribed(billing)
    billing.payments.refund(tx_id, Money("10.00", EUR), idempotency_key="r1")
    headers, body = webhook(billing, "payment.refunded", tx_id)
    done = deliver(billing, headers, body)
    assert done.outcome is Reaction.CREDITED
    [credit] = credit_notes(billing, acct)
    assert done.credit_notes == (credit.id,)
    assert credit.preceding_id == doc_id and credit.total == Money("10.00", EUR)
    assert billing.invoices.show(OWNER, doc_id).amended_by == (credit.id,)
    [emitted] = events(billing, "invoice.refunded")
    assert emitted.payload["credit_note_id"] == credit.id
    assert Money(*emitted.payload["amount"].split()) == Money("10.00", EUR)
    # The same delivery again: the ledger flags it a duplicate, billing handles
    # it again and finds nothing left to credit.
    again = deliver(billing, headers, body)
    assert again.outcome is Reaction.IGNORED and "already credited" in again.reason
    # A new delivery (new event id) for the same refunded total: nothing new.
    headers, body = webhook(billing, "payment.refunded", tx_id)
    assert deliver(billing, headers, body).outcome is Reaction.IGNORED
    assert len(credit_notes(billing, acct)) == 1
    assert len(events(billing, "invoice.refunded")) == 1


def test_a_refund_credited_through_invoices_refund_is_not_credited_again(
    billing: Billing,
) -> None:
    acct, doc_id, tx_id = subscribed(billing)
    made = billing.invoices.refund(STAFF, doc_id, Money("5.00", EUR), idempotency_key="r1")
    headers, body = webhook(billing, "payment.refunded", tx_id)
    done = deliver(billing, headers, body)
    assert done.outcome is Reaction.IGNORED and done.credit_notes == ()
    assert [d.id for d in credit_notes(billing, acct)] == [made.id]


def test_a_dashboard_refund_is_credited_from_the_providers_total(billing: Billing) -> None:
    acct, doc_id, tx_id = subscribed(billing)
    sandbox = billing.payments.plugin("sandbox")
    sandbox.refund_outside(tx_id, Money("8.00", EUR))
    done = deliver(billing, *webhook(billing, "payment.refunded", tx_id))
    assert done.outcome is Reaction.CREDITED and done.credited == Money("8.00", EUR)
    assert billing.payments.transaction(tx_id).refunds == ()  # paygate moved no money
    # A second partial refund on the dashboard: the event says 20.00 in total.
    sandbox.refund_outside(tx_id, Money("12.00", EUR))
    headers, body = webhook(billing, "payment.refunded", tx_id)
    assert deliver(billing, headers, body).credited == Money("12.00", EUR)
    # Redelivered, under the same id or a new one: nothing more.
    deliver(billing, headers, body)
    deliver(billing, *webhook(billing, "payment.refunded", tx_id))
    notes = credit_notes(billing, acct)
    assert sorted(n.total.amount for n in notes) == [Decimal("8.00"), Decimal("12.00")]
    refunded = sandbox.payment(billing.payments.transaction(tx_id).provider_reference)
    assert sum(n.total.minor_units for n in notes) == refunded["refunded"] == 2000
    assert all(n.preceding_id == doc_id for n in notes)


def test_ours_and_a_dashboard_refund_together_add_up(billing: Billing) -> None:
    acct, _, tx_id = subscribed(billing)
    billing.payments.refund(tx_id, Money("5.00", EUR), idempotency_key="r1")
    billing.payments.plugin("sandbox").refund_outside(tx_id, Money("3.00", EUR))
    done = deliver(billing, *webhook(billing, "payment.refunded", tx_id))
    assert done.credited == Money("8.00", EUR) and len(done.credit_notes) == 2
    assert sorted(n.total.amount for n in credit_notes(billing, acct)) == [
        Decimal("3.00"),
        Decimal("5.00"),
    ]


def test_credits_never_exceed_the_invoice_total(billing: Billing) -> None:
    acct, doc_id, tx_id = subscribed(billing)
    total = billing.invoices.show(OWNER, doc_id).total
    ref = billing.payments.transaction(tx_id).provider_reference
    # A provider reporting more refunded than was ever invoiced.
    headers, body = crafted(
        billing,
        "payment.refunded",
        reference=ref,
        transaction_id=tx_id,
        amount=total.minor_units + 500,
    )
    done = deliver(billing, headers, body)
    assert done.outcome is Reaction.CREDITED and done.credited == total
    assert done.problems and "more than" in done.problems[0]
    assert sum(n.total.amount for n in credit_notes(billing, acct)) == total.amount
    [review] = events(billing, "invoice.refund_review")
    assert review.payload["transaction_id"] == tx_id


def test_a_refund_without_its_amount_is_left_for_review(billing: Billing) -> None:
    acct, _, tx_id = subscribed(billing)
    ref = billing.payments.transaction(tx_id).provider_reference
    headers, body = crafted(
        billing, "payment.refunded", reference=ref, transaction_id=tx_id, amount=None
    )
    done = deliver(billing, headers, body)
    assert done.outcome is Reaction.REVIEW and "without its amount" in done.reason
    assert credit_notes(billing, acct) == []
    [review] = events(billing, "invoice.refund_review")
    assert review.payload["refunded_total"] is None


def test_without_a_billing_profile_the_refund_is_only_emitted(billing: Billing) -> None:
    acct, _, tx_id = subscribed(billing, profile=False)
    billing.payments.refund(tx_id, Money("4.00", EUR), idempotency_key="r1")
    done = deliver(billing, *webhook(billing, "payment.refunded", tx_id))
    assert done.outcome is Reaction.REFUND_RECORDED
    assert billing.invoices.list(OWNER, acct) == []
    [emitted] = events(billing, "invoice.refunded")
    assert Money(*emitted.payload["refunded_total"].split()) == Money("4.00", EUR)


def test_a_dispute_is_recorded_emitted_and_shown_to_the_owner(billing: Billing) -> None:
    acct, _, tx_id = subscribed(billing)
    headers, body = webhook(billing, "dispute.opened", tx_id)
    done = deliver(billing, headers, body)
    assert done.outcome is Reaction.DISPUTE_RECORDED
    [dispute] = billing.disputes(OWNER, acct)
    assert dispute.id == done.dispute_id and dispute.status == "open"
    assert dispute.transaction_id == tx_id and dispute.provider == "sandbox"
    assert dispute.amount == billing.payments.transaction(tx_id).amount
    assert dispute.provider_event_id == json.loads(body)["id"]
    assert [d.id for d in billing.details(OWNER, acct).open_disputes] == [dispute.id]
    assert [d.id for d in billing.disputes(STAFF, acct)] == [dispute.id]
    with pytest.raises(BillingPermissionDenied):
        billing.disputes(Actor.user("stranger"), acct)
    [emitted] = events(billing, "dispute.opened")
    assert emitted.payload["dispute_id"] == dispute.id and emitted.account_id == acct
    assert deliver(billing, headers, body).outcome is Reaction.IGNORED
    assert len(billing.disputes(OWNER, acct)) == 1


def test_events_about_charges_billing_did_not_make_are_ignored(billing: Billing) -> None:
    acct, _, billing_tx = subscribed(billing)
    shop = billing.payments.purchase(
        Money("15.00", EUR),
        paygate.Card("4242424242424242", 12, 2031, "123"),
        idempotency_key="shop-1",
    )
    billing.payments.refund(shop.id, Money("15.00", EUR), idempotency_key="shop-r1")
    for kind in ("payment.refunded", "dispute.opened"):
        done = deliver(billing, *webhook(billing, kind, shop.id))
        assert done.outcome is Reaction.IGNORED and done.reason == "not a billing charge"
    # Metadata naming a billing charge on another payment's reference: the
    # provider's reference decides, as in the ledger.
    headers, body = crafted(
        billing,
        "payment.refunded",
        reference=shop.provider_reference,
        transaction_id=billing_tx,
        amount=1500,
    )
    assert deliver(billing, headers, body).outcome is Reaction.IGNORED
    assert credit_notes(billing, acct) == [] and billing.disputes(OWNER, acct) == []
    assert deliver(billing, *webhook(billing, "payment.captured", billing_tx)).reason == (
        "billing does not react to payment.captured"
    )


def test_an_event_without_our_transaction_id_is_matched_by_reference(billing: Billing) -> None:
    acct, _, tx_id = subscribed(billing)
    ref = billing.payments.transaction(tx_id).provider_reference
    # A Stripe dispute carries the PaymentIntent, not our metadata.
    headers, body = crafted(
        billing, "dispute.opened", reference=ref, transaction_id=None, amount=700
    )
    done = deliver(billing, headers, body)
    assert done.outcome is Reaction.DISPUTE_RECORDED and done.transaction_id == tx_id
    [dispute] = billing.disputes(OWNER, acct)
    assert dispute.amount == Money("7.00", EUR)


def test_on_webhook_refuses_what_is_not_an_event(billing: Billing) -> None:
    with pytest.raises(paygate.errors.InvalidRequest):
        billing.on_webhook({"type": "payment.refunded"})  # type: ignore[arg-type]
    event = WebhookEvent(id="evt_1", provider="sandbox", type="other", provider_type="x")
    assert billing.on_webhook(event).outcome is Reaction.IGNORED


def test_revision_0005_adds_disputes_and_transaction_indexes(db_url: str) -> None:
    engine = make_engine(db_url)
    assert engine is not None
    mig.upgrade(engine, "0004")
    with engine.connect() as conn:
        assert not inspect(conn).has_table("paygate_billing_disputes")
    # A database the previous release made, with a paid billing invoice in it.
    store = Store(engine)
    then = datetime(2027, 1, 31, 10, tzinfo=UTC)
    with store.write() as conn:
        conn.execute(
            accounts.insert().values(
                id="acct_old",
                owner_ref="o",
                currency=EUR,
                timezone="Europe/Paris",
                nonprofit=False,
                created_at=then,
                updated_at=then,
            )
        )
        inv = store.create_draft(
            conn,
            dedupe_key="old:1",
            account_id="acct_old",
            subscription_id=None,
            reason="test",
            currency=EUR,
            lines=[DraftLine(kind="one_off", description="plan", amount=Money("30.00", EUR))],
            now=then,
        )
        store.update_invoice(conn, inv, transaction_id="txn_old")
    mig.upgrade(engine)
    with engine.connect() as conn:
        found = inspect(conn)
        assert mig.current_revision(conn) == "0005"
        assert found.has_table("paygate_billing_disputes")
        names = {ix["name"] for ix in found.get_indexes("paygate_billing_invoices")}
        assert "ix_paygate_billing_invoices_transaction" in names
    # The old invoice is still there, found by its charge as on_webhook finds it.
    with store.read() as conn:
        kept = conn.execute(
            select(invoices.c.id).where(invoices.c.transaction_id == "txn_old")
        ).scalar_one()
        assert store.invoice(conn, kept).total == Money("30.00", EUR)
    mig.downgrade(engine, "0004")
    with engine.connect() as conn:
        assert not inspect(conn).has_table("paygate_billing_disputes")
        assert conn.execute(select(invoices.c.id)).scalar_one() == kept
    engine.dispose()


def test_two_deliveries_at_once_never_credit_more_than_was_refunded(billing: Billing) -> None:
    # Two dashboard refunds (8.00, then 12.00) and their two events, the
    # first saying 8.00 and the second 20.00 in total, delivered at the same
    # moment by two workers: whichever order, the credits add up to 20.00.
    acct, _, tx_id = subscribed(billing)
    sandbox = billing.payments.plugin("sandbox")
    sandbox.refund_outside(tx_id, Money("8.00", EUR))
    first = billing.payments.parse_webhook("sandbox", *webhook(billing, "payment.refunded", tx_id))
    sandbox.refund_outside(tx_id, Money("12.00", EUR))
    second = billing.payments.parse_webhook("sandbox", *webhook(billing, "payment.refunded", tx_id))

    class SlowIssue:
        """Issuing takes a while (a slow renderer would): both workers have
        read what is credited before either writes, unless they queue."""

        @paygate.hookimpl
        def paygate_billing_mentions(self, document: Any) -> None:
            time.sleep(0.3)

    billing.payments.plugin_manager.register(SlowIssue())
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def react(event: WebhookEvent) -> None:
        start.wait()
        try:
            billing.on_webhook(event)
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    workers = [threading.Thread(target=react, args=(e,)) for e in (first, second)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    assert sum(n.total.amount for n in credit_notes(billing, acct)) == Decimal("20.00")


def test_a_memory_ledger_matches_an_event_by_reference(db_url: str, clock: Any) -> None:
    # Billing on its own database beside a ledger kept in memory: the event
    # without our transaction id is still matched through the ledger.
    from invoices_helpers import FastRenderer, make_payments

    payments = make_payments("memory", renderer=FastRenderer)
    try:
        billing = Billing(payments, database_url=db_url, clock=clock)
        acct, _, tx_id = subscribed(billing)
        ref = payments.transaction(tx_id).provider_reference
        headers, body = crafted(
            billing, "dispute.opened", reference=ref, transaction_id=None, amount=None
        )
        done = deliver(billing, headers, body)
        assert done.outcome is Reaction.DISPUTE_RECORDED and done.transaction_id == tx_id
        [dispute] = billing.disputes(OWNER, acct)
        assert dispute.amount is None  # never guessed from the charge
    finally:
        payments.close()


def test_without_a_seller_the_refund_is_emitted_not_refused(db_url: str, clock: Any) -> None:
    # A host that issues no legal documents (no [invoices] seller) still gets
    # the refund as an event: no document is attempted, nothing raises.
    from invoices_helpers import FastRenderer, make_payments

    payments = make_payments(db_url, renderer=FastRenderer, invoices={})
    try:
        billing = Billing(payments, clock=clock)
        acct = customer(billing)
        billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="k1")
        [inv] = billing.invoices(OWNER, acct)
        assert inv.transaction_id is not None
        payments.refund(inv.transaction_id, Money("2.00", EUR), idempotency_key="r1")
        done = deliver(billing, *webhook(billing, "payment.refunded", inv.transaction_id))
        assert done.outcome is Reaction.REFUND_RECORDED
        assert [e.type for e in billing.events()][-1] == "invoice.refunded"
    finally:
        payments.close()

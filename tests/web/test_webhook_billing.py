"""End to end: provider deliveries through ``webhook_endpoint`` reach billing
(``on_event=billing.on_webhook``): a refund gets its credit note, a dispute is
recorded; the demo host (``paygate serve``) is wired the same way."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient
from web_helpers import OWNER, Site

import paygate
from paygate.billing.documents import DocumentType
from paygate.web import webhook_endpoint
from paygate.web.demo import build_demo


def _charge(site: Site) -> str:
    [inv] = site.billing.invoices(OWNER, site.main)
    assert inv.transaction_id is not None
    return inv.transaction_id


def test_a_refund_and_a_dispute_delivered_to_the_endpoint_reach_billing(
    docsite: Site,
) -> None:
    billing, payments = docsite.billing, docsite.payments
    tx_id = _charge(docsite)
    sandbox = payments.plugin("sandbox")
    app = webhook_endpoint(payments, on_event=billing.on_webhook)
    with TestClient(app) as client:
        payments.refund(tx_id, paygate.Money("3.00", "USD"), idempotency_key="r1")
        headers, body = sandbox.make_webhook("payment.refunded", tx_id)
        assert client.post("/sandbox", content=body, headers=headers).status_code == 200
        # The provider retries (a timeout on its side): still one credit note.
        again = client.post("/sandbox", content=body, headers=headers)
        assert again.json()["duplicate"] is True
        headers, body = sandbox.make_webhook("dispute.opened", tx_id)
        assert client.post("/sandbox", content=body, headers=headers).status_code == 200
    docs = billing.invoices.list(OWNER, docsite.main)
    [invoice] = [d for d in docs if d.type is DocumentType.INVOICE]
    [credit] = [d for d in docs if d.type is DocumentType.CREDIT_NOTE]
    assert credit.preceding_id == invoice.id and credit.total == paygate.Money("3.00", "USD")
    [dispute] = billing.disputes(OWNER, docsite.main)
    assert dispute.transaction_id == tx_id and dispute.status == "open"


def test_the_demo_host_hands_webhooks_to_billing(tmp_path: Path) -> None:
    host = build_demo(tmp_path / "demo.sqlite3", seed_data=False)
    try:
        billing = host.billing
        acct = billing.create_account(OWNER.ref, currency="USD", timezone="Europe/Paris").id
        billing.add_payment_method(
            OWNER, acct, paygate.Card("4242424242424242", 12, 2031, "123"), idempotency_key="c"
        )
        billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="signup")
        [inv] = billing.invoices(OWNER, acct)
        assert inv.transaction_id is not None
        sandbox = host.payments.plugin("sandbox")
        with TestClient(host.app) as client:
            headers, body = sandbox.make_webhook("dispute.opened", inv.transaction_id)
            answer = client.post("/webhooks/sandbox", content=body, headers=headers)
        assert answer.status_code == 200
        assert [d.invoice_id for d in billing.disputes(OWNER, acct)] == [inv.id]
    finally:
        host.close()


def test_a_reaction_that_failed_is_completed_by_the_providers_redelivery(
    docsite: Site,
) -> None:
    """The ledger records the event before billing reacts: if billing's reaction
    fails, the endpoint must ask for a redelivery (503), and the redelivery,
    a duplicate for the ledger, must still reach billing."""
    billing, payments = docsite.billing, docsite.payments
    tx_id = _charge(docsite)
    sandbox = payments.plugin("sandbox")
    calls: list[bool] = []

    def flaky(event: paygate.WebhookEvent) -> object:
        calls.append(event.duplicate)
        if len(calls) == 1:
            raise RuntimeError("the billing database is down")
        return billing.on_webhook(event)

    app = webhook_endpoint(payments, on_event=flaky)
    with TestClient(app) as client:
        payments.refund(tx_id, paygate.Money("4.00", "USD"), idempotency_key="r-flaky")
        headers, body = sandbox.make_webhook("payment.refunded", tx_id)
        first = client.post("/sandbox", content=body, headers=headers)
        assert first.status_code == 503
        docs = billing.invoices.list(OWNER, docsite.main)
        assert not [d for d in docs if d.type is DocumentType.CREDIT_NOTE]
        second = client.post("/sandbox", content=body, headers=headers)
        assert second.status_code == 200 and second.json()["duplicate"] is True
        # A third delivery changes nothing more.
        assert client.post("/sandbox", content=body, headers=headers).status_code == 200
    assert calls == [False, True, True]
    docs = billing.invoices.list(OWNER, docsite.main)
    [credit] = [d for d in docs if d.type is DocumentType.CREDIT_NOTE]
    assert credit.total == paygate.Money("4.00", "USD")

"""The portal's card entry with Stripe, end to end on localstripe: a
PaymentMethod made as Stripe.js makes it (unattached, from the card in the
browser), its ``pm_`` id posted to the portal's card route, and Billing
storing it at Stripe, checking it with $1 (voided) and renewing on it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the web extra is not installed (pip install paygate[web])")
pytest.importorskip("httpx2", reason="Starlette's TestClient needs httpx2 (the web-test extra)")
pytest.importorskip("paygate_pricing", reason="paygate-pricing is not installed")

from paygate_stripe.localserver import LocalStripe
from starlette.testclient import TestClient
from stripe_fixtures import EXP_YEAR
from stripe_portal import (
    OWNER,
    PUBLISHABLE,
    SECRET,
    StripeBilling,
    hidden_fields,
    stripe_billing,
)

from paygate.models import TransactionStatus
from paygate.web import billing_portal

pytestmark = pytest.mark.localserver


@pytest.fixture
def site(tmp_path: Path, localstripe_server: LocalStripe) -> Iterator[StripeBilling]:
    made = stripe_billing(tmp_path, localstripe_server)
    yield made
    made.close()


@pytest.fixture
def client(site: StripeBilling) -> Iterator[TestClient]:
    app = billing_portal(
        site.billing,
        authenticate=lambda request: OWNER,
        account_of=lambda actor: site.account,
        secret=SECRET,
        stripe_publishable_key=PUBLISHABLE,
    )
    with TestClient(app) as test_client:
        yield test_client


def browser_payment_method(site: StripeBilling, number: str = "4242424242424242") -> str:
    """What Stripe.js's createPaymentMethod does: a card PaymentMethod at
    Stripe, attached to no customer; the host only ever sees its id."""
    stripe = site.payments.plugin("stripe").client()
    made = stripe.v1.payment_methods.create(
        {
            "type": "card",
            "card": {"number": number, "exp_month": 12, "exp_year": EXP_YEAR, "cvc": "123"},
            "billing_details": {"name": "Ann Owner"},
        }
    )
    assert made.customer is None
    return str(made.id)


def post_card(client: TestClient, payment_method: str) -> object:
    fields = hidden_fields(client.get("/card").text)
    fields["payment_method"] = payment_method
    return client.post("/card", data=fields, follow_redirects=False)


def test_a_stripe_js_payment_method_becomes_the_accounts_card(
    site: StripeBilling, client: TestClient
) -> None:
    pm = browser_payment_method(site)
    done = post_card(client, pm)
    assert done.status_code == 303, done.text  # type: ignore[attr-defined]
    method = site.billing.account(OWNER, site.account).payment_method
    assert method is not None
    assert (method.provider, method.token) == ("stripe", pm)
    assert (method.brand, method.last4) == ("visa", "4242")
    # the details page (it needs a subscription) shows the card
    site.billing.subscribe(OWNER, site.account, "webinar/s25", idempotency_key="signup")
    details = client.get(done.headers["location"]).text  # type: ignore[attr-defined]
    assert "The card was added." in details and "Visa •••• 4242" in details
    # attached at Stripe to the account's new customer
    stripe = site.payments.plugin("stripe").client()
    assert method.customer_reference and method.customer_reference.startswith("cus_")
    assert stripe.v1.payment_methods.retrieve(pm).customer == method.customer_reference
    # the $1 check, made on the stored card and voided at once
    [verify] = site.operations("verify")
    tx = site.payments.transaction(verify.transaction_id)
    assert tx.status is TransactionStatus.VOIDED and str(tx.amount.amount) == "1.00"
    intent = stripe.v1.payment_intents.retrieve(str(tx.provider_reference))
    assert intent.status == "canceled" and intent.payment_method == pm
    assert intent.customer == method.customer_reference


def test_renewals_charge_the_stripe_js_card(site: StripeBilling, client: TestClient) -> None:
    pm = browser_payment_method(site)
    assert post_card(client, pm).status_code == 303  # type: ignore[attr-defined]
    sub = site.billing.subscribe(OWNER, site.account, "webinar/s25", idempotency_key="signup")
    # the day after the period ends (the account's time zone is a few hours off UTC)
    site.clock.now = datetime.combine(sub.period_end + timedelta(days=1), time(12), tzinfo=UTC)
    site.billing.run_once()
    charges = site.operations("charge_recurring")
    assert len(charges) == 2  # the sign-up and the first renewal
    stripe = site.payments.plugin("stripe").client()
    for op in charges:
        tx = site.payments.transaction(op.transaction_id)
        assert tx.status is TransactionStatus.CAPTURED
        intent = stripe.v1.payment_intents.retrieve(str(tx.provider_reference))
        assert intent.payment_method == pm and intent.status == "succeeded"
    paid = [i for i in site.billing.invoices(OWNER, site.account) if i.status == "paid"]
    assert len(paid) == 2


def test_a_declined_card_keeps_the_old_one(site: StripeBilling, client: TestClient) -> None:
    first = browser_payment_method(site)
    assert post_card(client, first).status_code == 303  # type: ignore[attr-defined]
    # Stripe's test card that attaches but declines every charge
    declining = browser_payment_method(site, "4000000000000341")
    page = post_card(client, declining)
    assert page.status_code == 402  # type: ignore[attr-defined]
    assert "The card was refused" in page.text  # type: ignore[attr-defined]
    method = site.billing.account(OWNER, site.account).payment_method
    assert method is not None and method.token == first


def test_card_numbers_are_refused_before_stripe_is_asked(
    site: StripeBilling, client: TestClient
) -> None:
    fields = hidden_fields(client.get("/card").text)
    fields.update(number="4242424242424242", exp_month="12", exp_year=str(EXP_YEAR), cvc="123")
    page = client.post("/card", data=fields, follow_redirects=False)
    assert page.status_code == 400
    assert site.payments.ledger.operations() == []
    assert site.billing.account(OWNER, site.account).payment_method is None

"""Through the core: ``paygate.Payments`` with the Stripe plugin (entry point) on localstripe."""

from __future__ import annotations

import json

import pytest
from paygate_stripe.localserver import LocalStripe
from stripe_fixtures import Requests, fake_key

from paygate.errors import CardDeclined
from paygate.models import TransactionStatus
from paygate.money import Money

S = TransactionStatus


@pytest.fixture
def payments(localstripe_server: LocalStripe):
    import paygate

    with paygate.Payments(
        {
            "database_url": "memory",
            "default_provider": "stripe",
            "stripe": {
                "api_key": fake_key(),
                "api_base": localstripe_server.url,
                "localstripe": True,
                "max_network_retries": 0,
            },
        }
    ) as payments:
        yield payments


@pytest.mark.localserver
def test_stripe_facade_authorize_capture_refund(payments, reqs: Requests) -> None:
    tx = payments.authorize(Money("10.00", "USD"), reqs.card(), provider="stripe")
    assert tx.status is S.AUTHORIZED
    assert tx.provider == "stripe"
    tx = payments.capture(tx.id, Money("6.00", "USD"))
    assert tx.captured == Money("6.00", "USD")
    tx = payments.refund(tx.id, Money("2.00", "USD"))
    tx = payments.refund(tx.id)
    assert tx.status is S.REFUNDED
    assert tx.refunded == Money("6.00", "USD")


@pytest.mark.localserver
def test_stripe_facade_decline_raises_card_declined(payments, reqs: Requests) -> None:
    with pytest.raises(CardDeclined) as err:
        payments.purchase(Money("10.00", "USD"), reqs.card("4000000000000341"), provider="stripe")
    assert err.value.code.value == "card_declined"
    assert err.value.transaction is not None
    assert err.value.transaction.status is S.FAILED


@pytest.mark.localserver
def test_stripe_facade_verify_store_and_renew(payments, reqs: Requests) -> None:
    verified = payments.verify(reqs.card(), provider="stripe")
    assert verified.status is S.VOIDED
    stored = payments.store_payment_method(reqs.card(), provider="stripe")
    assert stored.provider == "stripe"
    renewal = payments.charge_recurring(Money("29.00", "USD"), stored)
    assert renewal.status is S.CAPTURED


def test_stripe_listed_by_paygate_plugins() -> None:
    from click.testing import CliRunner

    from paygate.cli import main

    result = CliRunner().invoke(main, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    text = json.dumps(data)
    assert "stripe" in text
    assert "three_d_secure" in text

"""A PaymentIntent Stripe has not settled yet (``processing``) through the core.

The plugin answers ``unknown``; the ledger must record an ``unknown``
operation that moves no money (not ``succeeded``), and ``reconcile`` must
settle it from Stripe's later answer, after which a retry with the key
replays the settled outcome instead of ``unknown`` forever.
"""

from __future__ import annotations

import pytest
import responses
from stripe_fixtures import API, Requests, fake_key, payment_intent, payment_method

import paygate
from paygate.errors import ProviderUnavailable
from paygate.ledger import OperationState
from paygate.models import TransactionStatus
from paygate.money import Money

S = TransactionStatus


def test_a_processing_payment_intent_is_unknown_until_reconcile(
    mocked: responses.RequestsMock, reqs: Requests
) -> None:
    pm = payment_method()
    pi = payment_intent(status="processing", payment_method=pm["id"], amount=700)
    mocked.post(f"{API}/v1/payment_methods", json=pm)
    mocked.post(f"{API}/v1/payment_intents", json=pi)
    config = {
        "database_url": "memory",
        "default_provider": "stripe",
        "stripe": {"api_key": fake_key(), "max_network_retries": 0},
    }
    with paygate.Payments(config, load_entrypoints=True) as payments:
        with pytest.raises(ProviderUnavailable) as caught:
            payments.purchase(Money("7.00", "USD"), reqs.card(), idempotency_key="order-7")
        tx = caught.value.transaction
        assert tx is not None
        assert tx.captured == Money("0.00", "USD")
        assert tx.provider_reference == pi["id"]
        (record,) = payments.ledger.operations()
        assert record.state is OperationState.UNKNOWN

        settled = {**pi, "status": "succeeded", "amount_received": 700}
        mocked.get(f"{API}/v1/payment_intents/{pi['id']}", json=settled)
        report = payments.reconcile()
        assert (report.checked, report.succeeded) == (1, 1)
        assert payments.transaction(tx.id).captured == Money("7.00", "USD")
        replay = payments.purchase(Money("7.00", "USD"), reqs.card(), idempotency_key="order-7")
        assert replay.status is S.CAPTURED

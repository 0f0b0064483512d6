"""Against the real PayPal sandbox, when PAYPAL_CLIENT_ID/PAYPAL_CLIENT_SECRET are set.

Only what needs no payer: OAuth, order creation with the approval link, and
reading the order back. Approval needs a browser and a sandbox buyer account.
"""

from __future__ import annotations

import os
import uuid

import pytest
from paygate_paypal.plugin import PayPalProvider

from paygate.config import Config
from paygate.models import PayPalWallet, TransactionStatus
from paygate.money import Money
from paygate.operations import FetchRequest, Operation, PaymentRequest

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.skipif(
        not (os.environ.get("PAYPAL_CLIENT_ID") and os.environ.get("PAYPAL_CLIENT_SECRET")),
        reason="PAYPAL_CLIENT_ID/PAYPAL_CLIENT_SECRET not set: PayPal sandbox tests skipped",
    ),
]


def test_sandbox_order_needs_payer_approval() -> None:
    provider = PayPalProvider()
    provider.paygate_configure(Config({"paypal": {"environment": "sandbox", "timeout": 30}}))
    txn_id = "txn_" + uuid.uuid4().hex[:12]
    result = provider.paygate_authorize(
        PaymentRequest(
            operation=Operation.AUTHORIZE,
            provider="paypal",
            transaction_id=txn_id,
            idempotency_key=uuid.uuid4().hex,
            amount=Money("1.00", "USD"),
            method=PayPalWallet(),
        )
    )
    assert result.status is TransactionStatus.REQUIRES_ACTION
    assert result.next_action is not None
    assert "paypal.com" in result.next_action.redirect_url
    fetched = provider.paygate_fetch_transaction(
        FetchRequest(
            operation=Operation.FETCH_TRANSACTION,
            provider="paypal",
            transaction_id=txn_id,
            idempotency_key=uuid.uuid4().hex,
            provider_reference=result.provider_reference,
            of_operation=Operation.AUTHORIZE,
        )
    )
    assert fetched is not None
    assert fetched.status is TransactionStatus.REQUIRES_ACTION
    assert provider.client.token_fetches == 1

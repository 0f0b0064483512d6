"""Local-server layer: the same flows over real HTTP against localstripe.

localstripe's gaps (DOMAIN.md): 4000000000000002 declines only when attached
(4000000000000341 declines at charge), over-refunds and idempotency keys are
not enforced, fees are 0; those behaviours are covered by the recorded layer.
"""

from __future__ import annotations

import pytest
import requests
from paygate_stripe.localserver import LOCALSTRIPE_KEY, LocalStripe
from paygate_stripe.plugin import StripeProvider
from stripe_fixtures import Requests

from paygate.models import TransactionStatus
from paygate.money import Money
from paygate.operations import Operation

pytestmark = pytest.mark.localserver
S = TransactionStatus


def test_stripe_local_authorize_partial_capture_and_refunds(
    local_provider: StripeProvider, reqs: Requests
) -> None:
    auth = local_provider.paygate_authorize(reqs.payment("10.00"))
    assert auth.status is S.AUTHORIZED
    assert auth.provider_reference
    assert auth.provider_reference.startswith("pi_")

    captured = local_provider.paygate_capture(reqs.capture(auth.provider_reference, "6.00"))
    assert captured.status is S.CAPTURED
    assert captured.amount == Money("6.00", "USD")

    r1 = local_provider.paygate_refund(reqs.refund(auth.provider_reference, "2.00", "6.00"))
    assert r1.status is S.PARTIALLY_REFUNDED
    r2 = local_provider.paygate_refund(reqs.refund(auth.provider_reference, "4.00", "6.00", "2.00"))
    assert r2.status is S.REFUNDED
    assert r1.operation_reference != r2.operation_reference


def test_stripe_local_purchase_and_full_refund(
    local_provider: StripeProvider, reqs: Requests
) -> None:
    paid = local_provider.paygate_authorize(
        reqs.payment("25.00", capture=True, operation=Operation.PURCHASE)
    )
    assert paid.status is S.CAPTURED
    assert paid.provider_reference is not None
    refund = local_provider.paygate_refund(reqs.refund(paid.provider_reference, "25.00", "25.00"))
    assert refund.status is S.REFUNDED
    assert refund.amount == Money("25.00", "USD")


def test_stripe_local_void(local_provider: StripeProvider, reqs: Requests) -> None:
    auth = local_provider.paygate_authorize(reqs.payment("5.00"))
    assert auth.provider_reference is not None
    assert (
        local_provider.paygate_void(reqs.void(auth.provider_reference, "5.00")).status is S.VOIDED
    )


def test_stripe_local_decline_at_charge(local_provider: StripeProvider, reqs: Requests) -> None:
    result = local_provider.paygate_authorize(reqs.payment(method=reqs.card("4000000000000341")))
    assert result.status is S.FAILED
    assert result.error is not None
    assert result.error.code == "card_declined"


def test_stripe_local_three_d_secure(
    local_provider: StripeProvider, localstripe_server: LocalStripe, reqs: Requests
) -> None:
    first = local_provider.paygate_authorize(reqs.payment(method=reqs.card("4000002500003155")))
    assert first.status is S.REQUIRES_ACTION
    assert first.next_action is not None
    assert first.provider_reference is not None
    assert first.next_action.redirect_url.startswith(localstripe_server.url)

    # The payer completes 3-D Secure (localstripe's stand-in for the issuer page).
    secret = (
        local_provider.client().v1.payment_intents.retrieve(first.provider_reference).client_secret
    )
    answer = requests.post(
        first.next_action.redirect_url,
        data={"client_secret": secret, "success": "true"},
        headers={"Authorization": f"Bearer {LOCALSTRIPE_KEY}"},
        timeout=10,
    )
    assert answer.status_code == 200

    done = local_provider.paygate_confirm(reqs.confirm(first.provider_reference))
    assert done.status is S.AUTHORIZED


def test_stripe_local_three_d_secure_failed(local_provider: StripeProvider, reqs: Requests) -> None:
    first = local_provider.paygate_authorize(reqs.payment(method=reqs.card("4000002760003184")))
    assert first.next_action is not None
    assert first.provider_reference is not None
    secret = (
        local_provider.client().v1.payment_intents.retrieve(first.provider_reference).client_secret
    )
    requests.post(
        first.next_action.redirect_url,
        data={"client_secret": secret, "success": "false"},
        headers={"Authorization": f"Bearer {LOCALSTRIPE_KEY}"},
        timeout=10,
    )
    done = local_provider.paygate_confirm(reqs.confirm(first.provider_reference))
    assert done.status is S.FAILED
    assert done.error is not None
    assert done.error.code == "authentication_required"


def test_stripe_local_store_then_charge_recurring(
    local_provider: StripeProvider, reqs: Requests
) -> None:
    from paygate.models import Customer

    stored = local_provider.paygate_store_payment_method(
        reqs.store(customer=Customer(id="acct-1", email="owner@example.com"))
    ).stored_method
    assert stored is not None
    assert stored.token.startswith("pm_")
    assert stored.customer_reference
    assert stored.last4 == "4242"

    renewal = local_provider.paygate_charge_recurring(
        reqs.payment("29.00", method=stored, capture=True, operation=Operation.CHARGE_RECURRING)
    )
    assert renewal.status is S.CAPTURED
    assert renewal.amount == Money("29.00", "USD")


def test_stripe_local_store_declined_on_attach(
    local_provider: StripeProvider, reqs: Requests
) -> None:
    result = local_provider.paygate_store_payment_method(reqs.store(reqs.card("4000000000000002")))
    assert result.status is S.FAILED
    assert result.stored_method is None
    assert result.error is not None
    assert result.error.code == "card_declined"


def test_stripe_local_fetch_lost_answer(local_provider: StripeProvider, reqs: Requests) -> None:
    request = reqs.payment("7.00")
    sent = local_provider.paygate_authorize(request)
    # The answer was lost: find the PaymentIntent by the core's transaction id.
    found = local_provider.paygate_fetch_transaction(reqs.fetch(request.transaction_id))
    assert found is not None
    assert found.provider_reference == sent.provider_reference
    assert found.status is S.AUTHORIZED
    assert local_provider.paygate_fetch_transaction(reqs.fetch("txn_never_sent")) is None


def test_stripe_local_unknown_payment_intent(
    local_provider: StripeProvider, reqs: Requests
) -> None:
    assert local_provider.paygate_fetch_transaction(reqs.fetch("txn_1", "pi_doesnotexist")) is None

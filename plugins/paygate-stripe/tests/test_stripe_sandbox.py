"""Sandbox layer: the same flows against real Stripe test mode.

Runs only when ``STRIPE_API_KEY`` holds an ``sk_test_`` key (``tox -e sandbox``);
otherwise each test is skipped with a one-line reason.

Stripe test accounts refuse raw card numbers unless "raw card data APIs" is
enabled, so these flows pay with Stripe's test PaymentMethods (``pm_card_visa``,
``pm_card_chargeDeclined...``), which stand for the test cards of DOMAIN.md.
"""

from __future__ import annotations

import pytest
from paygate_stripe.plugin import StripeProvider
from stripe_fixtures import Requests

from paygate.models import Customer, StoredPaymentMethod, TransactionStatus
from paygate.money import Money
from paygate.operations import Operation

pytestmark = pytest.mark.sandbox
S = TransactionStatus


def visa(reqs: Requests, token: str = "pm_card_visa") -> StoredPaymentMethod:  # noqa: S107
    return reqs.stored(token, None)


def test_stripe_sandbox_authorize_capture_refund(
    sandbox_provider: StripeProvider, reqs: Requests
) -> None:
    auth = sandbox_provider.paygate_authorize(reqs.payment("10.00", method=visa(reqs)))
    assert auth.status is S.AUTHORIZED
    assert auth.provider_reference
    cap = sandbox_provider.paygate_capture(reqs.capture(auth.provider_reference, "6.00"))
    assert cap.status is S.CAPTURED
    assert cap.amount == Money("6.00", "USD")
    r1 = sandbox_provider.paygate_refund(reqs.refund(auth.provider_reference, "2.00", "6.00"))
    assert r1.status is S.PARTIALLY_REFUNDED
    r2 = sandbox_provider.paygate_refund(
        reqs.refund(auth.provider_reference, "4.00", "6.00", "2.00")
    )
    assert r2.status is S.REFUNDED


def test_stripe_sandbox_void(sandbox_provider: StripeProvider, reqs: Requests) -> None:
    auth = sandbox_provider.paygate_authorize(reqs.payment("5.00", method=visa(reqs)))
    assert auth.provider_reference
    assert (
        sandbox_provider.paygate_void(reqs.void(auth.provider_reference, "5.00")).status is S.VOIDED
    )


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("pm_card_visa_chargeDeclined", "card_declined"),  # 4000000000000002
        ("pm_card_visa_chargeDeclinedInsufficientFunds", "insufficient_funds"),  # ...9995
        ("pm_card_chargeDeclinedExpiredCard", "expired_card"),  # 4000000000000069
        ("pm_card_chargeDeclinedIncorrectCvc", "incorrect_cvc"),  # 4000000000000127
        ("pm_card_chargeDeclinedProcessingError", "processing_error"),  # 4000000000000119
    ],
)
def test_stripe_sandbox_declines(
    sandbox_provider: StripeProvider, reqs: Requests, token: str, code: str
) -> None:
    result = sandbox_provider.paygate_authorize(reqs.payment(method=visa(reqs, token)))
    assert result.status is S.FAILED
    assert result.error is not None
    assert result.error.code == code


def test_stripe_sandbox_three_d_secure(sandbox_provider: StripeProvider, reqs: Requests) -> None:
    # pm_card_authenticationRequired is 4000002500003155
    result = sandbox_provider.paygate_authorize(
        reqs.payment(method=visa(reqs, "pm_card_authenticationRequired"))
    )
    assert result.status is S.REQUIRES_ACTION
    assert result.next_action is not None
    assert result.next_action.redirect_url.startswith("https://")
    # Nobody completes the challenge: confirming leaves it waiting.
    assert result.provider_reference
    again = sandbox_provider.paygate_confirm(reqs.confirm(result.provider_reference))
    assert again.status is S.REQUIRES_ACTION


def test_stripe_sandbox_store_and_recurring(
    sandbox_provider: StripeProvider, reqs: Requests
) -> None:
    stored = sandbox_provider.paygate_store_payment_method(
        reqs.store(visa(reqs), customer=Customer(id="sandbox-acct", email="sandbox@example.com"))
    ).stored_method
    assert stored is not None
    renewal = sandbox_provider.paygate_charge_recurring(
        reqs.payment("29.00", method=stored, capture=True, operation=Operation.CHARGE_RECURRING)
    )
    assert renewal.status is S.CAPTURED


def test_stripe_sandbox_fetch_lost_answer(sandbox_provider: StripeProvider, reqs: Requests) -> None:
    request = reqs.payment("3.00", method=visa(reqs))
    sent = sandbox_provider.paygate_authorize(request)
    found = sandbox_provider.paygate_fetch_transaction(reqs.fetch(request.transaction_id))
    assert found is not None
    assert found.provider_reference == sent.provider_reference

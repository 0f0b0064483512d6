"""Only Stripe saying ``resource_missing`` may settle an operation as never made.

A 404 without it (a misrouted ``api_base``, a proxy's page) says nothing
about the PaymentIntent: ``paygate_fetch_transaction`` must not return None
(reconcile would record a possibly made charge as failed).
"""

from __future__ import annotations

import pytest
import responses
from paygate_stripe.plugin import StripeProvider
from stripe_fixtures import API, Requests

from paygate.errors import ProviderUnavailable


def test_a_bare_404_is_not_a_missing_payment_intent(
    provider: StripeProvider, mocked: responses.RequestsMock, reqs: Requests
) -> None:
    mocked.get(
        f"{API}/v1/payment_intents/pi_maybe",
        status=404,
        body="<html><body>404 Not Found</body></html>",
        content_type="text/html",
    )
    with pytest.raises(ProviderUnavailable):
        provider.paygate_fetch_transaction(reqs.fetch("txn_1", "pi_maybe"))


def test_a_404_of_another_kind_is_not_a_missing_payment_intent(
    provider: StripeProvider, mocked: responses.RequestsMock, reqs: Requests
) -> None:
    mocked.get(
        f"{API}/v1/payment_intents/pi_maybe",
        status=404,
        json={"error": {"type": "invalid_request_error", "message": "Unrecognized request URL"}},
    )
    with pytest.raises(ProviderUnavailable):
        provider.paygate_fetch_transaction(reqs.fetch("txn_1", "pi_maybe"))

"""Only PayPal saying "no such order" may settle an operation as never made.

``paygate_fetch_transaction`` returning None makes ``reconcile`` record the
operation ``failed`` ("never reached the provider"). A failed OAuth token
call (e.g. a 404 from a misrouted ``api_base``) or a 404 that is not PayPal's
own answer says nothing about the order: the operation must stay unknown.
"""

from __future__ import annotations

from typing import Any

import pytest
import responses
from paygate_paypal.plugin import PayPalProvider
from paypal_testdata import BASE, OP, ORDER_ID, common

from paygate.errors import ProviderUnavailable
from paygate.operations import FetchRequest


def fetch(provider: PayPalProvider) -> Any:
    return provider.paygate_fetch_transaction(
        FetchRequest(
            **common(),
            operation=OP.FETCH_TRANSACTION,
            provider_reference=ORDER_ID,
            of_operation=OP.AUTHORIZE,
        )
    )


def test_a_token_call_answered_404_is_not_a_missing_order(
    provider: PayPalProvider, rsps: responses.RequestsMock
) -> None:
    rsps.add(
        responses.POST,
        f"{BASE}/v1/oauth2/token",
        status=404,
        json={"name": "RESOURCE_NOT_FOUND", "message": "The specified resource does not exist."},
    )
    with pytest.raises(ProviderUnavailable):
        fetch(provider)


def test_a_404_without_paypals_answer_is_not_a_missing_order(
    provider: PayPalProvider, rsps: responses.RequestsMock, token: Any
) -> None:
    rsps.add(
        responses.GET,
        f"{BASE}/v2/checkout/orders/{ORDER_ID}",
        status=404,
        body="<html><body>404 Not Found</body></html>",
        content_type="text/html",
    )
    with pytest.raises(ProviderUnavailable):
        fetch(provider)


def test_paypals_own_not_found_still_settles(
    provider: PayPalProvider, rsps: responses.RequestsMock, token: Any
) -> None:
    rsps.add(
        responses.GET,
        f"{BASE}/v2/checkout/orders/{ORDER_ID}",
        status=404,
        json={
            "name": "RESOURCE_NOT_FOUND",
            "message": "The specified resource does not exist.",
            "details": [{"issue": "INVALID_RESOURCE_ID"}],
        },
    )
    assert fetch(provider) is None

"""The plugin's HTTP session takes proxy settings from the environment once,
when the SDK client is built, not on every request."""

from __future__ import annotations

from typing import Any

import pytest
import responses
from paygate_paypal.plugin import PayPalProvider
from paypal_testdata import BASE, common, order_created, usd

from paygate.models import PayPalWallet
from paygate.operations import Operation, PaymentRequest

PROXY = "http://proxy.test:3128"


# paygate's pytest plugin: no proxy variable unless a test sets one.
pytestmark = pytest.mark.usefixtures("no_proxy_environment")


def _authorize(provider: PayPalProvider, key: str) -> None:
    provider.paygate_authorize(
        PaymentRequest(
            **common(idempotency_key=key),
            operation=Operation.AUTHORIZE,
            amount=usd("10.00"),
            method=PayPalWallet(
                return_url="https://shop.example/return", cancel_url="https://shop.example/cancel"
            ),
        )
    )


def test_paypal_requests_use_the_proxy_the_environment_had_at_first_use(
    provider: PayPalProvider,
    rsps: responses.RequestsMock,
    token: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", PROXY)
    rsps.add(responses.POST, f"{BASE}/v2/checkout/orders", json=order_created())
    _authorize(provider, "key-1")
    monkeypatch.delenv("HTTPS_PROXY")  # read once: later requests keep the proxy
    rsps.add(responses.POST, f"{BASE}/v2/checkout/orders", json=order_created())
    _authorize(provider, "key-2")
    paths = [call.request.path_url for call in rsps.calls]
    assert paths == ["/v1/oauth2/token", "/v2/checkout/orders", "/v2/checkout/orders"]
    for call in rsps.calls:
        assert call.request.req_kwargs["proxies"].get("https") == PROXY  # type: ignore[attr-defined]


def test_paypal_no_proxy_covers_the_api_host(
    provider: PayPalProvider,
    rsps: responses.RequestsMock,
    token: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", PROXY)
    monkeypatch.setenv("NO_PROXY", BASE.split("//")[1])
    rsps.add(responses.POST, f"{BASE}/v2/checkout/orders", json=order_created())
    _authorize(provider, "key-1")
    for call in rsps.calls:
        assert "https" not in call.request.req_kwargs["proxies"]  # type: ignore[attr-defined]

"""The SDK client the plugin builds: proxy settings come from the environment
once, when the client is built, not on every request."""

from __future__ import annotations

from typing import Any

import pytest
import requests.sessions
import responses
import stripe
from paygate_stripe.plugin import StripeProvider
from stripe_fixtures import API, Requests, fake_key, make_provider, payment_intent

from paygate.models import StoredPaymentMethod

PROXY = "http://proxy.test:3128"


# paygate's pytest plugin: no proxy variable unless a test sets one.
pytestmark = pytest.mark.usefixtures("no_proxy_environment")


@pytest.fixture
def env_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts requests' per-request reads of the environment (proxies, .netrc)."""
    seen: list[str] = []
    environ_proxies = requests.sessions.get_environ_proxies
    netrc_auth = requests.sessions.get_netrc_auth

    def proxies(url: str, no_proxy: Any = None) -> Any:
        seen.append("proxies")
        return environ_proxies(url, no_proxy=no_proxy)

    def netrc(url: str, raise_errors: bool = False) -> Any:
        seen.append("netrc")
        return netrc_auth(url, raise_errors)

    monkeypatch.setattr(requests.sessions, "get_environ_proxies", proxies)
    monkeypatch.setattr(requests.sessions, "get_netrc_auth", netrc)
    return seen


def _authorize(
    provider: StripeProvider, mocked: responses.RequestsMock, reqs: Requests
) -> responses.Call:
    mocked.post(f"{API}/v1/payment_intents", json=payment_intent(status="requires_capture"))
    method = StoredPaymentMethod(provider="stripe", token="pm_card_visa")
    provider.paygate_authorize(reqs.payment(method=method))
    return mocked.calls[-1]


def _proxies(call: responses.Call) -> dict[str, str]:
    return dict(call.request.req_kwargs["proxies"])  # type: ignore[attr-defined]


def test_stripe_client_takes_its_proxy_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, mocked: responses.RequestsMock, reqs: Requests
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", PROXY)
    provider = make_provider({"api_key": fake_key()})
    assert _proxies(_authorize(provider, mocked, reqs)).get("https") == PROXY


def test_stripe_client_honours_no_proxy_for_the_api_host(
    monkeypatch: pytest.MonkeyPatch, mocked: responses.RequestsMock, reqs: Requests
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", PROXY)
    monkeypatch.setenv("NO_PROXY", "api.stripe.com")
    provider = make_provider({"api_key": fake_key()})
    assert "https" not in _proxies(_authorize(provider, mocked, reqs))


def test_stripe_client_reads_the_environment_once_not_per_request(
    monkeypatch: pytest.MonkeyPatch,
    mocked: responses.RequestsMock,
    reqs: Requests,
    env_reads: list[str],
) -> None:
    provider = make_provider({"api_key": fake_key()})
    _authorize(provider, mocked, reqs)  # builds the client, proxies read then
    monkeypatch.setenv("HTTPS_PROXY", PROXY)
    for _ in range(3):
        call = _authorize(provider, mocked, reqs)
    assert env_reads == []
    assert "https" not in _proxies(call)
    # ~/.netrc is never consulted: its credentials would replace the API key.
    assert call.request.headers["Authorization"].startswith("Bearer sk_test_")


def test_the_sdk_default_client_reads_the_environment_on_every_request(
    mocked: responses.RequestsMock, env_reads: list[str]
) -> None:
    """What the plugin's client avoids (and proof that ``env_reads`` sees it)."""
    client = stripe.StripeClient(
        fake_key(), http_client=stripe.RequestsClient(timeout=5.0), max_network_retries=0
    )
    mocked.post(f"{API}/v1/payment_intents", json=payment_intent(status="requires_capture"))
    mocked.post(f"{API}/v1/payment_intents", json=payment_intent(status="requires_capture"))
    for _ in range(2):
        client.v1.payment_intents.create({"amount": 1000, "currency": "usd"})
    assert env_reads.count("proxies") == 2
    assert env_reads.count("netrc") == 2


def test_stripe_client_sessions_are_per_thread_and_reuse_connections(
    monkeypatch: pytest.MonkeyPatch, mocked: responses.RequestsMock, reqs: Requests
) -> None:
    import threading

    monkeypatch.setenv("HTTPS_PROXY", PROXY)
    provider = make_provider({"api_key": fake_key()})
    _authorize(provider, mocked, reqs)
    monkeypatch.delenv("HTTPS_PROXY")  # a later thread's session keeps the build-time proxy
    http_client: Any = provider.client()._requestor._client
    first = http_client._thread_local.session
    _authorize(provider, mocked, reqs)
    assert http_client._thread_local.session is first
    assert first.trust_env is False
    other: list[Any] = []

    def in_thread() -> None:
        _authorize(provider, mocked, reqs)
        other.append(http_client._thread_local.session)

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join(10)
    assert other and other[0] is not first and other[0].trust_env is False
    assert other[0].proxies.get("https") == PROXY

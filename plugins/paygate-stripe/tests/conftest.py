"""Fixtures for the Stripe plugin's three test layers.

* recorded: ``responses`` answers with bodies shaped like Stripe's API objects;
* local server: localstripe on 127.0.0.1 (``localstripe_server``);
* sandbox: real Stripe test mode when ``STRIPE_API_KEY`` holds an ``sk_test_`` key.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses
from paygate_stripe.localserver import LocalStripe, start_localstripe
from paygate_stripe.plugin import StripeProvider
from stripe_fixtures import SANDBOX_SKIP, Requests, fake_key, make_provider, sandbox_key


@pytest.fixture
def reqs() -> Requests:
    return Requests()


@pytest.fixture
def api_key() -> str:
    return fake_key()


@pytest.fixture
def provider(api_key: str) -> StripeProvider:
    return make_provider(
        {"api_key": api_key, "max_network_retries": 0, "return_url": "https://shop.test/back"}
    )


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


@pytest.fixture
def no_retry_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK sleeps 0.5 s or more between retries; tests need not wait."""
    from stripe._http_client import HTTPClient

    # Its arguments changed across SDK versions (stripe 15 passes a response too).
    monkeypatch.setattr(HTTPClient, "_sleep_time_seconds", lambda self, *args: 0.0)


@pytest.fixture(scope="session")
def localstripe_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStripe]:
    """localstripe on 127.0.0.1 on a free port, for the whole session."""
    pytest.importorskip("localstripe", reason="localstripe not installed (paygate-stripe[test])")
    server = start_localstripe(tmp_path_factory.mktemp("localstripe"), max_seconds=1200)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def local_provider(localstripe_server: LocalStripe) -> StripeProvider:
    return make_provider(
        {
            "api_key": fake_key(),
            "api_base": localstripe_server.url,
            "localstripe": True,
            "max_network_retries": 0,
            "timeout": 10,
        }
    )


@pytest.fixture
def sandbox_provider() -> StripeProvider:
    key = sandbox_key()
    if key is None:
        pytest.skip(SANDBOX_SKIP)
    return make_provider({"api_key": key, "return_url": "https://example.com/paygate/return"})

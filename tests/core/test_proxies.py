"""paygate.proxies: a plugin's requests session takes the environment's proxy
settings once, when it is made, and never reads the environment again."""

from __future__ import annotations

from typing import Any

import pytest
import requests
import requests.sessions
import responses

from paygate.proxies import environment_proxies, read_environment_once

API = "https://api.example.test"
PROXY = "http://proxy.test:3128"


# paygate's pytest plugin: no proxy variable unless a test sets one.
pytestmark = pytest.mark.usefixtures("no_proxy_environment")


def test_environment_proxies_follow_requests_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    assert environment_proxies(API) == {}
    monkeypatch.setenv("https_proxy", PROXY)
    assert environment_proxies(API) == {"https": PROXY}
    monkeypatch.setenv("ALL_PROXY", "http://all.test:1")
    assert environment_proxies(API)["all"] == "http://all.test:1"
    monkeypatch.setenv("NO_PROXY", "api.example.test")
    assert environment_proxies(API) == {}
    assert environment_proxies("https://other.example.test")["https"] == PROXY


def test_session_keeps_the_proxies_it_was_made_with(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", PROXY)
    session = read_environment_once(requests.Session(), API)
    assert session.trust_env is False
    monkeypatch.delenv("HTTPS_PROXY")
    calls: list[Any] = []
    environ_proxies = requests.sessions.get_environ_proxies
    monkeypatch.setattr(
        requests.sessions,
        "get_environ_proxies",
        lambda *a, **k: calls.append(a) or environ_proxies(*a, **k),
    )
    with responses.RequestsMock() as mock:
        mock.get(f"{API}/ping", json={"ok": True})
        session.get(f"{API}/ping", timeout=5)
        sent = mock.calls[0].request
    assert sent.req_kwargs["proxies"]["https"] == PROXY  # type: ignore[attr-defined]
    assert calls == []

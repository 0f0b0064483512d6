"""The kit's wire: what it records, and what each fault does to the gateway and the plugin."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests
import responses

from paygate.testing.wire import Wire, WireRequest

URL = "https://gateway.test/v1/charges"


@pytest.fixture
def gateway() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(URL, json={"id": "ch_1"})
        yield mock


def post(key: str, body: dict[str, object] | None = None) -> requests.Response:
    return requests.post(
        URL, json=body or {"amount": 2000}, headers={"Idempotency-Key": key}, timeout=5
    )


def test_records_method_path_key_and_body_above_a_responses_mock(
    gateway: responses.RequestsMock,
) -> None:
    with Wire() as wire:
        assert post("k1").json() == {"id": "ch_1"}
    (sent,) = wire.requests
    assert (sent.method, sent.path, sent.status) == ("POST", "/v1/charges", 200)
    assert wire.keys() == ["k1"] and wire.with_key("k1") == [sent]
    assert sent.amount_minor(2) == 2000
    assert "2000" not in repr(sent)  # a body may hold a card number: never shown


@pytest.mark.parametrize(
    ("fault", "raised"),
    [
        ("drop", requests.ConnectionError),
        ("reset", requests.ConnectionError),
        ("timeout", requests.ReadTimeout),
    ],
)
def test_an_answer_lost_after_the_gateway_acted(
    gateway: responses.RequestsMock, fault: str, raised: type[Exception]
) -> None:
    with Wire() as wire:
        wire.fail(fault, key="k1")
        with pytest.raises(raised):
            post("k1")
        assert post("k1").status_code == 200  # once only
        assert post("k2").status_code == 200
    assert len(gateway.calls) == 3, "the gateway received the lost request too"
    assert [r.fault for r in wire.requests] == [fault, None, None]


def test_a_server_error_after_the_gateway_acted(gateway: responses.RequestsMock) -> None:
    with Wire() as wire:
        wire.fail("server_error", key="k1")
        assert post("k1").status_code == 500
    assert len(gateway.calls) == 1


@pytest.mark.parametrize(("fault", "status"), [("rate_limited", 429), ("unauthorized", 401)])
def test_refusals_never_reach_the_gateway(
    gateway: responses.RequestsMock, fault: str, status: int
) -> None:
    with Wire() as wire:
        wire.fail(fault, times=None)
        assert post("k1").status_code == status
        assert post("k2").status_code == status
    assert len(gateway.calls) == 0


def test_wires_nest_and_unwind(gateway: responses.RequestsMock) -> None:
    original = requests.Session.send
    with Wire() as outer:
        with Wire() as inner:
            post("k1")
        post("k2")
    assert requests.Session.send is original
    assert inner.keys() == ["k1"] and outer.keys() == ["k1", "k2"]


def test_unknown_fault_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        Wire().fail("explode")


@pytest.mark.parametrize(
    ("body", "exponent", "minor"),
    [
        (b"amount=1999&currency=usd", 2, 1999),  # a form, like Stripe's
        (json.dumps({"amount": 500}).encode(), 0, 500),
        (
            json.dumps(
                {"purchase_units": [{"amount": {"currency_code": "USD", "value": "20.05"}}]}
            ).encode(),
            2,
            2005,
        ),  # PayPal's decimal strings
        (json.dumps({"amount": {"currency_code": "JPY", "value": "1000"}}).encode(), 0, 1000),
        (b"", 2, None),
        (json.dumps({"amount": True}).encode(), 2, None),
    ],
)
def test_amount_in_minor_units(body: bytes, exponent: int, minor: int | None) -> None:
    assert WireRequest("POST", URL, {}, body).amount_minor(exponent) == minor

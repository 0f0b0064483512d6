"""The webhook endpoint: raw body with a limit, 2xx for applied and duplicate
events, 400 bad signature, 404 unknown provider, 413 too large, no 5xx for
bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import web_helpers  # noqa: F401  (skips the module without the web extra)
from starlette.testclient import TestClient

import paygate
from paygate.web import webhook_endpoint


@pytest.fixture
def payments(tmp_path: Path) -> Iterator[paygate.Payments]:
    p = paygate.Payments(
        {"database_url": f"sqlite:///{tmp_path / 'hooks.sqlite3'}"}, load_entrypoints=False
    )
    yield p
    p.close()


@pytest.fixture
def client(payments: paygate.Payments) -> Iterator[TestClient]:
    seen: list[tuple[str, bool]] = []
    app = webhook_endpoint(
        payments, max_body=4096, on_event=lambda e: seen.append((e.id, e.duplicate))
    )
    with TestClient(app, raise_server_exceptions=False) as c:
        c.seen = seen  # type: ignore[attr-defined]
        yield c


def signed_capture(payments: paygate.Payments) -> tuple[dict[str, str], bytes, str]:
    tx = payments.authorize(
        paygate.Money("12.00", "EUR"),
        paygate.Card("4242424242424242", 12, 2031, "123"),
        idempotency_key="order-1",
    )
    headers, body = payments.plugin("sandbox").make_webhook("payment.captured", tx.id)
    return headers, body, tx.id


def test_an_event_is_applied_then_its_duplicate_acknowledged(
    client: TestClient, payments: paygate.Payments
) -> None:
    headers, body, tx_id = signed_capture(payments)
    first = client.post("/sandbox", content=body, headers=headers)
    assert first.status_code == 200
    assert first.json()["duplicate"] is False
    assert payments.transaction(tx_id).status.value == "captured"
    again = client.post("/sandbox", content=body, headers=headers)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    # on_event hears both, the second flagged: a reaction that failed the
    # first time completes on the provider's redelivery.
    event_id = json.loads(body)["id"]
    assert client.seen == [(event_id, False), (event_id, True)]  # type: ignore[attr-defined]


def test_a_bad_signature_is_400(client: TestClient, payments: paygate.Payments) -> None:
    headers, body, tx_id = signed_capture(payments)
    tampered = body.replace(b"payment.captured", b"payment.refunded")
    assert client.post("/sandbox", content=tampered, headers=headers).status_code == 400
    assert client.post("/sandbox", content=body).status_code == 400  # no signature at all
    assert payments.transaction(tx_id).status.value == "authorized"


def test_a_signed_body_that_is_no_event_is_400(
    client: TestClient, payments: paygate.Payments
) -> None:
    body = b"[1, 2, 3]"
    sandbox = payments.plugin("sandbox")
    headers = {"Paygate-Signature": sandbox.sign(body)}
    assert client.post("/sandbox", content=body, headers=headers).status_code == 400


def test_an_unknown_provider_is_404(client: TestClient) -> None:
    assert client.post("/nosuchpay", content=b"{}").status_code == 404


def test_a_body_over_the_limit_is_413(client: TestClient, payments: paygate.Payments) -> None:
    big = b"{" + b" " * 5000 + b"}"
    headers = {"Paygate-Signature": payments.plugin("sandbox").sign(big)}
    assert client.post("/sandbox", content=big, headers=headers).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while reading
        for _ in range(10):
            yield b" " * 1000

    assert client.post("/sandbox", content=chunks(), headers=headers).status_code == 413


@pytest.mark.parametrize("body", [b"", b"\xff\xfe\x00", b"not json", b'{"id": null}', b"{" * 3000])
def test_garbage_never_gets_a_5xx(client: TestClient, body: bytes) -> None:
    for headers in ({}, {"Paygate-Signature": "t=1,v1=00"}, {"Paygate-Signature": "garbage"}):
        answer = client.post("/sandbox", content=body, headers=headers)
        assert 400 <= answer.status_code < 500, (body[:20], headers, answer.status_code)


def test_only_post(client: TestClient) -> None:
    assert client.get("/sandbox").status_code == 405

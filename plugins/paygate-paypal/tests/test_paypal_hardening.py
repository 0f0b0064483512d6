"""PayPal through the facade with ids holding Luhn-valid digit runs, its
api_base rule, and credentials echoed in an authentication error (issue 15)."""

from __future__ import annotations

import base64
import itertools
import secrets
from typing import Any

import pytest
import responses
from paygate_paypal import recorded
from paygate_paypal.client import Settings

import paygate
from paygate.errors import AuthenticationError, ConfigurationError
from paygate.models import PayPalWallet, TransactionStatus
from paygate.money import Money
from paygate.redaction import luhn_valid

S = TransactionStatus
CONFIG = {
    "database_url": "memory",
    "paypal": {"client_id": "demo-id", "client_secret": "demo-secret"},
}


def _luhn_run(n: int) -> str:
    """A 15-digit Luhn-valid run starting with 4 (looks like a card number)."""
    body = f"4{n:013d}"
    for check in "0123456789":
        if luhn_valid(body + check):
            return body + check
    raise AssertionError("unreachable")


@pytest.fixture
def digit_ids(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The recorded PayPal hands out 17-character ids whose last 15 characters
    are a Luhn-valid run, like PayPal's own ``0VF52814937998046``."""
    counter = itertools.count(1)
    issued: list[str] = []

    def new_id(self: Any, prefix: str) -> str:
        value = f"{prefix[:2]}{_luhn_run(next(counter))}"
        issued.append(value)
        return value

    monkeypatch.setattr(recorded.Recorder, "new_id", new_id)
    return issued


def test_ids_with_card_like_runs_survive_every_follow_up(digit_ids: list[str]) -> None:
    with recorded.paypal_sandbox_responses() as rec:
        payments = paygate.Payments(CONFIG)
        tx = payments.authorize(Money("30.00", "USD"), PayPalWallet(), provider="paypal")
        tx = payments.confirm(tx.id)
        assert tx.status is S.AUTHORIZED
        tx = payments.capture(tx.id, Money("10.00", "USD"), final=False)
        tx = payments.capture(tx.id, Money("20.00", "USD"))
        tx = payments.refund(tx.id, Money("5.00", "USD"))
        tx = payments.refund(tx.id)
        assert (tx.status, tx.refunded) == (S.REFUNDED, Money("30.00", "USD"))
        voided = payments.confirm(
            payments.authorize(Money("4.00", "USD"), PayPalWallet(), provider="paypal").id
        )
        assert payments.void(voided.id).status is S.VOIDED
        # Every stored id is one the gateway issued, byte for byte.
        for t in (payments.transaction(tx.id), payments.transaction(voided.id)):
            assert t.provider_reference in digit_ids
            stored = [v for k, v in t.provider_data.items() if k.endswith("_id")]
            stored += [c.provider_reference for c in t.captures if c.provider_reference]
            stored += [r.provider_reference for r in t.refunds if r.provider_reference]
            for value in stored:
                assert "REDACTED" not in value
        for op in payments.ledger.operations():
            assert "REDACTED" not in str(op.provider_reference)
            assert "REDACTED" not in str(op.result.get("provider_data", {}))
    paths = [path for _method, path in rec.calls]
    assert not any("REDACTED" in p for p in paths)
    assert sum("/capture" in p for p in paths) >= 2


@pytest.mark.parametrize("base", ["http://api-m.paypal.com", "ftp://api-m.paypal.com", "nohost"])
def test_api_base_must_be_https(base: str) -> None:
    with pytest.raises(ConfigurationError, match="api_base"):
        Settings.from_config({"api_base": base}, test_mode=True, env={})


def test_api_base_over_loopback_http_is_for_local_servers() -> None:
    settings = Settings.from_config({"api_base": "http://127.0.0.1:9/"}, test_mode=True, env={})
    assert settings.api_base == "http://127.0.0.1:9"


def test_an_echoed_basic_credential_never_reaches_the_host() -> None:
    client_id = "AZid" + secrets.token_hex(10)
    client_secret = "EKsecret" + secrets.token_hex(16)
    basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
    with responses.RequestsMock() as mock:
        mock.post(
            "https://api-m.sandbox.paypal.com/v1/oauth2/token",
            status=401,
            json={
                "error": "invalid_client",
                "error_description": f"Client Authentication failed for Basic {basic} "
                f"(client_secret={client_secret}; raw {basic})",
            },
        )
        payments = paygate.Payments(
            {
                "database_url": "memory",
                "paypal": {"client_id": client_id, "client_secret": client_secret},
            }
        )
        with pytest.raises(AuthenticationError) as err:
            payments.authorize(Money("1.00", "USD"), PayPalWallet(), provider="paypal")
    text = f"{err.value} {err.value!r} {err.value.to_dict()}"
    assert basic not in text
    assert client_secret not in text
    assert repr(payments.ledger.operations()).count(client_secret) == 0

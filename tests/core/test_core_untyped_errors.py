"""Inputs that once escaped as TypeError, OverflowError, UnicodeEncodeError or
ImportError; each is now a typed paygate error (issue 15, "Untyped errors")."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from core_helpers import card, usd

import paygate
from paygate.builtins.sandbox import SandboxProvider
from paygate.cli import main
from paygate.errors import ConfigurationError, InvalidRequest, SignatureVerificationError
from paygate.models import TransactionStatus
from paygate.pricing import LineItem


@pytest.fixture
def payments() -> Iterator[paygate.Payments]:
    with paygate.Payments({"database_url": "memory"}, load_entrypoints=False) as p:
        yield p


def _header(ts: str, sig: str) -> dict[str, str]:
    return {"Paygate-Signature": f"t={ts},v1={sig}"}


@pytest.mark.parametrize("items", [None, 42, object(), "plan"])
def test_quote_of_no_items_is_invalid_request(payments: paygate.Payments, items: Any) -> None:
    with pytest.raises(InvalidRequest):
        payments.quote(items)


def test_a_rounding_that_is_no_string_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        paygate.Payments({"rounding": []})


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        (_header(str(int(time.time())), "00"), "\ud800"),
        (_header("9" * 400, "00"), b"{}"),
        (_header(str(int(time.time())), "\u00e9"), b"{}"),
        (_header("-1", "00"), b"{}"),
    ],
)
def test_hostile_sandbox_deliveries_fail_verification(
    payments: paygate.Payments, headers: dict[str, str], body: Any
) -> None:
    with pytest.raises(SignatureVerificationError):
        payments.parse_webhook("sandbox", headers, body)


def _signed(sandbox: SandboxProvider, payload: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    body = json.dumps(payload).encode()
    return {"Paygate-Signature": sandbox.sign(body)}, body


@pytest.mark.parametrize("event_id", ["e" * 256, "evt_\x00nul"])
def test_an_unstorable_event_id_is_refused_before_the_ledger(
    payments: paygate.Payments, event_id: str
) -> None:
    sandbox: SandboxProvider = payments.plugin("sandbox")
    headers, body = _signed(
        sandbox, {"id": event_id, "type": "payment.captured", "created": 1, "data": {}}
    )
    with pytest.raises(InvalidRequest):
        payments.parse_webhook("sandbox", headers, body)


def test_a_capture_event_without_an_amount_is_not_a_full_capture(
    payments: paygate.Payments,
) -> None:
    tx = payments.authorize(usd("40.00"), card())
    sandbox: SandboxProvider = payments.plugin("sandbox")
    headers, body = _signed(
        sandbox,
        {
            "id": "evt_no_amount",
            "type": "payment.captured",
            "created": int(time.time()),
            "data": {"reference": tx.provider_reference, "transaction_id": tx.id},
        },
    )
    event = payments.parse_webhook("sandbox", headers, body)
    assert event.amount is None
    after = payments.transaction(tx.id)
    assert after.status is TransactionStatus.AUTHORIZED
    assert after.captured == usd("0.00")


def test_demo_without_the_paypal_demo_extra_explains_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("paygate_paypal")
    # paygate-paypal installed without [demo]: `responses` cannot be imported.
    monkeypatch.setitem(sys.modules, "responses", None)
    monkeypatch.setenv("COLUMNS", "300")  # the table must not cut the hint
    result = CliRunner().invoke(main, ["demo", "--database", str(tmp_path / "d.sqlite3")])
    assert result.exit_code == 0, result.output
    assert not isinstance(result.exception, ImportError)
    assert "paygate-paypal[demo]" in result.output


@pytest.mark.parametrize(
    "build",
    [
        lambda: paygate.Card("4242424242424242", 12, Decimal("1E+999999999999"), "123"),
        lambda: paygate.Card("4242424242424242", Decimal("1E+999999999999"), 2030, "123"),
        lambda: paygate.Card("4242424242424242", Decimal("NaN"), 2030, "123"),
        lambda: LineItem(sku="a", unit_price=usd("1.00"), quantity=Decimal("1E+999999999999")),
    ],
    ids=["exp_year", "exp_month", "nan_month", "quantity"],
)
def test_a_huge_decimal_for_an_int_field_is_refused_at_once(build: Any) -> None:
    # Pydantic would build the int 10**999999999999 digit by digit: a hang.
    with pytest.raises(InvalidRequest):
        build()

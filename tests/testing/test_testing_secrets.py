"""assert_no_secrets finds PANs, CVCs and API keys, and never prints them."""

from __future__ import annotations

import sqlite3
from datetime import date as _date
from pathlib import Path

import pytest

import paygate
from paygate.testing import assert_no_secrets, find_secrets

#: Cards in tests expire three years from now, so they never age into declines.
EXP_YEAR = _date.today().year + 3

PAN = "4242424242424242"
KEY = "sk_test_" + "a1B2c3D4e5F6g7H8"


@pytest.mark.parametrize(
    "text",
    [
        f"charging {PAN} now",
        "charging 4242 4242 4242 4242 now",
        "charging 4242-4242-4242-4242 now",
        "amex 378282246310005",
        f"Authorization: Bearer {KEY}",
        f"api_key={KEY}",
        'payload {"cvc": "123"}',
        "card[cvc]=1234&amount=100",
        "whsec_abcdefgh12345678",
    ],
)
def test_finds_secrets(text: str) -> None:
    with pytest.raises(AssertionError) as info:
        assert_no_secrets(text)
    message = str(info.value)
    assert PAN not in message and KEY not in message and "123" not in message.split("offset")[0]


@pytest.mark.parametrize(
    "text",
    [
        "Visa •••• 4242",
        "card=[REDACTED]4242",
        "4242424242424241",  # fails Luhn: not a card number
        "amount 123456789012 minor units",  # 12 digits: too short for a PAN
        "created 2026-11-27T20:06:53.669847+00:00",
        "pk_test_publishable123456",
        "cvc=SecretStr('**********')",
        "txn_a4242424242424242b",  # a digit run inside a random id
        "sbx_4242424242424242",
    ],
)
def test_clean_text_passes(text: str) -> None:
    assert_no_secrets(text)


def test_known_secrets_are_found_anywhere() -> None:
    with pytest.raises(AssertionError, match="known secret"):
        assert_no_secrets(f"id_{PAN}x", secrets=[PAN])
    assert_no_secrets("token=abc", secrets=["sandbox-password"])
    with pytest.raises(AssertionError, match="known secret"):
        assert_no_secrets("x=sandbox-password;", secrets=["sandbox-password"])


def test_short_known_secrets_are_ignored() -> None:
    # A CVC like "123" would match everywhere; it is found by its field name instead.
    assert_no_secrets("order 123", secrets=["123"])


def test_objects_are_checked_through_repr() -> None:
    card = paygate.Card(PAN, 12, EXP_YEAR, "123")
    assert_no_secrets(card)
    assert_no_secrets(paygate.Money("10.00", "USD"))

    class Leaky:
        def __repr__(self) -> str:
            return f"Leaky(number={PAN})"

    with pytest.raises(AssertionError, match="repr of Leaky"):
        assert_no_secrets(Leaky())


def test_files_and_directories(tmp_path: Path) -> None:
    clean = tmp_path / "clean.log"
    clean.write_text("charged Visa •••• 4242\n")
    assert_no_secrets(clean)
    db = tmp_path / "ledger.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.execute("create table t (v text)")
        conn.execute("insert into t values (?)", (f"pan {PAN}",))
    with pytest.raises(AssertionError, match="ending 4242"):
        assert_no_secrets(db)
    with pytest.raises(AssertionError, match="directory"):
        assert_no_secrets(tmp_path)


def test_findings_are_masked() -> None:
    (finding,) = find_secrets(f"x {PAN} y")
    assert PAN not in str(finding)
    assert finding.hint == "ending 4242"

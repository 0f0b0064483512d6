"""Money: exact, ISO 4217 minor units, no silent precision loss."""

from __future__ import annotations

import pickle
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paygate import Money
from paygate.errors import ErrorCode, InvalidRequest
from paygate.money import currency_exponent

CURRENCIES = ["USD", "EUR", "JPY", "KWD", "BHD", "CLP", "ISK", "GBP", "KRW", "TND", "IQD"]


def test_minor_units_follow_iso_4217() -> None:
    assert currency_exponent("USD") == 2
    assert currency_exponent("JPY") == 0
    assert currency_exponent("KWD") == 3
    assert currency_exponent("IQD") == 3  # ISO says 3 even where CLDR says 0
    assert Money("19.99", "USD").minor_units == 1999
    assert Money("1000", "JPY").minor_units == 1000
    assert Money("1.234", "KWD").minor_units == 1234


def test_from_minor() -> None:
    assert Money.from_minor(1999, "USD") == Money("19.99", "USD")
    assert Money.from_minor(5, "JPY").amount == Decimal("5")
    assert Money.from_minor(1, "KWD").amount == Decimal("0.001")


@pytest.mark.parametrize(
    ("amount", "currency", "code"),
    [
        (0.1, "USD", ErrorCode.INVALID_AMOUNT),
        (True, "USD", ErrorCode.INVALID_AMOUNT),
        ("NaN", "USD", ErrorCode.INVALID_AMOUNT),
        (Decimal("Infinity"), "USD", ErrorCode.INVALID_AMOUNT),
        ("-inf", "USD", ErrorCode.INVALID_AMOUNT),
        ("1.001", "USD", ErrorCode.INVALID_AMOUNT),
        ("1.5", "JPY", ErrorCode.INVALID_AMOUNT),
        ("1.0001", "KWD", ErrorCode.INVALID_AMOUNT),
        ("ten", "USD", ErrorCode.INVALID_AMOUNT),
        ("1e40", "USD", ErrorCode.INVALID_AMOUNT),
        ("1.00", "XYZ", ErrorCode.INVALID_CURRENCY),
        ("1.00", "usdollar", ErrorCode.INVALID_CURRENCY),
        ("1.00", 840, ErrorCode.INVALID_CURRENCY),
        (None, "USD", ErrorCode.INVALID_AMOUNT),
    ],
)
def test_rejects_bad_input_with_a_message(
    amount: object, currency: object, code: ErrorCode
) -> None:
    with pytest.raises(InvalidRequest) as info:
        Money(amount, currency)  # type: ignore[arg-type]
    assert info.value.code is code
    assert info.value.message  # says what was wrong


def test_float_message_says_why() -> None:
    with pytest.raises(InvalidRequest, match="float"):
        Money(10.0, "USD")  # type: ignore[arg-type]


def test_trailing_zeros_within_precision_are_fine() -> None:
    assert Money("10.0", "USD") == Money("10.00", "USD")
    assert Money("5.000", "JPY").minor_units == 5


def test_arithmetic_refuses_mixed_currencies() -> None:
    with pytest.raises(InvalidRequest) as info:
        _ = Money("1.00", "USD") + Money("1.00", "EUR")
    assert info.value.code is ErrorCode.INVALID_CURRENCY
    with pytest.raises(InvalidRequest):
        _ = Money("1.00", "USD") < Money("1.00", "EUR")
    with pytest.raises(InvalidRequest):
        _ = Money("1.00", "USD") - Money("1", "JPY")


def test_multiplication_needs_an_explicit_rounding() -> None:
    price = Money("10.00", "USD")
    assert price * 3 == Money("30.00", "USD")
    with pytest.raises(InvalidRequest):
        _ = price * Decimal("0.2")  # type: ignore[operator]
    assert price.multiply(Decimal("0.125")) == Money("1.25", "USD")
    assert Money("0.05", "USD").multiply("0.5") == Money("0.03", "USD")  # HALF_UP
    assert Money("0.05", "USD").multiply("0.5", ROUND_HALF_EVEN) == Money("0.02", "USD")
    assert Money("0.05", "USD").multiply("0.5", ROUND_DOWN) == Money("0.02", "USD")


def test_money_is_immutable_hashable_and_pickles() -> None:
    m = Money("1.50", "EUR")
    with pytest.raises(AttributeError):
        m.x = 1  # type: ignore[attr-defined]
    assert {m: 1}[Money("1.5", "EUR")] == 1
    assert pickle.loads(pickle.dumps(m)) == m
    assert repr(m) == "Money('1.50', 'EUR')"


@given(
    minor=st.integers(min_value=-(10**15), max_value=10**15),
    currency=st.sampled_from(CURRENCIES),
)
def test_minor_units_round_trip(minor: int, currency: str) -> None:
    m = Money.from_minor(minor, currency)
    assert m.minor_units == minor
    assert Money(str(m.amount), currency) == m
    assert Money.from_dict(m.to_dict()) == m


@given(
    value=st.decimals(
        allow_nan=False, allow_infinity=False, places=4, min_value=-(10**12), max_value=10**12
    ),
    currency=st.sampled_from(CURRENCIES),
)
def test_no_silent_precision_loss(value: Decimal, currency: str) -> None:
    exponent = currency_exponent(currency)
    fits = value == value.quantize(Decimal(1).scaleb(-exponent))
    if fits:
        assert Money(value, currency).amount == value
    else:
        with pytest.raises(InvalidRequest):
            Money(value, currency)


@given(
    a=st.integers(min_value=-(10**12), max_value=10**12),
    b=st.integers(min_value=-(10**12), max_value=10**12),
    currency=st.sampled_from(CURRENCIES),
)
def test_addition_is_exact(a: int, b: int, currency: str) -> None:
    total = Money.from_minor(a, currency) + Money.from_minor(b, currency)
    assert total.minor_units == a + b
    assert (total - Money.from_minor(b, currency)).minor_units == a


@given(
    minor=st.integers(min_value=0, max_value=10**9),
    ratios=st.lists(st.integers(min_value=0, max_value=100), min_size=1, max_size=8).filter(
        lambda r: sum(r) > 0
    ),
    currency=st.sampled_from(CURRENCIES),
)
def test_allocate_adds_up(minor: int, ratios: list[int], currency: str) -> None:
    parts = Money.from_minor(minor, currency).allocate(ratios)
    assert sum(p.minor_units for p in parts) == minor
    for part, ratio in zip(parts, ratios, strict=True):
        if ratio == 0:
            assert part.minor_units == 0


def test_format_uses_babel() -> None:
    assert Money("1234.5", "USD").format("en_US") == "$1,234.50"
    assert "¥" in Money("1000", "JPY").format("ja_JP") or "￥" in Money("1000", "JPY").format(
        "ja_JP"
    )

from decimal import Decimal

import pytest
from paygate_stripe import amounts

from paygate.errors import ErrorCode, InvalidRequest
from paygate.money import Money


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("10.00", "USD", 1000),
        ("0.01", "EUR", 1),
        ("1999", "JPY", 1999),
        ("50000", "KRW", 50000),
        ("1.230", "KWD", 1230),
        ("0.010", "BHD", 10),
        ("500", "ISK", 50000),
        ("1000", "MGA", 1000),  # two decimals in ISO, none at Stripe
        ("999999.99", "USD", 99_999_999),
    ],
)
def test_stripe_amount_conversion(amount: str, currency: str, expected: int) -> None:
    money = Money(amount, currency)
    assert amounts.to_stripe(money) == expected
    assert amounts.from_stripe(expected, currency.lower()) == money


@pytest.mark.parametrize(
    ("amount", "currency", "why"),
    [
        ("1.235", "KWD", "last (third) decimal"),
        ("0.005", "OMR", "last (third) decimal"),
        ("10.50", "MGA", "whole units"),
        ("0", "USD", "positive"),
        ("-5.00", "USD", "positive"),
        ("1000000.00", "USD", "maximum"),
    ],
)
def test_stripe_refuses_amounts_before_the_call(amount: str, currency: str, why: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        amounts.to_stripe(Money(amount, currency))
    assert info.value.code is ErrorCode.INVALID_AMOUNT
    assert info.value.param == "amount"
    assert why in info.value.message


def test_stripe_isk_from_stripe_refuses_fractions() -> None:
    # Stripe may report ISK in hundredths; a non-multiple of 100 cannot be a
    # whole-krona Money and must not be rounded silently.
    with pytest.raises(InvalidRequest):
        amounts.from_stripe(50050, "isk")


def test_stripe_zero_decimal_list_matches_domain_facts() -> None:
    assert (
        set(
            [
                "BIF",
                "CLP",
                "DJF",
                "GNF",
                "JPY",
                "KMF",
                "KRW",
                "MGA",
                "PYG",
                "RWF",
                "UGX",
                "VND",
                "VUV",
                "XAF",
                "XOF",
                "XPF",
            ]
        )
        == amounts.ZERO_DECIMAL
    )
    assert {"BHD", "JOD", "KWD", "OMR", "TND"} == amounts.THREE_DECIMAL
    assert amounts.stripe_exponent("ISK") == 2


def test_stripe_amount_zero_allowed_only_when_asked() -> None:
    assert amounts.to_stripe(Money("0", "USD"), allow_zero=True) == 0
    assert amounts.from_stripe(0, "usd").amount == Decimal("0.00")

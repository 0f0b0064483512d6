"""Money under hostile input: typed errors only, one rounding step, its own
decimal context (issue 15, untyped errors)."""

from __future__ import annotations

from decimal import Decimal, localcontext
from typing import Any

import pytest

from paygate import Money
from paygate.errors import InvalidRequest


def usd(value: str) -> Money:
    return Money(value, "USD")


def test_multiply_rounds_once_not_after_the_thread_s_28_digits() -> None:
    # 28 digits would make this 0.005000..., then half-up 0.01: rounded twice.
    assert usd("1.00").multiply(Decimal("0.00499999999999999999999999999999")) == usd("0.00")
    assert usd("1.00").multiply(Decimal("0.00500000000000000000000000000001")) == usd("0.01")


@pytest.mark.parametrize(
    "action",
    [
        lambda: usd("1.00").multiply(Decimal("1E+999999999999")),
        lambda: usd("1.00").multiply(Decimal("1E+30")),
        lambda: usd("1.00").multiply(Decimal("1" * 500)),
        lambda: usd("1.00").multiply("2", rounding="ROUND_SIDEWAYS"),
        lambda: usd("1.00") * 10**30,
        lambda: usd("999999999999999999.00") * 10,
        lambda: usd("999999999999999999.00") + usd("999999999999999999.00"),
        lambda: usd("1.00").allocate([Decimal("NaN")]),
        lambda: usd("1.00").allocate([Decimal("sNaN"), 1]),
        lambda: usd("1.00").allocate([0.5, 0.5]),  # type: ignore[list-item]
        lambda: usd("1.00").allocate([]),
        lambda: Money.from_dict({}),
        lambda: Money.from_dict({"amount": "1.00"}),
        lambda: Money.from_dict("1.00 USD"),  # type: ignore[arg-type]
        lambda: usd("1.00").format(locale="xx"),
        lambda: usd("1.00").format(locale=None),  # type: ignore[arg-type]
        lambda: Money.rounded("1E+40", "USD"),
    ],
)
def test_hostile_operations_raise_invalid_request(action: Any) -> None:
    with pytest.raises(InvalidRequest):
        action()


def test_a_tiny_factor_rounds_like_any_other() -> None:
    assert usd("1.00").multiply(Decimal("1E-999999999999")) == usd("0.00")
    assert usd("1.00").multiply(Decimal("1E-999999999999"), rounding="ROUND_UP") == usd("0.01")


def test_money_ignores_a_host_s_decimal_context() -> None:
    with localcontext() as ctx:
        ctx.prec = 4
        amount = usd("123.45")
        assert amount.minor_units == 12345
        assert amount + usd("99999.99") == Money(Decimal("100123.44"), "USD")
        assert sum(p.minor_units for p in amount.allocate([1, 2, 3])) == 12345
        assert amount.multiply(Decimal("1.5")) == usd("185.18")
        assert Money.rounded("123.456", "USD") == usd("123.46")
        assert Money.from_minor(12345678, "USD") == usd("123456.78")

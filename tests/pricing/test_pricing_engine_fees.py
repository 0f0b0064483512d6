"""Worked examples of fee breakdowns, with the arithmetic written down."""

from __future__ import annotations

from decimal import Decimal

import pytest

from paygate.errors import ErrorCode, InvalidRequest
from paygate.money import Money
from paygate.pricing import FeeContext, FeeLine, build_fee_breakdown

PLATFORM = FeeLine(
    code="platform_service_fee", label="Platform service fee (5 %)", rate=Decimal("0.05")
)
GATEWAY = FeeLine(
    code="gateway",
    label="Card processing (2.9 % + 0.30)",
    rate=Decimal("0.029"),
    fixed=Money("0.30", "USD"),
)


def fee_ctx(amount: str, currency: str = "USD") -> FeeContext:
    return FeeContext(amount=Money(amount, currency), provider="sandbox", kind="ticket")


def test_ticket_sale_seed_example() -> None:
    # gross 100.00; platform 5 % = 5.00; gateway 2.9 % + 0.30 = 2.90 + 0.30 = 3.20
    # net payout 100.00 - 5.00 - 3.20 = 91.80
    b = build_fee_breakdown(fee_ctx("100.00"), [PLATFORM, GATEWAY])
    assert [(line.code, line.amount) for line in b.lines] == [
        ("platform_service_fee", Money("5.00", "USD")),
        ("gateway", Money("3.20", "USD")),
    ]
    assert b.gross == Money("100.00", "USD")
    assert b.total_fees == b.merchant_fees == Money("8.20", "USD")
    assert b.buyer_fees == Money("0.00", "USD")
    assert b.charged == Money("100.00", "USD")
    assert b.net == Money("91.80", "USD")
    assert (b.provider, b.kind) == ("sandbox", "ticket")


def test_each_fee_is_rounded_once_rate_and_fixed_together() -> None:
    # gross 19.99; platform 19.99 × 0.05 = 0.9995 -> 1.00
    # gateway 19.99 × 0.029 + 0.30 = 0.57971 + 0.30 = 0.87971 -> 0.88
    # net 19.99 - 1.00 - 0.88 = 18.11
    b = build_fee_breakdown(fee_ctx("19.99"), [PLATFORM, GATEWAY])
    assert b.line("platform_service_fee").amount == Money("1.00", "USD")
    assert b.line("gateway").amount == Money("0.88", "USD")
    assert b.net == Money("18.11", "USD")


def test_buyer_paid_fee_is_charged_on_top_not_taken_from_the_payout() -> None:
    buyer = PLATFORM.model_copy(update={"payer": "buyer"})
    # buyer pays 50.00 + 2.50; gateway 50.00 × 0.029 + 0.30 = 1.75 off the payout
    b = build_fee_breakdown(fee_ctx("50.00"), [buyer, GATEWAY])
    assert b.buyer_fees == Money("2.50", "USD")
    assert b.charged == Money("52.50", "USD")
    assert b.merchant_fees == Money("1.75", "USD")
    assert b.net == Money("48.25", "USD")
    assert b.total_fees == Money("4.25", "USD")


def test_a_fee_the_plugin_computed_itself_is_kept() -> None:
    own = FeeLine(code="fx", label="Conversion", amount=Money("0.42", "USD"))
    b = build_fee_breakdown(fee_ctx("10.00"), [own])
    assert b.line("fx").amount == Money("0.42", "USD")
    assert b.net == Money("9.58", "USD")


def test_jpy_fees() -> None:
    # 1,000 JPY ticket; platform 5 % = 50; gateway 3.6 % = 36; net 914
    gw = FeeLine(code="gateway", label="3.6 %", rate=Decimal("0.036"))
    b = build_fee_breakdown(fee_ctx("1000", "JPY"), [PLATFORM, gw])
    assert [line.amount for line in b.lines] == [Money("50", "JPY"), Money("36", "JPY")]
    assert b.net == Money("914", "JPY")


def test_kwd_fees() -> None:
    # 12.345 KWD; platform 12.345 × 0.05 = 0.61725 -> 0.617; net 11.728
    b = build_fee_breakdown(fee_ctx("12.345", "KWD"), [PLATFORM])
    assert b.line("platform_service_fee").amount == Money("0.617", "KWD")
    assert b.net == Money("11.728", "KWD")


def test_tiny_payment_can_pay_out_less_than_nothing_and_says_so() -> None:
    # 0.10 × 0.029 + 0.30 = 0.3029 -> 0.30; net 0.10 - 0.30 = -0.20
    b = build_fee_breakdown(fee_ctx("0.10"), [GATEWAY])
    assert b.net == Money("-0.20", "USD")


def test_fixed_part_in_another_currency_is_refused() -> None:
    with pytest.raises(InvalidRequest) as err:
        build_fee_breakdown(fee_ctx("10.00", "EUR"), [GATEWAY])
    assert err.value.code == ErrorCode.INVALID_CURRENCY


@pytest.mark.parametrize(
    "line",
    [
        FeeLine(code="neg", label="N", rate=Decimal("-0.01")),
        FeeLine(code="neg", label="N", fixed=Money("-0.30", "USD")),
        FeeLine(code="neg", label="N", amount=Money("-0.30", "USD")),
    ],
)
def test_negative_fees_are_refused(line: FeeLine) -> None:
    with pytest.raises(InvalidRequest):
        build_fee_breakdown(fee_ctx("10.00"), [line])


def test_no_fee_lines_pays_out_the_gross() -> None:
    b = build_fee_breakdown(fee_ctx("10.00"), [])
    assert b.lines == ()
    assert b.net == b.gross == Money("10.00", "USD")

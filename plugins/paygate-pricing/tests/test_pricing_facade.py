"""The pricing plugin through the facade: quotes, a third-party coupon, ticket fees."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

import paygate
from paygate.errors import InvalidRequest
from paygate.models import Customer
from paygate.money import Money
from paygate.pricing import Adjustment, LineItem, PricingContext

NONPROFIT = Customer(id="cus_np", nonprofit=True)
PLAN = LineItem(sku="pro", description="Pro plan", unit_price=Money("25.00", "USD"))


def payments(
    pricing: dict[str, Any] | None = None, plugins: list[object] | None = None, **config: Any
) -> Any:
    cfg: dict[str, Any] = {"database_url": "memory", **config}
    if pricing is not None:
        cfg["pricing"] = pricing
    return paygate.Payments(config=cfg, plugins=plugins or ())


class Coupon:
    """A third-party adjustment plugin, as a host would write one."""

    def __init__(self, adjustment: Adjustment) -> None:
        self.adjustment = adjustment

    @paygate.hookimpl
    def paygate_price_adjustments(self, context: PricingContext) -> list[Adjustment]:
        return [self.adjustment]


def test_seed_quote_annual_nonprofit() -> None:
    p = payments({"annual_discount": "0.20", "nonprofit_discount": "0.25"})
    q = p.quote([PLAN], cycle="annual", customer=NONPROFIT)
    # 300.00 - 60.00 (20 %) - 60.00 (25 % of 240.00) = 180.00
    assert [(line.code, line.amount) for line in q.lines] == [
        ("pro", Money("300.00", "USD")),
        ("annual_discount", Money("-60.00", "USD")),
        ("nonprofit_discount", Money("-60.00", "USD")),
    ]
    assert q.total == Money("180.00", "USD")
    assert q.currency == "USD"


def test_coupon_after_the_builtin_discounts() -> None:
    coupon = Adjustment(
        code="spring",
        label="Spring coupon",
        type="fixed",
        amount=Money("10.00", "USD"),
        priority=50,
        source="coupons",
    )
    p = payments({"nonprofit_discount": "0.25"}, plugins=[Coupon(coupon)])
    q = p.quote([PLAN], cycle="annual", customer=NONPROFIT)
    # 300.00 - 60.00 - 60.00 = 180.00, then the coupon: 180.00 - 10.00 = 170.00
    assert [line.code for line in q.adjustment_lines] == [
        "annual_discount",
        "nonprofit_discount",
        "spring",
    ]
    assert q.total == Money("170.00", "USD")


def test_coupon_before_the_builtin_discounts_compounds_with_them() -> None:
    coupon = Adjustment(
        code="early", label="Early bird (10 %)", value=Decimal("0.10"), priority=5, source="coupons"
    )
    p = payments({"nonprofit_discount": "0.25"}, plugins=[Coupon(coupon)])
    q = p.quote([PLAN], cycle="annual", customer=NONPROFIT)
    # 300.00 - 10 % = -30.00 -> 270.00; -20 % = -54.00 -> 216.00; -25 % = -54.00 -> 162.00
    assert [(line.code, line.amount.amount) for line in q.adjustment_lines] == [
        ("early", Decimal("-30.00")),
        ("annual_discount", Decimal("-54.00")),
        ("nonprofit_discount", Decimal("-54.00")),
    ]
    assert q.total == Money("162.00", "USD")


def test_rounding_mode_from_config() -> None:
    plan = LineItem(sku="p", unit_price=Money("1.25", "USD"))
    coupon = Adjustment(code="ten", label="10 %", value=Decimal("0.10"))
    # 1.25 × 0.10 = 0.125: half-even rounds to 0.12
    q = payments(plugins=[Coupon(coupon)], rounding="ROUND_HALF_EVEN").quote([plan])
    assert q.rounding == "ROUND_HALF_EVEN"
    assert q.line("ten").amount == Money("-0.12", "USD")


def test_currency_defaults_to_the_items_and_must_be_shared() -> None:
    jpy = LineItem(sku="pro", unit_price=Money("1234", "JPY"))
    assert payments().quote([jpy], cycle="annual").total == Money("11846", "JPY")
    with pytest.raises(InvalidRequest):
        payments().quote([jpy, PLAN])


def test_ticket_fees_on_the_sandbox() -> None:
    b = payments().fees(Money("100.00", "USD"), provider="sandbox", kind="ticket")
    assert b.line("platform_service_fee").amount == Money("5.00", "USD")
    gateway = [line for line in b.lines if line.code != "platform_service_fee"]
    assert gateway, "the sandbox provider contributes its processing fee"
    assert all(line.amount is not None and line.amount.is_positive() for line in gateway)
    fees = sum((line.amount for line in b.lines if line.amount is not None), Money.zero("USD"))
    assert b.net == Money("100.00", "USD") - fees
    assert b.net < Money("95.00", "USD")


def test_no_service_fee_on_a_subscription_payment() -> None:
    b = payments().fees(Money("100.00", "USD"), provider="sandbox", kind="subscription")
    assert "platform_service_fee" not in [line.code for line in b.lines]

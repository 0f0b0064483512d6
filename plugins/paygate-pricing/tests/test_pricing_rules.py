"""The pricing rules, called directly with contexts, and run through the engine."""

from __future__ import annotations

import tomllib
from decimal import Decimal
from importlib import resources
from typing import Any

import pytest
from paygate_pricing.plugin import DEFAULTS, PricingRules, PricingSettings

from paygate.config import Config
from paygate.errors import ConfigurationError
from paygate.models import Customer
from paygate.money import Money
from paygate.pricing import (
    FeeContext,
    LineItem,
    PricingContext,
    build_fee_breakdown,
    build_quote,
)

NONPROFIT = Customer(id="cus_np", nonprofit=True)
REGULAR = Customer(id="cus_1")
PLAN = LineItem(sku="pro", description="Pro plan", unit_price=Money("25.00", "USD"))


def quote_ctx(
    *items: LineItem,
    cycle: str = "annual",
    customer: Customer | None = NONPROFIT,
    pricing: dict[str, Any] | None = None,
) -> PricingContext:
    config = {} if pricing is None else {"pricing": pricing}
    return PricingContext(
        items=items or (PLAN,), cycle=cycle, customer=customer, currency="USD", config=config
    )


def quote(ctx: PricingContext) -> Any:
    return build_quote(ctx, PricingRules().paygate_price_adjustments(context=ctx))


def test_defaults_file_names_its_source_and_date() -> None:
    text = resources.files("paygate_pricing").joinpath("defaults.toml").read_text("utf-8")
    data = tomllib.loads(text)
    assert "seeds/000_48e90d8275da0581.txt" in data["source"]
    assert data["read_on"]
    assert data["annual_discount"] == "0.20"
    assert data["service_fee"] == "0.05"
    assert data == DEFAULTS


def test_annual_only_by_default_nonprofit_needs_a_configured_rate() -> None:
    # default nonprofit rate is 0 (the billing team sets it): 300.00 - 60.00 = 240.00
    q = quote(quote_ctx())
    assert [line.code for line in q.adjustment_lines] == ["annual_discount"]
    assert q.line("annual_discount").label == "Annual billing discount (20 %)"
    assert q.total == Money("240.00", "USD")


def test_issue_example_with_configured_nonprofit_rate() -> None:
    # 25.00 × 12 = 300.00; -20 % = -60.00 -> 240.00; -25 % of 240.00 = -60.00 -> 180.00
    q = quote(quote_ctx(pricing={"annual_discount": "0.20", "nonprofit_discount": "0.25"}))
    assert [(line.code, line.amount) for line in q.adjustment_lines] == [
        ("annual_discount", Money("-60.00", "USD")),
        ("nonprofit_discount", Money("-60.00", "USD")),
    ]
    assert q.line("nonprofit_discount").label == "Nonprofit discount (25 %)"
    assert q.total == Money("180.00", "USD")


def test_nonprofit_discount_only_for_nonprofit_customers() -> None:
    pricing = {"nonprofit_discount": "0.25"}
    for customer in (REGULAR, None):
        q = quote(quote_ctx(customer=customer, pricing=pricing))
        assert [line.code for line in q.adjustment_lines] == ["annual_discount"]


def test_monthly_cycle_gets_no_annual_discount() -> None:
    # 25.00 - 25 % = 18.75
    q = quote(quote_ctx(cycle="monthly", pricing={"nonprofit_discount": "0.25"}))
    assert [line.code for line in q.adjustment_lines] == ["nonprofit_discount"]
    assert q.total == Money("18.75", "USD")


def test_addons_and_toll_free_numbers_are_discounted_tickets_are_not() -> None:
    items = (
        PLAN,  # 300.00
        LineItem(sku="rec", unit_price=Money("10.00", "USD"), kind="addon"),  # 120.00
        LineItem(sku="tf", unit_price=Money("4.00", "USD"), kind="toll_free_number"),  # 48.00
        LineItem(sku="tk", unit_price=Money("20.00", "USD"), kind="ticket"),  # 20.00
    )
    q = quote(quote_ctx(*items, customer=REGULAR))
    # 20 % of 300.00 + 120.00 + 48.00 = 468.00 -> 93.60; 488.00 - 93.60 = 394.40
    assert q.line("annual_discount").amount == Money("-93.60", "USD")
    assert "tk" not in q.line("annual_discount").allocations
    assert q.total == Money("394.40", "USD")


def test_additive_stacking() -> None:
    # 300.00 - 60.00 - 25 % of 300.00 (75.00) = 165.00
    q = quote(quote_ctx(pricing={"nonprofit_discount": "0.25", "stacking": "additive"}))
    assert q.total == Money("165.00", "USD")
    assert q.line("nonprofit_discount").label.endswith("on the list price")


def test_best_stacking_keeps_the_larger_discount() -> None:
    q = quote(quote_ctx(pricing={"nonprofit_discount": "0.25", "stacking": "best"}))
    # only 25 %: 300.00 - 75.00 = 225.00
    assert [line.code for line in q.adjustment_lines] == ["nonprofit_discount"]
    assert q.total == Money("225.00", "USD")


def test_order_nonprofit_first() -> None:
    q = quote(quote_ctx(pricing={"nonprofit_discount": "0.25", "order": ["nonprofit", "annual"]}))
    # 300.00 - 25 % = -75.00 -> 225.00; -20 % = -45.00 -> 180.00 (same total, other lines)
    assert [(line.code, line.amount) for line in q.adjustment_lines] == [
        ("nonprofit_discount", Money("-75.00", "USD")),
        ("annual_discount", Money("-45.00", "USD")),
    ]
    assert q.total == Money("180.00", "USD")


def test_float_from_toml_is_read_as_written() -> None:
    settings = PricingSettings.from_config({"annual_discount": 0.15})
    assert settings.annual_discount == Decimal("0.15")


@pytest.mark.parametrize(
    "section",
    [
        {"annual_discont": "0.2"},  # typo: refused, not silently ignored
        {"annual_discount": "1.5"},
        {"annual_discount": "-0.1"},
        {"nonprofit_discount": "lots"},
        {"service_fee": True},
        {"stacking": "multiply"},
        {"order": ["annual"]},
        {"service_fee_kinds": "ticket"},
        {"service_fee_payer": "nobody"},
    ],
)
def test_bad_config_is_a_configuration_error(section: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        PricingSettings.from_config(section)


def test_configure_reads_the_pricing_table() -> None:
    rules = PricingRules()
    rules.paygate_configure(config=Config({"pricing": {"nonprofit_discount": "0.10"}}))
    ctx = PricingContext(items=(PLAN,), cycle="monthly", customer=NONPROFIT, currency="USD")
    # 25.00 - 10 % = 22.50
    q = build_quote(ctx, rules.paygate_price_adjustments(context=ctx))
    assert q.total == Money("22.50", "USD")


def fee_ctx(kind: str, amount: str = "100.00", **pricing: Any) -> FeeContext:
    config = {"pricing": pricing} if pricing else {}
    return FeeContext(amount=Money(amount, "USD"), provider="sandbox", kind=kind, config=config)


def test_ticket_service_fee_is_five_percent_of_gross() -> None:
    ctx = fee_ctx("ticket", "49.99")
    lines = PricingRules().paygate_calculate_fees(context=ctx)
    assert [line.code for line in lines] == ["platform_service_fee"]
    assert "read" in (lines[0].table or "")
    b = build_fee_breakdown(ctx, lines)
    # 49.99 × 0.05 = 2.4995 -> 2.50; payout 49.99 - 2.50 = 47.49
    assert b.line("platform_service_fee").amount == Money("2.50", "USD")
    assert b.net == Money("47.49", "USD")


def test_no_service_fee_on_subscriptions() -> None:
    assert PricingRules().paygate_calculate_fees(context=fee_ctx("subscription")) == []


def test_service_fee_rate_and_payer_from_config() -> None:
    ctx = fee_ctx("ticket", "100.00", service_fee="0.07", service_fee_payer="buyer")
    lines = PricingRules().paygate_calculate_fees(context=ctx)
    assert lines[0].table == "host config [pricing]"
    b = build_fee_breakdown(ctx, lines)
    assert b.buyer_fees == Money("7.00", "USD")
    assert b.charged == Money("107.00", "USD")
    assert b.net == Money("100.00", "USD")

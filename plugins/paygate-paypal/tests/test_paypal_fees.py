"""PayPal's fee table: shipped data with source and date, config overrides."""

from __future__ import annotations

import json
from decimal import Decimal
from importlib import resources

import pytest
from paygate_paypal.fees import fee_lines
from paygate_paypal.plugin import PayPalProvider

from paygate.config import Config
from paygate.errors import ConfigurationError
from paygate.money import Money
from paygate.pricing.models import FeeContext


def ctx(amount: Money, **kw: object) -> FeeContext:
    return FeeContext(amount=amount, provider="paypal", method_kind="paypal", **kw)  # type: ignore[arg-type]


def test_shipped_table_names_its_source_and_date() -> None:
    data = json.loads(resources.files("paygate_paypal").joinpath("fees.json").read_text())
    assert data["read_on"] == "2026-09-20"
    assert "paypal.com" in data["source"]


def test_us_checkout_fee() -> None:
    (line,) = fee_lines(ctx(Money("100.00", "USD"), merchant_country="US", card_country="US"))
    assert line.rate == Decimal("0.0349")
    assert line.fixed == Money("0.49", "USD")
    assert "2026-09-20" in line.source
    # what the engine will compute, one rounding step: 3.49 + 0.49
    assert Money("100.00", "USD").multiply(line.rate) + line.fixed == Money("3.98", "USD")


def test_international_payer_adds_one_and_a_half_percent() -> None:
    lines = fee_lines(ctx(Money("100.00", "USD"), merchant_country="US", card_country="NG"))
    assert [(line.code, line.rate) for line in lines] == [
        ("paypal_checkout", Decimal("0.0349")),
        ("paypal_international", Decimal("0.015")),
    ]


def test_unknown_fixed_fee_is_not_invented() -> None:
    (line,) = fee_lines(ctx(Money("100.00", "EUR")))
    assert line.fixed is None
    assert "no fixed fee for EUR" in line.label


def test_config_overrides_through_the_plugin() -> None:
    provider = PayPalProvider()
    provider.paygate_configure(
        Config({"paypal": {"fees": {"rate": "0.0299", "fixed": {"EUR": "0.39"}}}})
    )
    lines = provider.paygate_calculate_fees(ctx(Money("10.00", "EUR")))
    assert lines is not None
    assert lines[0].rate == Decimal("0.0299")
    assert lines[0].fixed == Money("0.39", "EUR")


@pytest.mark.parametrize("override", [{"rate": "lots"}, {"fixed": "0.30"}, {"typo": "1"}])
def test_bad_overrides(override: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        fee_lines(ctx(Money("1.00", "USD")), override)

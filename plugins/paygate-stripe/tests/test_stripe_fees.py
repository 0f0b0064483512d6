from decimal import Decimal

import pytest
from stripe_fixtures import make_provider

from paygate.errors import ConfigurationError
from paygate.money import Money
from paygate.pricing.models import FeeContext


def fees(provider_section: dict[str, object] | None = None, **context: object):
    provider = make_provider(provider_section or {})
    ctx = FeeContext(provider="stripe", **context)  # type: ignore[arg-type]
    return provider.paygate_calculate_fees(ctx)


def test_stripe_domestic_card_fee() -> None:
    lines = fees(amount=Money("100.00", "USD"), card_country="US")
    assert [line.code for line in lines] == ["stripe_card"]
    (line,) = lines
    assert line.rate == Decimal("0.029")
    assert line.fixed == Money("0.30", "USD")
    assert line.amount == Money("3.20", "USD")
    assert "stripe.com/pricing" in line.source
    assert "2026-09-20" in line.source


def test_stripe_international_and_conversion_fees() -> None:
    lines = fees(amount=Money("100.00", "USD"), card_country="FR", currency_conversion=True)
    by_code = {line.code: line.amount for line in lines}
    assert by_code == {
        "stripe_card": Money("3.20", "USD"),
        "stripe_international_card": Money("1.50", "USD"),
        "stripe_currency_conversion": Money("1.00", "USD"),
    }


def test_stripe_manual_entry_fee() -> None:
    lines = fees(amount=Money("10.00", "USD"), method_kind="manual_card")
    assert {line.code: line.amount for line in lines}["stripe_manual_entry"] == Money("0.05", "USD")


def test_stripe_fee_rounds_half_up_once() -> None:
    # 2.9 % of 5.00 = 0.145, + 0.30 = 0.445: exactly half a cent, rounded up
    # (half-even would give 0.44).
    (line,) = fees(amount=Money("5.00", "USD"))
    assert line.amount == Money("0.45", "USD")


def test_stripe_fee_table_override() -> None:
    lines = fees(
        {
            "fees": {
                "merchant_country": "GB",
                "lines": {"card": {"rate": "0.015", "fixed": {"GBP": "0.20"}}},
            }
        },
        amount=Money("10.00", "GBP"),
        card_country="GB",
    )
    (line,) = lines
    assert line.amount == Money("0.35", "GBP")
    assert line.table
    assert line.table.endswith("+host")


def test_stripe_fee_without_fixed_for_currency_says_so() -> None:
    (line,) = fees(amount=Money("10.00", "EUR"), card_country="US")
    assert line.fixed is None
    assert "no fixed fee known for EUR" in line.label
    assert line.amount == Money("0.29", "EUR")


def test_stripe_no_card_fees_for_paypal() -> None:
    assert fees(amount=Money("10.00", "USD"), method_kind="paypal") == []


def test_stripe_bad_fee_override() -> None:
    provider = make_provider({"fees": {"lines": {"card": {"rate": "lots"}}}})
    with pytest.raises(ConfigurationError):
        provider.paygate_calculate_fees(FeeContext(provider="stripe", amount=Money("1.00", "USD")))

"""The engine's trusted builders give exactly what validation gives."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel

from paygate.money import Money, _trusted_minor
from paygate.pricing import Adjustment, FeeLine, LineItem, PricingContext, Quote, QuoteLine
from paygate.pricing.engine import build_quote

USD = "USD"


def _same(built: BaseModel, validated: BaseModel) -> None:
    assert built == validated
    assert type(built) is type(validated)
    assert list(built.__dict__) == list(type(validated).model_fields)
    assert built.model_fields_set == validated.model_fields_set
    assert built.model_dump_json() == validated.model_dump_json()
    assert repr(built) == repr(validated)
    assert built.__pydantic_extra__ == validated.__pydantic_extra__
    assert built.__pydantic_private__ == validated.__pydantic_private__


def _quote() -> Quote:
    items = (
        LineItem(sku="pro", unit_price=Money("49.00", USD), kind="plan"),
        LineItem(sku="seats", unit_price=Money("4.99", USD), quantity=3, kind="addon"),
        LineItem(sku="ticket", unit_price=Money("30.00", USD), kind="ticket"),
    )
    context = PricingContext(items=items, cycle="annual", currency=USD)
    adjustments = [
        Adjustment(code="annual", label="Annual", value=Decimal("0.20"), applies_to=("plan",)),
        Adjustment(code="promo", label="Promo", type="fixed", amount=Money("1.00", USD)),
    ]
    fees = [FeeLine(code="svc", label="Service", rate=Decimal("0.05"), payer="buyer")]
    return build_quote(context, adjustments, fees=fees)


def test_every_line_equals_the_validated_line() -> None:
    quote = _quote()
    assert {line.kind for line in quote.lines} == {"item", "adjustment", "fee"}
    for line in quote.lines:
        fields = {name: getattr(line, name) for name in line.model_fields_set}
        _same(line, QuoteLine(**fields))


def test_the_quote_equals_the_validated_quote() -> None:
    quote = _quote()
    _same(quote, Quote(**{name: getattr(quote, name) for name in Quote.model_fields}))


def test_trusted_money_equals_checked_money() -> None:
    for currency, minor in [("USD", 1999), ("USD", -5), ("USD", 0), ("JPY", 1234), ("KWD", 1)]:
        made = _trusted_minor(currency)(minor)
        checked = Money.from_minor(minor, currency)
        assert made == checked
        assert repr(made) == repr(checked)
        assert made.exponent == checked.exponent
        assert made.amount.as_tuple() == checked.amount.as_tuple()

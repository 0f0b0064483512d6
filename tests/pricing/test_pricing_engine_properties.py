"""Properties of the engine for random items, rates, currencies and rounding modes."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from paygate.money import Money, currency_exponent
from paygate.pricing import (
    ROUNDING_MODES,
    Adjustment,
    FeeContext,
    FeeLine,
    LineItem,
    PricingContext,
    Quote,
    build_fee_breakdown,
    build_quote,
)
from paygate.pricing.engine import _allocate

CURRENCIES = ["USD", "EUR", "JPY", "KWD", "BHD", "CLP"]
KINDS = ["plan", "addon", "toll_free_number", "ticket", "other"]
SKUS = ["a", "b", "c", "d"]
rates = st.decimals(min_value=0, max_value=Decimal("1.5"), places=4)
roundings = st.sampled_from(sorted(ROUNDING_MODES))


@st.composite
def quotes(draw: st.DrawFn) -> tuple[PricingContext, list[Adjustment], list[FeeLine], str]:
    currency = draw(st.sampled_from(CURRENCIES))
    items = tuple(
        LineItem(
            sku=draw(st.sampled_from(SKUS)),
            unit_price=Money.from_minor(draw(st.integers(0, 10**7)), currency),
            quantity=draw(st.integers(1, 20)),
            kind=draw(st.sampled_from(KINDS)),
        )
        for _ in range(draw(st.integers(1, 5)))
    )
    adjustments = []
    for i in range(draw(st.integers(0, 6))):
        fixed = draw(st.booleans())
        adjustments.append(
            Adjustment(
                code=f"adj{i}",
                label=f"Adjustment {i}",
                type="fixed" if fixed else "percent",
                value=Decimal(0) if fixed else draw(rates),
                amount=Money.from_minor(draw(st.integers(0, 10**8)), currency) if fixed else None,
                applies_to=tuple(draw(st.lists(st.sampled_from(KINDS + SKUS), max_size=3))),
                priority=draw(st.integers(0, 50)),
                compounds=draw(st.booleans()),
                surcharge=draw(st.booleans()),
            )
        )
    fees = [
        FeeLine(
            code=f"fee{i}",
            label=f"Fee {i}",
            rate=draw(st.decimals(min_value=0, max_value=Decimal("0.2"), places=4)),
            fixed=Money.from_minor(draw(st.integers(0, 1000)), currency),
            payer=draw(st.sampled_from(["buyer", "merchant"])),
        )
        for i in range(draw(st.integers(0, 2)))
    ]
    context = PricingContext(
        items=items,
        cycle=draw(st.sampled_from(["monthly", "annual"])),
        currency=currency,
    )
    return context, adjustments, fees, draw(roundings)


def _fits(money: Money) -> bool:
    return -money.amount.as_tuple().exponent <= currency_exponent(money.currency)  # type: ignore[operator]


@settings(max_examples=300, deadline=None)
@given(quotes())
def test_quote_lines_add_up_fit_the_currency_and_never_go_negative(
    case: tuple[PricingContext, list[Adjustment], list[FeeLine], str],
) -> None:
    context, adjustments, fees, rounding = case
    q: Quote = build_quote(context, adjustments, rounding=rounding, fees=fees)
    zero = Money.zero(context.currency)
    assert sum((line.amount for line in q.lines), zero) == q.total
    assert sum((line.amount for line in q.item_lines), zero) == q.subtotal
    assert q.subtotal + q.discounts + q.surcharges + q.fees == q.total
    assert q.total >= zero
    for line in q.lines:
        assert _fits(line.amount)
        assert line.amount.currency == context.currency
    for line in q.item_lines:
        assert line.net is not None
        assert line.net >= zero
    for line in q.adjustment_lines:
        assert sum(line.allocations.values(), zero) == line.amount
    nets = sum((line.net for line in q.item_lines if line.net is not None), zero)
    assert nets + q.fees == q.total


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(CURRENCIES),
    st.integers(0, 10**9),
    st.lists(st.tuples(rates, st.integers(0, 1000), st.booleans()), max_size=4),
    roundings,
)
def test_fee_breakdown_balances(
    currency: str, gross_minor: int, specs: list[tuple[Decimal, int, bool]], rounding: str
) -> None:
    gross = Money.from_minor(gross_minor, currency)
    lines = [
        FeeLine(
            code=f"f{i}",
            label="f",
            rate=rate,
            fixed=Money.from_minor(fixed, currency),
            payer="buyer" if buyer else "merchant",
        )
        for i, (rate, fixed, buyer) in enumerate(specs)
    ]
    b = build_fee_breakdown(FeeContext(amount=gross, provider="x"), lines, rounding=rounding)
    assert b.net + b.merchant_fees == b.gross
    assert b.charged == b.gross + b.buyer_fees
    assert b.total_fees == b.merchant_fees + b.buyer_fees
    zero = Money.zero(currency)
    assert sum((line.amount for line in b.lines if line.amount is not None), zero) == b.total_fees
    assert all(line.amount is not None and _fits(line.amount) for line in b.lines)


@given(
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)), min_size=1, max_size=8),
    st.data(),
)
def test_allocate_adds_up_and_respects_caps(
    pairs: list[tuple[int, int]], data: st.DataObject
) -> None:
    weights = [w for w, _ in pairs]
    caps = [c for _, c in pairs]
    total = data.draw(st.integers(0, sum(caps)))
    parts = _allocate(total, weights, caps)
    assert sum(parts) == total
    assert all(0 <= p <= c for p, c in zip(parts, caps, strict=True))

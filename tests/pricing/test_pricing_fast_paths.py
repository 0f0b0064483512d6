"""The engine's fast paths give exactly what the plain computation gives.

``reference_quote`` below is the quote engine as it was before its fast paths
(integer rounding of rates, Money made without descriptor calls, reads through
``__dict__``, cheaper line builders): Decimal contexts for every rounding
step, ``Money.minor_units`` for every amount read, Money built the way
``Money.from_minor`` builds it, validated models for every line. The engine
must give the same quote for any cart, field for field, down to each amount's
Decimal exponent, or raise the same error. It splits amounts with its own
``_reference_allocate`` (exact fractions, written from the rule, not from the
engine's code); the engine's ``_allocate`` and ``_allocate_general`` are held
to it and to the rule's properties by the tests under "pieces".
"""

from __future__ import annotations

import decimal
import math
import pickle
from collections.abc import Iterable
from decimal import Decimal
from fractions import Fraction
from operator import attrgetter
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from bench.quote_cart import quote_cart
from paygate.errors import ErrorCode, InvalidRequest
from paygate.models import construct
from paygate.money import Money, _minor_factor, _trusted_minor, currency_exponent
from paygate.pricing import (
    ROUNDING_MODES,
    Adjustment,
    FeeContext,
    FeeLine,
    LineItem,
    PricingContext,
    Quote,
    QuoteLine,
    build_fee_breakdown,
    build_quote,
)
from paygate.pricing.engine import _allocate, _allocate_general, _round_ratio, _scale
from paygate.pricing.models import _LINE_DEFAULTS

CURRENCIES = ["USD", "EUR", "JPY", "KWD", "BHD", "CLP", "CLF"]
KINDS = ["plan", "addon", "toll_free_number", "ticket", "other"]
SKUS = ["a", "b", "c", "d"]
RECURRING = frozenset({"plan", "addon", "toll_free_number"})


# -- the reference ---------------------------------------------------------------


def _reference_allocate(total: int, weights: list[int], caps: list[int] | None) -> list[int]:
    """Split ``total`` minor units in proportion to ``weights``, by the rule:

    each round gives every open part its exact share (a fraction) rounded
    down, then one more unit to the parts with the largest fractional
    remainders (the lower index first on a tie) until the round's amount is
    given; a part that would pass its cap keeps the cap and the excess is
    split again over the parts still open; parts that all weigh zero share
    evenly. Slow and plain on purpose: exact fractions, no shortcuts.
    """
    n = len(weights)
    parts = [0] * n
    open_parts = [i for i in range(n) if caps is None or caps[i] > 0]
    left = total
    while left > 0:
        assert open_parts, "the reference was asked for more than the caps hold"
        weight = {i: weights[i] for i in open_parts}
        if sum(weight.values()) == 0:
            weight = {i: 1 for i in open_parts}
        whole = sum(weight.values())
        share = {i: Fraction(left * weight[i], whole) for i in open_parts}
        given = {i: math.floor(share[i]) for i in open_parts}
        ranking = sorted(open_parts, key=lambda i: (-(share[i] - given[i]), i))
        for i in ranking[: left - sum(given.values())]:
            given[i] += 1
        excess = 0
        for i in open_parts:
            if caps is not None and parts[i] + given[i] > caps[i]:
                excess += parts[i] + given[i] - caps[i]
                given[i] = caps[i] - parts[i]
            parts[i] += given[i]
        left = excess
        if caps is not None:
            open_parts = [i for i in open_parts if parts[i] < caps[i]]
    return parts


_WIDE = decimal.Context(prec=200)
_CONTEXTS = {mode: decimal.Context(prec=80, rounding=mode) for mode in ROUNDING_MODES}


def _reference_fee_minor(fee: FeeLine, basis: int, currency: str, rounder: Any) -> int:
    if fee.amount is not None:
        if fee.amount.currency != currency:
            raise InvalidRequest(
                f"fee {fee.code!r} is in {fee.amount.currency}, the payment in {currency}",
                code=ErrorCode.INVALID_CURRENCY,
                param="amount",
            )
        minor = fee.amount.minor_units
        if minor < 0:
            raise InvalidRequest(f"fee {fee.code!r} is negative", param="amount")
        return minor
    if fee.rate < 0:
        raise InvalidRequest(f"fee {fee.code!r} has a negative rate", param="rate")
    fixed = 0
    if fee.fixed is not None:
        if fee.fixed.currency != currency:
            raise InvalidRequest(
                f"fee {fee.code!r} has a fixed part in {fee.fixed.currency}, "
                f"the payment is in {currency}",
                code=ErrorCode.INVALID_CURRENCY,
                param="fixed",
            )
        fixed = fee.fixed.minor_units
        if fixed < 0:
            raise InvalidRequest(f"fee {fee.code!r} has a negative fixed part", param="fixed")
    return int(rounder.to_integral_value(rounder.fma(basis, fee.rate, fixed)))


def _reference_label(name: str, quantity: int, unit_price: Money, months: int) -> str:
    # What str(Money) gave: the amount through format(), then the code.
    price = f"{unit_price.amount} {unit_price.currency}"
    if quantity != 1:
        if months != 1:
            return f"{name} ({quantity} × {price}, {months} months)"
        return f"{name} ({quantity} × {price})"
    if months != 1:
        return f"{name} ({months} months)"
    return name


def reference_quote(
    context: PricingContext,
    adjustments: Iterable[Adjustment],
    *,
    rounding: str = decimal.ROUND_HALF_UP,
    fees: Iterable[FeeLine] = (),
) -> Quote:
    rounder = _CONTEXTS.get(rounding)
    if rounder is None:
        raise InvalidRequest(
            f"unknown rounding mode {rounding!r}: expected one of {sorted(ROUNDING_MODES)}",
            param="rounding",
        )
    currency = context.currency
    items = context.items
    if not items:
        raise InvalidRequest("a quote needs at least one item", param="items")
    months: list[int] = []
    list_minor: list[int] = []
    for item in items:
        price = item.unit_price
        if price.currency != currency:
            raise InvalidRequest(
                f"item {item.sku!r} is priced in {price.currency}, "
                f"the quote is in {currency}: all items must share one currency",
                code=ErrorCode.INVALID_CURRENCY,
                param="items",
            )
        unit = price.minor_units
        if unit < 0:
            raise InvalidRequest(
                f"item {item.sku!r} has a negative price; use an adjustment for a discount",
                code=ErrorCode.INVALID_AMOUNT,
                param="items",
            )
        m = 12 if context.cycle == "annual" and item.kind in RECURRING else 1
        months.append(m)
        list_minor.append(unit * item.quantity * m)
    current = list_minor[:]

    exponent = currency_exponent(currency)

    def money(minor: int) -> Money:
        # Money.from_minor, minus its size check: the engine has none for what
        # it computes (a quote may add up beyond 18 digits).
        return Money._trusted(_WIDE.scaleb(Decimal(minor), -exponent), currency, exponent)

    lines: list[QuoteLine] = []
    discounts = surcharges = 0
    for adj in sorted(adjustments, key=attrgetter("priority", "code")):
        targets = [
            i
            for i, item in enumerate(items)
            if not adj.applies_to or item.kind in adj.applies_to or item.sku in adj.applies_to
        ]
        if not targets:
            continue
        worth = [current[i] for i in targets]
        room = sum(worth)
        rate = None
        if adj.type == "percent":
            rate = adj.value
            if rate < 0:
                raise InvalidRequest(
                    f"adjustment {adj.code!r}: value is a magnitude and cannot be negative "
                    "(set surcharge=True for a surcharge)",
                    param="value",
                )
            if adj.compounds:
                weights, basis = worth, room
            else:
                weights = [list_minor[i] for i in targets]
                basis = sum(weights)
            magnitude = int(rounder.to_integral_value(rounder.multiply(basis, rate)))
        else:
            if adj.amount is None:
                raise InvalidRequest(
                    f"adjustment {adj.code!r} is fixed but has no amount", param="amount"
                )
            if adj.amount.currency != currency:
                raise InvalidRequest(
                    f"adjustment {adj.code!r} is in {adj.amount.currency}, "
                    f"the quote is in {currency}",
                    code=ErrorCode.INVALID_CURRENCY,
                    param="amount",
                )
            magnitude = adj.amount.minor_units
            if magnitude < 0:
                raise InvalidRequest(
                    f"adjustment {adj.code!r}: amount is a magnitude and cannot be negative "
                    "(set surcharge=True for a surcharge)",
                    param="amount",
                )
            weights = worth
        clamped = False
        if adj.surcharge:
            parts = _reference_allocate(magnitude, list(weights), None)
            surcharges += magnitude
            signed = parts
        else:
            if magnitude > room:
                magnitude, clamped = room, True
            parts = _reference_allocate(magnitude, list(weights), list(worth))
            discounts += magnitude
            signed = [-p for p in parts]
        merged: dict[str, int] = {}
        for i, part in zip(targets, signed, strict=True):
            current[i] += part
            merged[items[i].sku] = merged.get(items[i].sku, 0) + part
        lines.append(
            QuoteLine(
                kind="adjustment",
                code=adj.code,
                label=adj.label,
                amount=money(magnitude if adj.surcharge else -magnitude),
                rate=rate,
                allocations={sku: money(part) for sku, part in merged.items()},
                clamped=clamped,
                source=adj.source,
            )
        )
    after = sum(current)
    fee_total = 0
    fee_lines: list[QuoteLine] = []
    for fee in fees:
        if fee.payer != "buyer":
            continue
        minor = _reference_fee_minor(fee, after, currency, rounder)
        fee_total += minor
        fee_lines.append(
            QuoteLine(
                kind="fee",
                code=fee.code,
                label=fee.label,
                amount=fee.amount if fee.amount is not None else money(minor),
                rate=fee.rate or None,
                source=fee.source,
            )
        )
    item_lines = [
        QuoteLine(
            kind="item",
            code=item.sku,
            label=_reference_label(item.description or item.sku, item.quantity, item.unit_price, m),
            amount=money(lst),
            quantity=item.quantity,
            months=m,
            unit_price=item.unit_price,
            net=money(cur),
        )
        for item, m, lst, cur in zip(items, months, list_minor, current, strict=True)
    ]
    # Not validated: the engine checks its invariant on the integers it made the
    # lines from, not on minor_units read back (which a narrow context rounds).
    # The tests in the default context validate the quote on top.
    return construct(
        Quote,
        currency=currency,
        cycle=context.cycle,
        rounding=rounding,
        lines=(*item_lines, *lines, *fee_lines),
        subtotal=money(sum(list_minor)),
        discounts=money(-discounts),
        surcharges=money(surcharges),
        fees=money(fee_total),
        total=money(after + fee_total),
    )


# -- comparing -------------------------------------------------------------------


def _money_fingerprint(value: object) -> object:
    # Decimal equality ignores the exponent (1.0 == 1.00): compare the digits too.
    if isinstance(value, Money):
        return ("Money", type(value), value.currency, value.exponent, value.amount.as_tuple())
    if isinstance(value, Decimal):
        return ("Decimal", value.as_tuple())
    if isinstance(value, dict):
        return [(k, _money_fingerprint(v)) for k, v in value.items()]
    if isinstance(value, tuple):
        return tuple(_money_fingerprint(v) for v in value)
    if isinstance(value, BaseModel):
        return (
            type(value),
            sorted(value.model_fields_set),
            [(k, _money_fingerprint(v)) for k, v in value.__dict__.items()],
            value.__pydantic_extra__,
            value.__pydantic_private__,
        )
    return (type(value), value)


def assert_same_quote(built: Quote, expected: Quote) -> None:
    if decimal.getcontext().prec >= 28:  # what validation reads back is exact
        assert Quote(**{name: getattr(built, name) for name in Quote.model_fields}) == built
    assert built == expected
    assert _money_fingerprint(built) == _money_fingerprint(expected)
    assert repr(built) == repr(expected)
    assert built.model_dump_json() == expected.model_dump_json()


def _outcome(fn: Any, *args: Any, **kwargs: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(*args, **kwargs)
    except InvalidRequest as exc:
        return "error", (type(exc), str(exc), exc.code, exc.param)


def assert_same_outcome(
    context: PricingContext,
    adjustments: list[Adjustment],
    fees: list[FeeLine],
    rounding: str,
) -> None:
    built = _outcome(build_quote, context, adjustments, rounding=rounding, fees=fees)
    expected = _outcome(reference_quote, context, adjustments, rounding=rounding, fees=fees)
    assert built[0] == expected[0], (built, expected)
    if built[0] == "ok":
        assert_same_quote(built[1], expected[1])
    else:
        assert built[1] == expected[1]


# -- carts -----------------------------------------------------------------------

# Rates as plugins write them, and rates with so many digits that the engine's
# 80-digit product would round: those must take the Decimal path.
plain_rates = st.decimals(min_value=0, max_value=Decimal("1.5"), places=4)
odd_rates = st.one_of(
    st.decimals(min_value=0, max_value=3, places=12),
    st.decimals(min_value=0, max_value=1, allow_nan=False, allow_infinity=False),
    # Up to 70 digits, below 10^3: totals stay within what Money can hold.
    st.builds(
        lambda n, e: Decimal(n).scaleb(e - len(str(n))), st.integers(0, 10**70), st.integers(-20, 3)
    ),
    st.sampled_from(
        [
            Decimal("0"),
            Decimal("-0"),
            Decimal("0E-10"),
            Decimal("1E+3"),
            Decimal("0.5"),
            Decimal("0.50"),
            Decimal("0.125"),
            Decimal("0.005"),
            Decimal("1"),
            Decimal("-0.1"),
        ]
    ),
)
rates = st.one_of(plain_rates, odd_rates)
roundings = st.sampled_from(sorted(ROUNDING_MODES))


@st.composite
def carts(draw: st.DrawFn) -> tuple[PricingContext, list[Adjustment], list[FeeLine], str]:
    currency = draw(st.sampled_from(CURRENCIES))
    other = "EUR" if currency != "EUR" else "USD"

    def money(minor: int, cur: str | None = None) -> Money:
        return Money.from_minor(minor, cur or currency)

    big = st.integers(0, 10**16)
    amounts = st.one_of(st.integers(0, 10**7), big)
    items = tuple(
        LineItem(
            sku=draw(st.sampled_from(SKUS)),
            description=draw(st.sampled_from(["", "Pro plan", "Seats"])),
            unit_price=money(
                draw(st.one_of(amounts, st.just(-1))) if draw(st.integers(0, 30)) else -1,
                draw(st.sampled_from([currency] * 20 + [other])),
            ),
            quantity=draw(st.integers(1, 30)),
            kind=draw(st.sampled_from(KINDS)),
        )
        for _ in range(draw(st.integers(0, 6)))
    )
    adjustments = []
    for i in range(draw(st.integers(0, 6))):
        fixed = draw(st.booleans())
        adjustments.append(
            Adjustment(
                code=draw(st.sampled_from([f"adj{i}", "same"])),
                label=f"Adjustment {i}",
                type="fixed" if fixed else "percent",
                value=draw(rates) if not fixed or draw(st.booleans()) else Decimal(0),
                amount=(
                    money(
                        draw(st.one_of(amounts, st.integers(-5, -1))),
                        draw(st.sampled_from([currency] * 20 + [other])),
                    )
                    if fixed and draw(st.integers(0, 20))
                    else None
                ),
                applies_to=tuple(draw(st.lists(st.sampled_from(KINDS + SKUS), max_size=3))),
                priority=draw(st.integers(0, 3)),
                compounds=draw(st.booleans()),
                surcharge=draw(st.booleans()),
                source=draw(st.sampled_from(["", "plugin"])),
            )
        )
    fees = [
        FeeLine(
            code=f"fee{i}",
            label=f"Fee {i}",
            rate=draw(rates),
            fixed=(
                money(
                    draw(st.one_of(st.integers(0, 1000), big, st.integers(-5, -1))),
                    draw(st.sampled_from([currency] * 20 + [other])),
                )
                if draw(st.booleans())
                else None
            ),
            amount=(
                money(draw(st.integers(-2, 10**6)), draw(st.sampled_from([currency] * 9 + [other])))
                if not draw(st.integers(0, 4))
                else None
            ),
            payer=draw(st.sampled_from(["buyer", "buyer", "merchant"])),
            source="bench",
        )
        for i in range(draw(st.integers(0, 3)))
    ]
    context = PricingContext(
        items=items, cycle=draw(st.sampled_from(["monthly", "annual"])), currency=currency
    )
    return context, adjustments, fees, draw(roundings)


def _bench_cart() -> tuple[PricingContext, list[Adjustment], list[FeeLine], str]:
    """The quotes figure's cart, with the adjustments its pricing hooks add."""
    items, fees = quote_cart()
    recurring = ("plan", "addon", "toll_free_number")
    adjustments = [
        Adjustment(
            code="nonprofit_discount",
            label="Nonprofit discount (10 %)",
            value=Decimal("0.10"),
            applies_to=recurring,
            priority=20,
        ),
        Adjustment(
            code="annual_discount",
            label="Annual billing discount (20 %)",
            value=Decimal("0.20"),
            applies_to=recurring,
            priority=10,
        ),
    ]
    return (
        PricingContext(items=items, cycle="annual", currency="USD"),
        adjustments,
        list(fees),
        "ROUND_HALF_UP",
    )


def test_the_benchmark_cart_equals_the_reference() -> None:
    context, adjustments, fees, rounding = _bench_cart()
    assert_same_outcome(context, adjustments, fees, rounding)
    for mode in sorted(ROUNDING_MODES):
        assert_same_outcome(context, adjustments, fees, mode)


@settings(max_examples=1000, deadline=None)
@given(carts())
def test_any_cart_equals_the_reference(
    case: tuple[PricingContext, list[Adjustment], list[FeeLine], str],
) -> None:
    assert_same_outcome(*case)


def test_model_construct_contexts_price_alike() -> None:
    # What the benchmark and hosts that skip validation pass: the same quote.
    context, adjustments, fees, rounding = _bench_cart()
    constructed = PricingContext.model_construct(
        items=context.items, cycle="annual", currency="USD", config={}
    )
    assert_same_quote(
        build_quote(constructed, adjustments, fees=fees, rounding=rounding),
        reference_quote(context, adjustments, fees=fees, rounding=rounding),
    )


def test_an_unknown_rounding_mode_is_refused_first() -> None:
    context, adjustments, _, _ = _bench_cart()
    empty = PricingContext(items=(), currency="USD")
    for ctx in (context, empty):
        assert _outcome(build_quote, ctx, adjustments, rounding="ROUND_NEAREST") == _outcome(
            reference_quote, ctx, adjustments, rounding="ROUND_NEAREST"
        )


def test_a_float_rate_still_fails_as_before() -> None:
    # Validation turns floats into Decimals; a constructed model can still
    # carry one, and the Decimal context refuses it: no silent float maths.
    context = _bench_cart()[0]
    adjustment = Adjustment.model_construct(code="f", label="F", value=0.5)
    with pytest.raises(TypeError):
        reference_quote(context, [adjustment])
    with pytest.raises(TypeError):
        build_quote(context, [adjustment])


# -- the rounding of a ratio -----------------------------------------------------


@settings(max_examples=3000, deadline=None)
@given(
    numerator=st.integers(0, 10**40),
    denominator=st.integers(1, 10**12),
    rounding=roundings,
)
@example(numerator=5, denominator=2, rounding=decimal.ROUND_05UP)
@example(numerator=105, denominator=2, rounding=decimal.ROUND_05UP)
@example(numerator=15, denominator=2, rounding=decimal.ROUND_HALF_EVEN)
@example(numerator=25, denominator=2, rounding=decimal.ROUND_HALF_EVEN)
@example(numerator=25, denominator=2, rounding=decimal.ROUND_HALF_DOWN)
def test_round_ratio_is_decimal_rounding(numerator: int, denominator: int, rounding: str) -> None:
    # How x = q + f (0 <= f < 1) rounds depends on q and on how f compares with
    # 0 and 1/2 only: a Decimal with the same q and the same comparison (exact,
    # at this precision) must round to the same integer.
    quotient, remainder = divmod(numerator, denominator)
    if not remainder:
        fraction = Decimal(0)
    elif 2 * remainder == denominator:
        fraction = Decimal("0.5")
    else:
        fraction = Decimal("0.25") if 2 * remainder < denominator else Decimal("0.75")
    context = decimal.Context(prec=200, rounding=rounding, traps=[decimal.Inexact])
    expected = int(context.to_integral_value(context.add(Decimal(quotient), fraction)))
    assert _round_ratio(numerator, denominator, rounding) == expected


# -- Money -----------------------------------------------------------------------


@settings(max_examples=500, deadline=None)
@given(minor=st.integers(-(10**20), 10**20), currency=st.sampled_from(CURRENCIES))
def test_trusted_money_is_ordinary_money(minor: int, currency: str) -> None:
    made = _trusted_minor(currency)(minor)
    checked = Money.from_minor(minor, currency) if abs(minor) < 10**17 else None
    assert type(made) is Money
    assert made.amount.as_tuple() == Decimal(minor).scaleb(-currency_exponent(currency)).as_tuple()
    assert made.currency == currency
    assert made.exponent == currency_exponent(currency)
    assert made.minor_units == minor
    if checked is not None:
        assert made == checked
        assert hash(made) == hash(checked)
        assert repr(made) == repr(checked)
        assert str(made) == str(checked)
        assert made.amount.as_tuple() == checked.amount.as_tuple()
        assert pickle.loads(pickle.dumps(made)) == made
    with pytest.raises(AttributeError):
        made._amount = Decimal(1)  # type: ignore[misc]
    with pytest.raises(AttributeError):
        made.other = 1  # type: ignore[attr-defined]


def test_fee_breakdowns_are_unchanged() -> None:
    gross = Money("123.45", "USD")
    lines = [
        FeeLine(code="a", label="A", rate=Decimal("0.029"), fixed=Money("0.30", "USD")),
        FeeLine(code="b", label="B", rate=Decimal("0.05"), payer="buyer"),
    ]
    b = build_fee_breakdown(FeeContext(amount=gross, provider="x"), lines)
    assert [line.amount for line in b.lines] == [Money("3.88", "USD"), Money("6.17", "USD")]
    assert b.net == Money("119.57", "USD")
    assert b.charged == Money("129.62", "USD")


# -- inputs the engine reads through their attributes -----------------------------


class _PlanItem(LineItem):
    """A subclass: read through its attributes, not its ``__dict__``."""


def test_subclassed_and_constructed_inputs_price_alike() -> None:
    context, adjustments, fees, rounding = _bench_cart()
    items = tuple(_PlanItem(**item.model_dump()) for item in context.items)
    sub = PricingContext(items=items, cycle="annual", currency="USD")
    constructed = [Adjustment.model_construct(**a.model_dump()) for a in adjustments]
    assert_same_quote(
        build_quote(sub, constructed, fees=fees, rounding=rounding),
        reference_quote(context, adjustments, fees=fees, rounding=rounding),
    )


def test_a_constructed_model_missing_a_field_fails_as_attribute_access_does() -> None:
    context, adjustments, fees, _ = _bench_cart()
    no_label = Adjustment.model_construct(code="x", value=Decimal("0.1"))
    no_currency = PricingContext.model_construct(items=context.items)
    for args in ((context, [*adjustments, no_label]), (no_currency, adjustments)):
        with pytest.raises(AttributeError) as built:
            build_quote(*args, fees=fees)
        with pytest.raises(AttributeError) as expected:
            reference_quote(*args, fees=fees)
        assert str(built.value) == str(expected.value)


@settings(max_examples=300, deadline=None)
@given(case=carts(), precision=st.integers(6, 27))
def test_a_narrow_decimal_context_gives_what_it_gave(
    case: tuple[PricingContext, list[Adjustment], list[FeeLine], str], precision: int
) -> None:
    # The engine reads amounts exactly, as Money.minor_units does, whatever
    # the caller's context; everything it computes, it computes in its own.
    with decimal.localcontext(decimal.Context(prec=precision)):
        assert_same_outcome(*case)


# -- pieces ------------------------------------------------------------------------


@settings(max_examples=1000, deadline=None)
@given(
    pairs=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)), min_size=1, max_size=9),
    data=st.data(),
)
def test_allocate_is_the_general_loop(pairs: list[tuple[int, int]], data: st.DataObject) -> None:
    weights = [w for w, _ in pairs]
    caps = [c for _, c in pairs]
    total = data.draw(st.integers(0, sum(weights) or 1))
    assert _allocate(total, weights) == _allocate_general(total, weights, None)
    assert _allocate(total, weights, None, sum(weights)) == _allocate_general(total, weights, None)
    if total <= sum(weights):  # a compounding discount: the weights are the caps
        assert _allocate(total, weights, weights) == _allocate_general(total, weights, weights)
    capped = data.draw(st.integers(0, sum(caps)))
    assert _allocate(capped, weights, caps) == _allocate_general(capped, weights, caps)


@settings(max_examples=500, deadline=None)
@given(
    pairs=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)), min_size=1, max_size=9),
    data=st.data(),
)
def test_allocation_follows_the_rule(pairs: list[tuple[int, int]], data: st.DataObject) -> None:
    weights = [w for w, _ in pairs]
    caps = [c for _, c in pairs]
    total = data.draw(st.integers(0, 10**7))
    parts = _allocate_general(total, weights, None)
    assert parts == _reference_allocate(total, weights, None)
    # The rule's properties, without any implementation: exact sum, and each
    # part within one unit of its exact proportional share.
    assert sum(parts) == total
    if sum(weights):
        for part, weight in zip(parts, weights, strict=True):
            assert abs(part - Fraction(total * weight, sum(weights))) < 1
    capped = data.draw(st.integers(0, sum(caps)))
    parts = _allocate_general(capped, weights, caps)
    assert parts == _reference_allocate(capped, weights, caps)
    assert sum(parts) == capped
    assert all(0 <= p <= c for p, c in zip(parts, caps, strict=True))


@given(
    minor=st.integers(-(10**20), 10**20),
    currency=st.sampled_from(CURRENCIES),
    precision=st.integers(3, 40),
)
def test_minor_factor_reads_what_minor_units_reads(
    minor: int, currency: str, precision: int
) -> None:
    money = _trusted_minor(currency)(minor)
    with decimal.localcontext(decimal.Context(prec=precision)):
        # Both exact whatever the thread's precision: Money keeps its own context.
        assert int(_scale(money.amount, _minor_factor(money.exponent))) == money.minor_units
        assert money.minor_units == minor


@given(minor=st.integers(-(10**20), 10**20), currency=st.sampled_from(CURRENCIES))
def test_money_str_is_the_formatted_amount(minor: int, currency: str) -> None:
    money = _trusted_minor(currency)(minor)
    assert str(money) == f"{money.amount} {money.currency}"


def test_line_defaults_are_the_fields_defaults() -> None:
    fields = QuoteLine.model_fields
    assert list(_LINE_DEFAULTS) == list(fields)
    for name, default in _LINE_DEFAULTS.items():
        if name in ("kind", "code", "label", "amount"):  # required: every builder sets them
            assert fields[name].is_required()
        elif name == "allocations":  # a fresh dict per line, as the factory gives
            assert fields[name].default_factory is dict
        else:
            assert fields[name].default == default


class _BenchFee(FeeLine):
    """A subclass: read through its attributes."""


def test_subclassed_fee_lines_price_alike() -> None:
    context, adjustments, fees, rounding = _bench_cart()
    sub = [_BenchFee(**fee.model_dump()) for fee in fees]
    assert_same_quote(
        build_quote(context, adjustments, fees=sub, rounding=rounding),
        reference_quote(context, adjustments, fees=fees, rounding=rounding),
    )


def test_a_signaling_nan_rate_fails_as_before() -> None:
    # Not a number a plugin should produce; with InvalidOperation not trapped
    # by the caller, the comparison lets it through to the Decimal context,
    # which refuses it.
    context = _bench_cart()[0]
    adjustment = Adjustment.model_construct(code="n", label="N", value=Decimal("sNaN"))
    fee = FeeLine.model_construct(code="n", label="N", rate=Decimal("sNaN"), payer="buyer")
    quiet = decimal.Context(traps=[])
    for adjustments, fees in (([adjustment], []), ([], [fee])):
        with decimal.localcontext(quiet), pytest.raises(decimal.InvalidOperation):
            reference_quote(context, adjustments, fees=fees)
        with decimal.localcontext(quiet), pytest.raises(decimal.InvalidOperation):
            build_quote(context, adjustments, fees=fees)

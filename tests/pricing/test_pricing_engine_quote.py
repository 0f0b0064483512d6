"""Worked examples of the quote engine, with the arithmetic written down."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

import pytest

from paygate.errors import ErrorCode, InvalidRequest
from paygate.models import Customer
from paygate.money import Money
from paygate.pricing import (
    Adjustment,
    FeeLine,
    LineItem,
    PricingContext,
    build_quote,
)

NONPROFIT = Customer(id="cus_np", nonprofit=True)


def plan(price: str, currency: str = "USD", sku: str = "pro", **kw: object) -> LineItem:
    return LineItem(sku=sku, description=f"{sku} plan", unit_price=Money(price, currency), **kw)


def ctx(*items: LineItem, cycle: str = "monthly", currency: str = "USD") -> PricingContext:
    return PricingContext(items=items, cycle=cycle, currency=currency, customer=NONPROFIT)


def annual(rate: str = "0.20", priority: int = 10, compounds: bool = True) -> Adjustment:
    return Adjustment(
        code="annual_discount",
        label=f"Annual discount ({rate})",
        value=Decimal(rate),
        applies_to=("plan", "addon", "toll_free_number"),
        priority=priority,
        compounds=compounds,
    )


def nonprofit(rate: str = "0.25", priority: int = 20, compounds: bool = True) -> Adjustment:
    return Adjustment(
        code="nonprofit_discount",
        label=f"Nonprofit discount ({rate})",
        value=Decimal(rate),
        applies_to=("plan", "addon", "toll_free_number"),
        priority=priority,
        compounds=compounds,
    )


def amounts(quote: object) -> list[tuple[str, str]]:
    return [(line.code, str(line.amount.amount)) for line in quote.lines]  # type: ignore[attr-defined]


def test_issue_example_annual_nonprofit_compound() -> None:
    # 25.00 USD/month, annual: 25.00 × 12 = 300.00 list
    # annual 20 %:            300.00 × 0.20 = 60.00  -> 240.00 left
    # nonprofit 25 %:         240.00 × 0.25 = 60.00  -> 180.00
    q = build_quote(ctx(plan("25.00"), cycle="annual"), [nonprofit(), annual()])
    assert amounts(q) == [
        ("pro", "300.00"),
        ("annual_discount", "-60.00"),
        ("nonprofit_discount", "-60.00"),
    ]
    assert q.subtotal == Money("300.00", "USD")
    assert q.discounts == Money("-120.00", "USD")
    assert q.total == Money("180.00", "USD")
    assert q.line("pro").months == 12
    assert q.line("pro").net == Money("180.00", "USD")


def test_monthly_nonprofit_only_applies_once() -> None:
    # monthly: 25.00 list, no annual discount, nonprofit 25 % = 6.25 -> 18.75
    q = build_quote(ctx(plan("25.00")), [nonprofit()])
    assert amounts(q) == [("pro", "25.00"), ("nonprofit_discount", "-6.25")]
    assert q.total == Money("18.75", "USD")
    assert q.line("pro").months == 1


def test_additive_stacking_applies_each_to_the_list_price() -> None:
    # 300.00 list; annual 20 % of 300.00 = 60.00; nonprofit 25 % of 300.00 = 75.00
    # 300.00 - 60.00 - 75.00 = 165.00
    q = build_quote(
        ctx(plan("25.00"), cycle="annual"),
        [annual(compounds=False), nonprofit(compounds=False)],
    )
    assert amounts(q)[1:] == [("annual_discount", "-60.00"), ("nonprofit_discount", "-75.00")]
    assert q.total == Money("165.00", "USD")


def test_mixed_items_recurring_kinds_are_multiplied_tickets_are_not() -> None:
    items = (
        plan("25.00"),  # 25.00 × 12 = 300.00
        LineItem(sku="storage", unit_price=Money("5.00", "USD"), quantity=2, kind="addon"),
        # 5.00 × 2 × 12 = 120.00
        LineItem(sku="tf-us", unit_price=Money("3.99", "USD"), kind="toll_free_number"),
        # 3.99 × 12 = 47.88
        LineItem(sku="webinar", unit_price=Money("10.00", "USD"), quantity=3, kind="ticket"),
        # 10.00 × 3 = 30.00, one-off
    )
    q = build_quote(ctx(*items, cycle="annual"), [annual()])
    # subtotal 300.00 + 120.00 + 47.88 + 30.00 = 497.88
    assert q.subtotal == Money("497.88", "USD")
    assert [line.months for line in q.item_lines] == [12, 12, 12, 1]
    # annual 20 % of the recurring items only: 467.88 × 0.20 = 93.576 -> 93.58
    # split over 300.00 / 120.00 / 47.88: exact 60.00 / 24.00 / 9.576;
    # floors 60.00 / 24.00 / 9.57 leave 0.01, which goes to the largest remainder (9.576)
    line = q.line("annual_discount")
    assert line.amount == Money("-93.58", "USD")
    assert line.allocations == {
        "pro": Money("-60.00", "USD"),
        "storage": Money("-24.00", "USD"),
        "tf-us": Money("-9.58", "USD"),
    }
    assert q.line("webinar").net == Money("30.00", "USD")
    # 497.88 - 93.58 = 404.30
    assert q.total == Money("404.30", "USD")


def test_percent_spread_uses_largest_remainder() -> None:
    items = tuple(plan("3.33", sku=f"p{i}") for i in range(3))
    # 9.99 × 0.50 = 4.995 -> 5.00 (half up), split 1.665 each:
    # floors 1.66 × 3 = 4.98, the 0.02 left go to the first two (equal remainders)
    q = build_quote(ctx(*items), [Adjustment(code="half", label="Half off", value=Decimal("0.5"))])
    assert q.line("half").amount == Money("-5.00", "USD")
    assert q.line("half").allocations == {
        "p0": Money("-1.67", "USD"),
        "p1": Money("-1.67", "USD"),
        "p2": Money("-1.66", "USD"),
    }
    assert [line.net for line in q.item_lines] == [
        Money("1.66", "USD"),
        Money("1.66", "USD"),
        Money("1.67", "USD"),
    ]
    assert q.total == Money("4.99", "USD")


@pytest.mark.parametrize(
    ("rounding", "discount", "total"),
    [
        # 1.25 × 0.10 = 0.125: half-up gives 0.13, half-even 0.12
        (ROUND_HALF_UP, "-0.13", "1.12"),
        (ROUND_HALF_EVEN, "-0.12", "1.13"),
    ],
)
def test_rounding_mode_is_declared_and_applied_once(
    rounding: str, discount: str, total: str
) -> None:
    q = build_quote(
        ctx(plan("1.25")),
        [Adjustment(code="ten", label="10 %", value=Decimal("0.10"))],
        rounding=rounding,
    )
    assert q.rounding == rounding
    assert q.line("ten").amount == Money(discount, "USD")
    assert q.total == Money(total, "USD")


def test_jpy_zero_decimal_quote() -> None:
    # 1,234 JPY/month, annual: 1,234 × 12 = 14,808
    # annual 20 %:    14,808 × 0.20 = 2,961.6 -> 2,962;  11,846 left
    # nonprofit 25 %: 11,846 × 0.25 = 2,961.5 -> 2,962 (half up); 8,884
    q = build_quote(
        ctx(plan("1234", "JPY"), cycle="annual", currency="JPY"), [annual(), nonprofit()]
    )
    assert amounts(q) == [
        ("pro", "14808"),
        ("annual_discount", "-2962"),
        ("nonprofit_discount", "-2962"),
    ]
    assert q.total == Money("8884", "JPY")
    assert all(line.amount.amount.as_tuple().exponent == 0 for line in q.lines)


def test_kwd_three_decimal_quote() -> None:
    # 1.234 KWD/month, annual: 1.234 × 12 = 14.808
    # annual 20 %:    14.808 × 0.20 = 2.9616 -> 2.962;  11.846 left
    # nonprofit 25 %: 11.846 × 0.25 = 2.9615 -> 2.962 (half up); 8.884
    q = build_quote(
        ctx(plan("1.234", "KWD"), cycle="annual", currency="KWD"), [annual(), nonprofit()]
    )
    assert amounts(q) == [
        ("pro", "14.808"),
        ("annual_discount", "-2.962"),
        ("nonprofit_discount", "-2.962"),
    ]
    assert q.total == Money("8.884", "KWD")


def test_fixed_discount_larger_than_the_price_is_clamped() -> None:
    # a 50.00 coupon on a 25.00 plan: clamped to 25.00, total 0.00, never negative
    coupon = Adjustment(code="coupon", label="Coupon", type="fixed", amount=Money("50.00", "USD"))
    q = build_quote(ctx(plan("25.00")), [coupon])
    assert q.line("coupon").amount == Money("-25.00", "USD")
    assert q.line("coupon").clamped
    assert q.total == Money("0.00", "USD")


def test_percent_over_100_is_clamped_after_earlier_discounts() -> None:
    # 100.00 - 20 % (20.00) = 80.00 left; then 150 % of 80.00 = 120.00, clamped to 80.00
    q = build_quote(
        ctx(plan("100.00")),
        [
            Adjustment(code="a", label="A", value=Decimal("0.2"), priority=1),
            Adjustment(code="b", label="B", value=Decimal("1.5"), priority=2),
        ],
    )
    assert q.line("a").amount == Money("-20.00", "USD")
    assert q.line("b").amount == Money("-80.00", "USD")
    assert q.line("b").clamped
    assert not q.line("a").clamped
    assert q.total == Money("0.00", "USD")


def test_non_compounding_discount_moves_to_items_with_room_left() -> None:
    a = plan("100.00", sku="a")
    b = plan("100.00", sku="b")
    # 90.00 off item a only: a is worth 10.00, b 100.00
    # then 50 % of the list price of both: 200.00 × 0.5 = 100.00; by list price
    # 50.00 each, but a has only 10.00 left: a takes 10.00, b takes 90.00
    q = build_quote(
        ctx(a, b),
        [
            Adjustment(
                code="a90",
                label="90 off a",
                type="fixed",
                amount=Money("90.00", "USD"),
                applies_to=("a",),
                priority=1,
            ),
            Adjustment(
                code="half", label="Half of list", value=Decimal("0.5"), compounds=False, priority=2
            ),
        ],
    )
    assert q.line("half").amount == Money("-100.00", "USD")
    assert q.line("half").allocations == {"a": Money("-10.00", "USD"), "b": Money("-90.00", "USD")}
    assert not q.line("half").clamped
    assert [line.net for line in q.item_lines] == [Money("0.00", "USD"), Money("10.00", "USD")]
    # 200.00 - 90.00 - 100.00 = 10.00
    assert q.total == Money("10.00", "USD")


def test_surcharge_is_a_positive_line() -> None:
    setup = Adjustment(
        code="setup",
        label="Toll-free setup",
        type="fixed",
        amount=Money("2.00", "USD"),
        surcharge=True,
        applies_to=("toll_free_number",),
    )
    tf = LineItem(sku="tf", unit_price=Money("3.99", "USD"), kind="toll_free_number")
    q = build_quote(ctx(plan("25.00"), tf), [setup])
    # 25.00 + 3.99 + 2.00 = 30.99
    assert q.line("setup").amount == Money("2.00", "USD")
    assert q.surcharges == Money("2.00", "USD")
    assert q.total == Money("30.99", "USD")


def test_order_is_priority_then_code_not_input_order() -> None:
    # The same adjustments in either order give the same lines: the priority
    # decides, and for equal priorities the code does.
    adjs = [
        Adjustment(code="z", label="Z", value=Decimal("0.1"), priority=5),
        Adjustment(code="b", label="B", value=Decimal("0.1"), priority=1),
        Adjustment(code="a", label="A", value=Decimal("0.1"), priority=5),
    ]
    q1 = build_quote(ctx(plan("33.33")), adjs)
    q2 = build_quote(ctx(plan("33.33")), list(reversed(adjs)))
    assert [line.code for line in q1.adjustment_lines] == ["b", "a", "z"]
    assert q1 == q2
    # 33.33 -> -3.33 (3.333) -> 30.00 -> -3.00 -> 27.00 -> -2.70 -> 24.30
    assert amounts(q1)[1:] == [("b", "-3.33"), ("a", "-3.00"), ("z", "-2.70")]


def test_adjustment_matching_no_item_adds_no_line() -> None:
    q = build_quote(
        ctx(LineItem(sku="t", unit_price=Money("10.00", "USD"), kind="ticket")), [annual()]
    )
    assert q.adjustment_lines == ()
    assert q.total == Money("10.00", "USD")


def test_buyer_paid_fees_are_quote_lines_merchant_fees_are_not() -> None:
    ticket = LineItem(sku="t", unit_price=Money("30.00", "USD"), kind="ticket")
    fees = [
        FeeLine(code="booking", label="Booking fee (5 %)", rate=Decimal("0.05"), payer="buyer"),
        FeeLine(code="gateway", label="Gateway", rate=Decimal("0.029"), fixed=Money("0.30", "USD")),
    ]
    q = build_quote(ctx(ticket), [], fees=fees)
    # 30.00 × 0.05 = 1.50 on top; the merchant's gateway fee is not the buyer's business
    assert amounts(q) == [("t", "30.00"), ("booking", "1.50")]
    assert q.fees == Money("1.50", "USD")
    assert q.total == Money("31.50", "USD")


def test_buyer_fee_is_computed_on_the_discounted_total() -> None:
    fee = FeeLine(code="svc", label="Service", rate=Decimal("0.05"), payer="buyer")
    # 25.00 - 6.25 = 18.75; 18.75 × 0.05 = 0.9375 -> 0.94; 18.75 + 0.94 = 19.69
    q = build_quote(ctx(plan("25.00")), [nonprofit()], fees=[fee])
    assert q.line("svc").amount == Money("0.94", "USD")
    assert q.total == Money("19.69", "USD")


def test_items_in_another_currency_are_refused() -> None:
    with pytest.raises(InvalidRequest) as err:
        build_quote(ctx(plan("25.00"), plan("10.00", "EUR", sku="x")), [])
    assert err.value.code == ErrorCode.INVALID_CURRENCY


def test_adjustment_in_another_currency_is_refused() -> None:
    coupon = Adjustment(code="c", label="C", type="fixed", amount=Money("5.00", "EUR"))
    with pytest.raises(InvalidRequest) as err:
        build_quote(ctx(plan("25.00")), [coupon])
    assert err.value.code == ErrorCode.INVALID_CURRENCY


@pytest.mark.parametrize(
    "adjustment",
    [
        Adjustment(code="neg", label="N", value=Decimal("-0.1")),
        Adjustment(code="neg", label="N", type="fixed", amount=Money("-1.00", "USD")),
        Adjustment(code="none", label="N", type="fixed"),
    ],
)
def test_malformed_adjustments_are_refused(adjustment: Adjustment) -> None:
    with pytest.raises(InvalidRequest):
        build_quote(ctx(plan("25.00")), [adjustment])


def test_empty_quote_and_unknown_rounding_are_refused() -> None:
    with pytest.raises(InvalidRequest):
        build_quote(PricingContext(items=(), currency="USD"), [])
    with pytest.raises(InvalidRequest) as err:
        build_quote(ctx(plan("25.00")), [], rounding="ROUND_NEAREST")
    assert err.value.param == "rounding"


def test_quote_refuses_lines_that_do_not_add_up() -> None:
    q = build_quote(ctx(plan("25.00")), [nonprofit()])
    with pytest.raises(InvalidRequest):
        type(q)(**{**q.__dict__, "total": Money("18.76", "USD")})


def test_shared_and_full_applies_to_price_like_no_filter() -> None:
    # The engine reuses the targets of the previous adjustment when applies_to
    # is unchanged, and treats a filter that matches every item as no filter:
    # both must price exactly as the plain cases.
    items = (
        plan("49.00", sku="a", kind="plan"),
        plan("4.99", sku="b", kind="addon", quantity=3),
        plan("9.00", sku="c", kind="toll_free_number"),
    )
    every = ("plan", "addon", "toll_free_number")

    def adjustments(applies: tuple[str, ...]) -> list[Adjustment]:
        return [
            Adjustment(code="x", label="X", value=Decimal("0.2"), applies_to=applies, priority=1),
            Adjustment(
                code="y", label="Y", value=Decimal("0.15"), applies_to=tuple(applies), priority=2
            ),
            Adjustment(
                code="z", label="Z", value=Decimal("0.1"), applies_to=applies, compounds=False
            ),
            Adjustment(
                code="s",
                label="S",
                type="fixed",
                amount=Money("1.00", "USD"),
                applies_to=applies,
                surcharge=True,
                priority=200,
            ),
        ]

    filtered = build_quote(ctx(*items, cycle="annual"), adjustments(every))
    plain = build_quote(ctx(*items, cycle="annual"), adjustments(()))
    assert filtered.model_dump_json() == plain.model_dump_json()
    assert sum(line.amount.minor_units for line in filtered.lines) == filtered.total.minor_units

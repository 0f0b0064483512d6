"""Pricing values: line items, adjustments, fee lines, quotes and fee breakdowns."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import Field

from paygate.models import Customer, FrozenModel, trusted
from paygate.money import Money

Cycle = Literal["monthly", "annual"]


class LineItem(FrozenModel):
    """Something a customer buys. A plan's or add-on's ``unit_price`` is its
    monthly list price; an annual quote bills 12 months of it."""

    sku: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=500)
    unit_price: Money
    quantity: int = Field(default=1, ge=1, le=1_000_000)
    kind: str = Field(default="plan", max_length=50)


class Adjustment(FrozenModel):
    """A discount (negative) or surcharge (positive) a plugin proposes.

    :ivar type: ``percent`` (``value`` is a fraction, 0.20 = 20 %) or
        ``fixed`` (``amount`` is taken off, or added, once).
    :ivar applies_to: line ``kind`` or ``sku`` values it applies to; empty
        means every line.
    :ivar priority: lower applies first.
    :ivar compounds: a percent applies to what earlier adjustments left
        (``True``) or to the list price (``False``).
    """

    code: str
    label: str
    type: Literal["percent", "fixed"] = "percent"
    value: Decimal = Decimal(0)
    amount: Money | None = None
    applies_to: tuple[str, ...] = ()
    priority: int = 100
    compounds: bool = True
    surcharge: bool = False
    source: str = ""


class FeeLine(FrozenModel):
    """A fee on a payment: ``rate`` of the basis plus ``fixed``.

    ``amount`` is filled by the engine (one rounding step) when a plugin
    leaves it empty.
    """

    code: str
    label: str
    rate: Decimal = Decimal(0)
    fixed: Money | None = None
    amount: Money | None = None
    payer: Literal["merchant", "buyer"] = "merchant"
    source: str = ""
    table: str | None = None


class PricingContext(FrozenModel):
    items: tuple[LineItem, ...]
    cycle: Cycle = "monthly"
    customer: Customer | None = None
    currency: str
    config: dict[str, Any] = Field(default_factory=dict)


class FeeContext(FrozenModel):
    amount: Money
    provider: str
    kind: str = "payment"
    card_country: str | None = None
    merchant_country: str | None = None
    currency_conversion: bool = False
    method_kind: str = "card"
    config: dict[str, Any] = Field(default_factory=dict)


# -- results -----------------------------------------------------------------


class QuoteLine(FrozenModel):
    """One visible line of a :class:`Quote`.

    :ivar kind: ``item`` (list price of a line item), ``adjustment`` (a
        discount, negative, or a surcharge, positive) or ``fee`` (a fee the
        buyer pays on top).
    :ivar code: the item's ``sku``, the adjustment's or the fee's ``code``.
    :ivar amount: the signed amount this line adds to the total, rounded once.
    :ivar months: billing months an item line covers (12 for a recurring item
        on an annual quote, else 1).
    :ivar net: for an item line, what is left of it after every adjustment.
    :ivar allocations: for an adjustment line, how its amount is split over
        the items it touched (by ``sku``); the parts add up to ``amount``.
    :ivar clamped: the adjustment was reduced so that no item goes below zero.
    """

    kind: Literal["item", "adjustment", "fee"]
    code: str
    label: str
    amount: Money
    quantity: int = 1
    months: int = 1
    unit_price: Money | None = None
    net: Money | None = None
    rate: Decimal | None = None
    allocations: dict[str, Money] = Field(default_factory=dict)
    clamped: bool = False
    source: str = ""


def check_quote_total(lines: tuple[QuoteLine, ...], total: Money) -> None:
    """The invariant of every quote: its lines add up to a non-negative total."""
    from paygate.errors import InvalidRequest

    added = sum(line.amount.minor_units for line in lines)
    if added != total.minor_units:
        raise InvalidRequest(
            f"quote lines add up to {Money.from_minor(added, total.currency)}, "
            f"not to the total {total}"
        )
    if total.amount < 0:
        raise InvalidRequest(f"a quote total cannot be negative ({total})")


# -- trusted builders -----------------------------------------------------------
#
# The engine makes ten or so of these per quote from values it computed and
# checked itself; pydantic's validation (or even ``model_construct``'s walk
# over the fields) would cost more than the pricing. Each builder hands
# ``paygate.models.trusted`` every field, in declaration order (so dumps and
# reprs read as for a validated model), and the fields the engine sets as
# ``model_fields_set``. ``tests/pricing`` checks that each one equals the
# validated model.

_ITEM_SET = frozenset(
    {"kind", "code", "label", "amount", "quantity", "months", "unit_price", "net"}
)
_ADJUSTMENT_SET = frozenset(
    {"kind", "code", "label", "amount", "rate", "allocations", "clamped", "source"}
)
_FEE_SET = frozenset({"kind", "code", "label", "amount", "rate", "source"})


#: Every field of a line, in declaration order, at its default: each builder
#: copies one (a copy of a small dict is a block copy, cheaper than building it
#: key by key) and sets what it knows. ``allocations`` gets a dict of its own.
_LINE_DEFAULTS: dict[str, Any] = {
    "kind": "item",
    "code": "",
    "label": "",
    "amount": None,
    "quantity": 1,
    "months": 1,
    "unit_price": None,
    "net": None,
    "rate": None,
    "allocations": None,
    "clamped": False,
    "source": "",
}
_copy_line_defaults = _LINE_DEFAULTS.copy


def _trusted_item_line(
    code: str, label: str, amount: Money, quantity: int, months: int, unit_price: Money, net: Money
) -> QuoteLine:
    """An item line from engine-computed values (no validation)."""
    data = _copy_line_defaults()
    data["code"] = code
    data["label"] = label
    data["amount"] = amount
    data["quantity"] = quantity
    data["months"] = months
    data["unit_price"] = unit_price
    data["net"] = net
    data["allocations"] = {}
    return trusted(QuoteLine, data, _ITEM_SET)


def _trusted_adjustment_line(
    code: str,
    label: str,
    amount: Money,
    rate: Decimal | None,
    allocations: dict[str, Money],
    clamped: bool,
    source: str,
) -> QuoteLine:
    """An adjustment line from engine-computed values (no validation)."""
    data = _copy_line_defaults()
    data["kind"] = "adjustment"
    data["code"] = code
    data["label"] = label
    data["amount"] = amount
    data["rate"] = rate
    data["allocations"] = allocations
    data["clamped"] = clamped
    data["source"] = source
    return trusted(QuoteLine, data, _ADJUSTMENT_SET)


def _trusted_fee_line(
    code: str, label: str, amount: Money, rate: Decimal | None, source: str
) -> QuoteLine:
    """A buyer fee line from engine-computed values (no validation)."""
    data = _copy_line_defaults()
    data["kind"] = "fee"
    data["code"] = code
    data["label"] = label
    data["amount"] = amount
    data["rate"] = rate
    data["allocations"] = {}
    data["source"] = source
    return trusted(QuoteLine, data, _FEE_SET)


class Quote(FrozenModel):
    """What a customer will pay, line by line: nothing hidden.

    ``sum(line.amount for line in lines) == total`` always holds (checked on
    construction), every amount has at most the currency's decimals, and the
    total is never negative.
    """

    currency: str
    cycle: Cycle
    rounding: str
    lines: tuple[QuoteLine, ...]
    subtotal: Money
    discounts: Money
    surcharges: Money
    fees: Money
    total: Money

    def model_post_init(self, context: Any, /) -> None:
        check_quote_total(self.lines, self.total)

    @property
    def item_lines(self) -> tuple[QuoteLine, ...]:
        return tuple(line for line in self.lines if line.kind == "item")

    @property
    def adjustment_lines(self) -> tuple[QuoteLine, ...]:
        return tuple(line for line in self.lines if line.kind == "adjustment")

    @property
    def fee_lines(self) -> tuple[QuoteLine, ...]:
        return tuple(line for line in self.lines if line.kind == "fee")

    def line(self, code: str) -> QuoteLine:
        """The first line with this ``code`` (a sku or an adjustment/fee code)."""
        for line in self.lines:
            if line.code == code:
                return line
        raise KeyError(code)


_QUOTE_SET = frozenset(Quote.model_fields)


def _trusted_quote(
    currency: str,
    cycle: Cycle,
    rounding: str,
    lines: tuple[QuoteLine, ...],
    subtotal: Money,
    discounts: Money,
    surcharges: Money,
    fees: Money,
    total: Money,
) -> Quote:
    """A quote from engine-computed values: no validation, and no
    ``model_post_init`` (the engine checks the invariant on its integers)."""
    return trusted(
        Quote,
        {
            "currency": currency,
            "cycle": cycle,
            "rounding": rounding,
            "lines": lines,
            "subtotal": subtotal,
            "discounts": discounts,
            "surcharges": surcharges,
            "fees": fees,
            "total": total,
        },
        _QUOTE_SET,
    )


class FeeBreakdown(FrozenModel):
    """The fees on one payment and what the merchant is paid out.

    :ivar gross: the price of the sale (the basis of every ``rate``).
    :ivar lines: every fee line, each with its ``amount`` filled in.
    :ivar merchant_fees: fees taken from the payout.
    :ivar buyer_fees: fees the buyer pays on top of the gross.
    :ivar total_fees: ``merchant_fees + buyer_fees``.
    :ivar charged: what the buyer is charged: ``gross + buyer_fees``.
    :ivar net: the merchant's payout: ``gross - merchant_fees``. It can be
        negative on a tiny payment whose fixed fees exceed it; that is a fact
        about the sale, so it is shown, not hidden.
    """

    gross: Money
    provider: str
    kind: str
    rounding: str
    lines: tuple[FeeLine, ...]
    merchant_fees: Money
    buyer_fees: Money
    total_fees: Money
    charged: Money
    net: Money

    def line(self, code: str) -> FeeLine:
        for line in self.lines:
            if line.code == code:
                return line
        raise KeyError(code)

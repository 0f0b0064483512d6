"""The quote and fee engine: pure functions, no plugin manager.

The facade collects adjustments (``paygate_price_adjustments``) and fee lines
(``paygate_calculate_fees``) from the plugins and hands them to
:func:`build_quote` and :func:`build_fee_breakdown`.

How a quote is built
--------------------
1. **List price.** Each item line is ``unit_price × quantity × months``, where
   ``months`` is 12 for a recurring kind (:data:`RECURRING_KINDS`: ``plan``,
   ``addon``, ``toll_free_number``) on an annual quote and 1 otherwise
   (``ticket`` and any other kind are one-off). Integer products: no rounding.
2. **Adjustments**, sorted by ``(priority, code)`` (lower first; the code
   breaks ties so the order never depends on plugin registration order).
   An adjustment targets the items whose ``kind`` or ``sku`` is in its
   ``applies_to`` (all items when empty); one that targets nothing is skipped.

   * ``percent``: the basis is what the targeted items are worth now
     (``compounds=True``) or their list price (``compounds=False``); the
     adjustment's amount is ``basis × value``, **rounded once**, then split
     over the targeted items by the largest-remainder method so the parts add
     up exactly.
   * ``fixed``: ``amount`` (a magnitude in the quote's currency) split over
     the targeted items in proportion to what they are worth now.

   The direction comes from ``surcharge`` (``False``: a discount, a negative
   line; ``True``: a surcharge, a positive line). ``value`` and ``amount`` are
   magnitudes and must not be negative. The rounding mode applies to the
   magnitude.
3. **Clamping.** A discount never takes an item below zero: it is reduced to
   what the targeted items are still worth (the line says ``clamped``), so a
   quote total is never negative.
4. **Buyer-paid fees** (optional ``fees=``): ``rate`` of the adjusted total
   plus ``fixed``, rounded once, added as their own lines. Merchant-paid fee
   lines do not change what the customer pays and are left out of quotes
   (see :func:`build_fee_breakdown`).
5. **Total** = the sum of the lines, exactly.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_UP, Decimal
from operator import add, attrgetter, le, neg, sub

from paygate.errors import ErrorCode, InvalidRequest
from paygate.money import Money, _trusted_minor
from paygate.pricing.models import (
    Adjustment,
    FeeBreakdown,
    FeeContext,
    FeeLine,
    LineItem,
    PricingContext,
    Quote,
    QuoteLine,
    _trusted_adjustment_line,
    _trusted_fee_line,
    _trusted_item_line,
    _trusted_quote,
    check_quote_total,
)

#: Item kinds billed every month: an annual quote bills 12 months of them.
RECURRING_KINDS: frozenset[str] = frozenset({"plan", "addon", "toll_free_number"})

#: Months an annual quote bills for a recurring item.
MONTHS_PER_YEAR = 12

#: The rounding modes :mod:`decimal` knows; the config key ``rounding`` takes one.
ROUNDING_MODES: frozenset[str] = frozenset(
    {
        decimal.ROUND_HALF_UP,
        decimal.ROUND_HALF_EVEN,
        decimal.ROUND_HALF_DOWN,
        decimal.ROUND_UP,
        decimal.ROUND_DOWN,
        decimal.ROUND_CEILING,
        decimal.ROUND_FLOOR,
        decimal.ROUND_05UP,
    }
)

#: Digits of the exact products (amount × rate) before their one rounding step:
#: an 18-digit amount times a rate with many decimals still fits.
_PRECISION = 80
#: One context per rounding mode: the product is exact at this precision, and
#: ``to_integral_value`` is then the one rounding step, to a whole minor unit.
_ROUNDERS: dict[str, decimal.Context] = {
    mode: decimal.Context(prec=_PRECISION, rounding=mode) for mode in ROUNDING_MODES
}
_ZERO = Decimal(0)

__all__ = [
    "MONTHS_PER_YEAR",
    "RECURRING_KINDS",
    "ROUNDING_MODES",
    "ROUND_HALF_UP",
    "build_fee_breakdown",
    "build_quote",
    "months_billed",
]


def _rounder(rounding: str) -> decimal.Context:
    rounder = _ROUNDERS.get(rounding)
    if rounder is None:
        raise InvalidRequest(
            f"unknown rounding mode {rounding!r}: expected one of {sorted(ROUNDING_MODES)}",
            param="rounding",
        )
    return rounder


def months_billed(item: LineItem, cycle: str) -> int:
    """How many months of ``item`` a quote for ``cycle`` bills."""
    if cycle == "annual" and item.kind in RECURRING_KINDS:
        return MONTHS_PER_YEAR
    return 1


def _allocate(total: int, weights: Sequence[int], caps: Sequence[int] | None = None) -> list[int]:
    """Split ``total`` minor units in proportion to ``weights``; parts add up to ``total``.

    Largest remainder: every part is rounded down and the units left over go
    to the parts with the largest remainders (ties: the earlier part). With
    ``caps``, no part exceeds its cap; what a capped part cannot take goes to
    the others, still in proportion. Requires ``total <= sum(caps)``.
    """
    n = len(weights)
    parts = [0] * n
    if total == 0 or n == 0:
        return parts
    weight_sum = sum(weights)
    if weight_sum > 0 and (caps is None or min(caps) > 0):
        # The usual case: the general loop's first pass (every part open),
        # in plain lists; kept when no part goes over its cap.
        first: list[int] = []
        leftovers: list[int] = []
        for weight in weights:
            floor, remainder = divmod(total * weight, weight_sum)
            first.append(floor)
            leftovers.append(remainder)
        rest = total - sum(first)
        if rest:
            # sorted() is stable, also reversed: equal remainders keep their
            # order, so ties go to the earlier part.
            for i in sorted(range(n), key=leftovers.__getitem__, reverse=True)[:rest]:
                first[i] += 1
        # Caps that are the weights themselves (a compounding discount)
        # cannot be exceeded: with total < sum(weights) every part rounded
        # down is below its weight, so one more unit still fits; with
        # total == sum(weights) every part is its weight, nothing left over.
        if caps is None or caps is weights or all(map(le, first, caps)):
            return first
    limit = list(caps) if caps is not None else None
    open_ = [i for i in range(n) if limit is None or limit[i] > 0]
    left = total
    while left > 0:
        if not open_:
            raise AssertionError("allocation exceeds its caps")  # callers clamp first
        w = {i: weights[i] for i in open_}
        if sum(w.values()) <= 0:
            # Nothing to weigh by (every open part worth zero): split evenly.
            w = dict.fromkeys(open_, 1)
        weight_sum = sum(w.values())
        # Integer arithmetic: exact whatever the size of the amounts.
        floors = {i: left * w[i] // weight_sum for i in open_}
        remainders = {i: left * w[i] % weight_sum for i in open_}
        rest = left - sum(floors.values())
        for i in sorted(open_, key=lambda i: (-remainders[i], i))[:rest]:
            floors[i] += 1
        spill = 0
        for i in open_:
            give = floors[i]
            if limit is not None:
                room = limit[i] - parts[i]
                if give > room:
                    spill += give - room
                    give = room
            parts[i] += give
        left = spill
        if limit is not None:
            open_ = [i for i in open_ if parts[i] < limit[i]]
    return parts


def _item_label(name: str, quantity: int, unit_price: Money, months: int) -> str:
    # !s: str() straight away, not format() -> object.__format__ -> str().
    if quantity != 1:
        if months != 1:
            return f"{name} ({quantity} × {unit_price!s}, {months} months)"
        return f"{name} ({quantity} × {unit_price!s})"
    if months != 1:
        return f"{name} ({months} months)"
    return name


_ORDER = attrgetter("priority", "code")


def build_quote(
    context: PricingContext,
    adjustments: Iterable[Adjustment],
    *,
    rounding: str = ROUND_HALF_UP,
    fees: Iterable[FeeLine] = (),
) -> Quote:
    """Price ``context.items`` for ``context.cycle`` with ``adjustments`` applied.

    :param context: items, cycle, customer, currency, config.
    :param adjustments: every adjustment the plugins proposed (any order).
    :param rounding: a :mod:`decimal` rounding mode, used for every produced
        amount (config key ``rounding``).
    :param fees: fee lines; those with ``payer="buyer"`` become quote lines.
    :raises InvalidRequest: no items, mixed currencies, an adjustment in
        another currency, a negative ``value``/``amount``/fee, an unknown
        rounding mode.
    """
    rounder = _rounder(rounding)
    currency = context.currency
    items = context.items
    if not items:
        raise InvalidRequest("a quote needs at least one item", param="items")
    # Amounts stay integer minor units until the end (exact, and cheap):
    # each produced amount becomes Money once.
    recurring_months = MONTHS_PER_YEAR if context.cycle == "annual" else 1
    months: list[int] = []
    list_minor: list[int] = []
    skus: list[str] = []
    kinds: list[str] = []
    for item in items:
        price = item.unit_price
        if price.currency != currency:
            raise InvalidRequest(
                f"item {item.sku!r} is priced in {price.currency}, "
                f"the quote is in {currency}: all items must share one currency",
                code=ErrorCode.INVALID_CURRENCY,
                param="items",
            )
        # Money has no more decimals than its currency: exact, and negative
        # exactly when the amount is.
        unit = price.minor_units
        if unit < 0:
            raise InvalidRequest(
                f"item {item.sku!r} has a negative price; use an adjustment for a discount",
                code=ErrorCode.INVALID_AMOUNT,
                param="items",
            )
        kind = item.kind
        m = recurring_months if kind in RECURRING_KINDS else 1  # months_billed()
        months.append(m)
        list_minor.append(unit * item.quantity * m)
        skus.append(item.sku)
        kinds.append(kind)
    current = list_minor[:]
    # The items share the quote's currency, so it is a checked, normalized code.
    money = _trusted_minor(currency)

    adjustment_lines: list[QuoteLine] = []
    discounts = 0
    surcharges = 0
    n = len(items)
    every_item = list(range(n))
    # With one line per sku (the usual case) an allocation needs no merging.
    unique_skus = len(set(skus)) == n
    # Adjustments of one plugin tend to share their applies_to (the built-in
    # discounts do): the targets are worked out again only when it changes.
    last_applies: object = None
    last_targets = every_item
    for adj in sorted(adjustments, key=_ORDER):
        applies = adj.applies_to
        if applies:
            if applies != last_applies:
                last_targets = [i for i in every_item if kinds[i] in applies or skus[i] in applies]
                if len(last_targets) == n:
                    last_targets = every_item
                last_applies = applies
            targets = last_targets
            if not targets:
                continue
        else:
            targets = every_item
        every = targets is every_item
        worth = current[:] if every else [current[i] for i in targets]
        room = sum(worth)
        rate = None
        if adj.type == "percent":
            rate = adj.value
            if rate < _ZERO:
                raise InvalidRequest(
                    f"adjustment {adj.code!r}: value is a magnitude and cannot be negative "
                    "(set surcharge=True for a surcharge)",
                    param="value",
                )
            if adj.compounds:
                weights, basis = worth, room
            else:
                weights = list_minor if every else [list_minor[i] for i in targets]
                basis = sum(weights)
            # The product is exact; then the one rounding step, in minor units.
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
        signed: Iterable[int]
        if adj.surcharge:
            parts = _allocate(magnitude, weights)
            surcharges += magnitude
            if every:
                current = list(map(add, current, parts))
            else:
                for i, part in zip(targets, parts, strict=True):
                    current[i] += part
            signed = parts
            amount = money(magnitude)
        else:
            if magnitude > room:
                magnitude, clamped = room, True
            parts = _allocate(magnitude, weights, caps=worth)
            discounts += magnitude
            if every:
                current = list(map(sub, current, parts))
            else:
                for i, part in zip(targets, parts, strict=True):
                    current[i] -= part
            signed = map(neg, parts)
            amount = money(-magnitude)

        if unique_skus:
            named = skus if every else [skus[i] for i in targets]
            allocations = dict(zip(named, map(money, signed), strict=True))
        else:
            merged: dict[str, int] = {}
            for i, part in zip(targets, signed, strict=True):
                merged[skus[i]] = merged.get(skus[i], 0) + part
            allocations = {sku: money(part) for sku, part in merged.items()}
        adjustment_lines.append(
            _trusted_adjustment_line(
                adj.code, adj.label, amount, rate, allocations, clamped, adj.source
            )
        )

    after_adjustments = sum(current)
    fee_lines: list[QuoteLine] = []
    fee_total = 0
    for fee in fees:
        if fee.payer != "buyer":
            continue
        minor = _fee_minor(fee, after_adjustments, currency, rounder)
        fee_total += minor
        # A plugin's own amount is kept as given (it was validated as Money).
        amount = fee.amount if fee.amount is not None else money(minor)
        fee_lines.append(
            _trusted_fee_line(fee.code, fee.label, amount, fee.rate or None, fee.source)
        )

    item_lines = []
    for item, m, lst, cur in zip(items, months, list_minor, current, strict=True):
        listed = money(lst)
        quantity = item.quantity
        unit_price = item.unit_price
        sku = item.sku
        item_lines.append(
            _trusted_item_line(
                sku,
                _item_label(item.description or sku, quantity, unit_price, m),
                listed,
                quantity,
                m,
                unit_price,
                # Money is immutable: an item no adjustment touched shares its amount.
                listed if cur == lst else money(cur),
            )
        )
    lines = (*item_lines, *adjustment_lines, *fee_lines)
    subtotal = sum(list_minor)
    total_minor = after_adjustments + fee_total
    total = money(total_minor)
    # The invariant, checked on the integers every line was made from.
    if subtotal - discounts + surcharges + fee_total != total_minor or total_minor < 0:
        check_quote_total(lines, total)  # raises, with amounts in the message
    return _trusted_quote(
        currency,
        context.cycle,
        rounding,
        lines,
        money(subtotal),
        money(-discounts),
        money(surcharges),
        money(fee_total),
        total,
    )


def _fee_minor(fee: FeeLine, basis: int, currency: str, rounder: decimal.Context) -> int:
    """A fee line's amount in minor units: the plugin's own, or ``rate × basis + fixed``
    rounded once (``basis`` in minor units: scaling by the exponent is exact, so
    rounding to a whole minor unit is rounding to the currency's quantum)."""
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
    if fee.rate < _ZERO:
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
    # The product is exact (fused, at the rounder's precision); then one rounding step.
    return int(rounder.to_integral_value(rounder.fma(basis, fee.rate, fixed)))


def _fee_amount(fee: FeeLine, basis: Money, rounder: decimal.Context) -> Money:
    """A fee line's amount: the plugin's own, or ``rate × basis + fixed`` rounded once."""
    minor = _fee_minor(fee, basis.minor_units, basis.currency, rounder)
    if fee.amount is not None:
        return fee.amount
    return _trusted_minor(basis.currency)(minor)


def build_fee_breakdown(
    context: FeeContext, lines: Iterable[FeeLine], *, rounding: str = ROUND_HALF_UP
) -> FeeBreakdown:
    """Compute every fee on ``context.amount`` and the merchant's payout.

    Each line's ``amount`` is the plugin's own (already rounded) or
    ``rate × gross + fixed`` rounded once. Lines keep the order given.
    Merchant-paid fees come off the payout (``net = gross - merchant_fees``);
    buyer-paid fees are charged on top (``charged = gross + buyer_fees``).

    :raises InvalidRequest: a negative gross, a fee in another currency, a
        negative fee, an unknown rounding mode.
    """
    rounder = _rounder(rounding)
    gross = context.amount
    if gross.amount < 0:
        raise InvalidRequest(
            "the gross amount cannot be negative", code=ErrorCode.INVALID_AMOUNT, param="amount"
        )
    zero = Money.zero(gross.currency)
    filled: list[FeeLine] = []
    merchant = zero
    buyer = zero
    for line in lines:
        amount = _fee_amount(line, gross, rounder)
        filled.append(line.model_copy(update={"amount": amount}))
        if line.payer == "buyer":
            buyer = buyer + amount
        else:
            merchant = merchant + amount
    return FeeBreakdown(
        gross=gross,
        provider=context.provider,
        kind=context.kind,
        rounding=rounding,
        lines=tuple(filled),
        merchant_fees=merchant,
        buyer_fees=buyer,
        total_fees=merchant + buyer,
        charged=gross + buyer,
        net=gross - merchant,
    )

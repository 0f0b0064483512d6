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

from paygate.errors import ErrorCode, InvalidRequest
from paygate.models import construct
from paygate.money import Money, currency_exponent
from paygate.pricing.models import (
    Adjustment,
    FeeBreakdown,
    FeeContext,
    FeeLine,
    LineItem,
    PricingContext,
    Quote,
    QuoteLine,
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
#: One context for those exact products, instead of a localcontext() per use.
_EXACT = decimal.Context(prec=_PRECISION)
_ONE = Decimal(1)

__all__ = [
    "MONTHS_PER_YEAR",
    "RECURRING_KINDS",
    "ROUNDING_MODES",
    "ROUND_HALF_UP",
    "build_fee_breakdown",
    "build_quote",
    "months_billed",
]


def _check_rounding(rounding: str) -> None:
    if rounding not in ROUNDING_MODES:
        raise InvalidRequest(
            f"unknown rounding mode {rounding!r}: expected one of {sorted(ROUNDING_MODES)}",
            param="rounding",
        )


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
        first = [total * w // weight_sum for w in weights]
        rest = total - sum(first)
        if rest:
            order = sorted(range(n), key=lambda i: (-(total * weights[i] % weight_sum), i))
            for i in order[:rest]:
                first[i] += 1
        if caps is None or all(f <= c for f, c in zip(first, caps, strict=True)):
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


def _matches(adjustment: Adjustment, item: LineItem) -> bool:
    return not adjustment.applies_to or (
        item.kind in adjustment.applies_to or item.sku in adjustment.applies_to
    )


def _item_label(item: LineItem, months: int) -> str:
    name = item.description or item.sku
    detail = []
    if item.quantity != 1:
        detail.append(f"{item.quantity} × {item.unit_price}")
    if months != 1:
        detail.append(f"{months} months")
    return f"{name} ({', '.join(detail)})" if detail else name


def _minor(money: Money) -> int:
    return money.minor_units


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
    _check_rounding(rounding)
    currency = context.currency
    if not context.items:
        raise InvalidRequest("a quote needs at least one item", param="items")
    for item in context.items:
        if item.unit_price.currency != currency:
            raise InvalidRequest(
                f"item {item.sku!r} is priced in {item.unit_price.currency}, "
                f"the quote is in {currency}: all items must share one currency",
                code=ErrorCode.INVALID_CURRENCY,
                param="items",
            )
        if item.unit_price.amount < 0:
            raise InvalidRequest(
                f"item {item.sku!r} has a negative price; use an adjustment for a discount",
                code=ErrorCode.INVALID_AMOUNT,
                param="items",
            )

    items = context.items
    months = [months_billed(item, context.cycle) for item in items]
    list_minor = [
        _minor(item.unit_price) * item.quantity * m for item, m in zip(items, months, strict=True)
    ]
    current = list(list_minor)

    exponent = currency_exponent(currency)

    def money(minor: int) -> Money:
        # Integer minor units are exact by construction: no re-validation.
        return Money._trusted(Decimal(minor).scaleb(-exponent), currency, exponent)

    adjustment_lines: list[QuoteLine] = []
    discounts = 0
    surcharges = 0
    for adj in sorted(adjustments, key=lambda a: (a.priority, a.code)):
        targets = [i for i, item in enumerate(items) if _matches(adj, item)]
        if not targets:
            continue
        if adj.type == "percent":
            if adj.value < 0:
                raise InvalidRequest(
                    f"adjustment {adj.code!r}: value is a magnitude and cannot be negative "
                    "(set surcharge=True for a surcharge)",
                    param="value",
                )
            basis = [current[i] if adj.compounds else list_minor[i] for i in targets]
            # The product itself must not be rounded: exact context.
            exact = _EXACT.multiply(Decimal(sum(basis)), adj.value)
            # The one rounding step of this adjustment, in minor units.
            magnitude = int(exact.quantize(_ONE, rounding=rounding, context=_EXACT))
            weights = basis
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
            if adj.amount.amount < 0:
                raise InvalidRequest(
                    f"adjustment {adj.code!r}: amount is a magnitude and cannot be negative "
                    "(set surcharge=True for a surcharge)",
                    param="amount",
                )
            magnitude = _minor(adj.amount)
            weights = [current[i] for i in targets]

        clamped = False
        if adj.surcharge:
            parts = _allocate(magnitude, weights)
            sign = 1
            surcharges += magnitude
        else:
            room = sum(current[i] for i in targets)
            if magnitude > room:
                magnitude, clamped = room, True
            parts = _allocate(magnitude, weights, caps=[current[i] for i in targets])
            sign = -1
            discounts += magnitude

        allocations: dict[str, int] = {}
        for i, part in zip(targets, parts, strict=True):
            current[i] += sign * part
            allocations[items[i].sku] = allocations.get(items[i].sku, 0) + sign * part
        adjustment_lines.append(
            construct(
                QuoteLine,
                kind="adjustment",
                code=adj.code,
                label=adj.label,
                amount=money(sign * magnitude),
                rate=adj.value if adj.type == "percent" else None,
                allocations={sku: money(v) for sku, v in allocations.items()},
                clamped=clamped,
                source=adj.source,
            )
        )

    after_adjustments = sum(current)
    fee_lines: list[QuoteLine] = []
    fee_total = 0
    for fee in fees:
        if fee.payer != "buyer":
            continue
        amount = _fee_amount(fee, money(after_adjustments), rounding)
        fee_total += _minor(amount)
        fee_lines.append(
            construct(
                QuoteLine,
                kind="fee",
                code=fee.code,
                label=fee.label,
                amount=amount,
                rate=fee.rate or None,
                source=fee.source,
            )
        )

    item_lines = [
        construct(
            QuoteLine,
            kind="item",
            code=item.sku,
            label=_item_label(item, m),
            amount=money(lst),
            quantity=item.quantity,
            months=m,
            unit_price=item.unit_price,
            net=money(cur),
        )
        for item, m, lst, cur in zip(items, months, list_minor, current, strict=True)
    ]
    lines = (*item_lines, *adjustment_lines, *fee_lines)
    total_minor = after_adjustments + fee_total
    total = money(total_minor)
    # The invariant, checked on the integers every line was made from.
    if sum(list_minor) - discounts + surcharges + fee_total != total_minor or total_minor < 0:
        check_quote_total(lines, total)  # raises, with amounts in the message
    return construct(
        Quote,
        currency=currency,
        cycle=context.cycle,
        rounding=rounding,
        lines=lines,
        subtotal=money(sum(list_minor)),
        discounts=money(-discounts),
        surcharges=money(surcharges),
        fees=money(fee_total),
        total=total,
    )


def _fee_amount(fee: FeeLine, basis: Money, rounding: str) -> Money:
    """A fee line's amount: the plugin's own, or ``rate × basis + fixed`` rounded once."""
    currency = basis.currency
    if fee.amount is not None:
        if fee.amount.currency != currency:
            raise InvalidRequest(
                f"fee {fee.code!r} is in {fee.amount.currency}, the payment in {currency}",
                code=ErrorCode.INVALID_CURRENCY,
                param="amount",
            )
        if fee.amount.amount < 0:
            raise InvalidRequest(f"fee {fee.code!r} is negative", param="amount")
        return fee.amount
    if fee.rate < 0:
        raise InvalidRequest(f"fee {fee.code!r} has a negative rate", param="rate")
    fixed = Decimal(0)
    if fee.fixed is not None:
        if fee.fixed.currency != currency:
            raise InvalidRequest(
                f"fee {fee.code!r} has a fixed part in {fee.fixed.currency}, "
                f"the payment is in {currency}",
                code=ErrorCode.INVALID_CURRENCY,
                param="fixed",
            )
        if fee.fixed.amount < 0:
            raise InvalidRequest(f"fee {fee.code!r} has a negative fixed part", param="fixed")
        fixed = fee.fixed.amount
    # The product itself must not be rounded (exact context); then one rounding step.
    exact = _EXACT.add(_EXACT.multiply(basis.amount, fee.rate), fixed)
    exponent = basis.exponent
    value = exact.quantize(_ONE.scaleb(-exponent), rounding=rounding, context=_EXACT)
    return Money._trusted(value, currency, exponent)


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
    _check_rounding(rounding)
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
        amount = _fee_amount(line, gross, rounding)
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

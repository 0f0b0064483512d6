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
from operator import attrgetter, le, neg
from typing import Any

from pydantic import BaseModel

from paygate.errors import ErrorCode, InvalidRequest
from paygate.money import _CTX as _MONEY_CONTEXT
from paygate.money import Money, _minor_factor, _minor_makers, _trusted_minor
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

#: Amount x 10^exponent in Money's own context, like ``Money.minor_units``:
#: exact whatever decimal context the host set for its thread.
_scale = _MONEY_CONTEXT.multiply

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


# -- rates as integer ratios ----------------------------------------------------
#
# A rate is a Decimal, so its exact value is a ratio of integers, and
# ``basis × rate + fixed`` rounded once is an integer division and its
# remainder: the same number the 80-digit Decimal contexts give, as long as
# their product is exact. The ratio of a rate is worked out once (plugins use a
# handful), with the largest basis for which that holds.

#: Per rate: numerator, denominator and the bound below which a basis (and a
#: fixed part) keep the 80-digit product exact; None: leave it to the Decimal
#: contexts (not finite, or negative). Bounded: rates come from configuration.
_RATIOS: dict[Decimal, tuple[int, int, int] | None] = {}
_MAX_RATIOS = 1024


def _learn_ratio(rate: Decimal) -> tuple[int, int, int] | None:
    ratio: tuple[int, int, int] | None = None
    if rate.is_finite() and rate >= _ZERO:
        numerator, denominator = rate.as_integer_ratio()
        digits, exponent = rate.as_tuple()[1:]
        assert isinstance(exponent, int)  # finite
        # rate = c × 10^x with c of len(digits) digits. A basis and a fixed part
        # below 10^(70 - len(digits) - |x|) make basis × c × 10^x + fixed a
        # number of at most 71 digits at exponent min(x, 0): exact at 80.
        room = 70 - len(digits) - abs(exponent)
        ratio = (numerator, denominator, 10**room if room > 0 else 0)
    if len(_RATIOS) < _MAX_RATIOS:
        _RATIOS[rate] = ratio
    return ratio


def _ratio(rate: object) -> tuple[int, int, int] | None:
    """The integer ratio of a Decimal rate, or None for the Decimal contexts
    (anything but a finite, non-negative Decimal)."""
    if type(rate) is not Decimal:
        return None  # an int or float from a constructed model: as before
    try:
        return _RATIOS[rate]
    except KeyError:
        return _learn_ratio(rate)
    except TypeError:  # a signaling NaN cannot be hashed
        return None


def _round_ratio(numerator: int, denominator: int, rounding: str) -> int:
    """``numerator / denominator`` (both >= 0) rounded to an integer with ``rounding``,
    as ``Context(rounding=rounding).to_integral_value`` rounds the exact quotient."""
    quotient, remainder = divmod(numerator, denominator)
    if not remainder:
        return quotient
    if rounding == decimal.ROUND_HALF_UP:
        up = 2 * remainder >= denominator
    elif rounding == decimal.ROUND_HALF_EVEN:
        twice = 2 * remainder
        up = twice > denominator or (twice == denominator and quotient % 2 == 1)
    elif rounding == decimal.ROUND_HALF_DOWN:
        up = 2 * remainder > denominator
    elif rounding in (decimal.ROUND_UP, decimal.ROUND_CEILING):
        up = True  # away from zero and towards +inf agree on a positive number
    elif rounding == decimal.ROUND_05UP:
        up = quotient % 5 == 0  # last digit towards zero is 0 or 5
    else:  # ROUND_DOWN, ROUND_FLOOR
        up = False
    return quotient + 1 if up else quotient


def _allocate(
    total: int,
    weights: Sequence[int],
    caps: Sequence[int] | None = None,
    weight_sum: int | None = None,
) -> list[int]:
    """Split ``total`` minor units in proportion to ``weights``; parts add up to ``total``.

    Largest remainder: every part is rounded down and the units left over go
    to the parts with the largest remainders (ties: the earlier part). With
    ``caps``, no part exceeds its cap; what a capped part cannot take goes to
    the others, still in proportion. Requires ``total <= sum(caps)``.
    ``weight_sum``, when the caller has it, is ``sum(weights)``.
    """
    n = len(weights)
    if total == 0 or n == 0:
        return [0] * n
    if weight_sum is None:
        weight_sum = sum(weights)
    # The usual case: the general loop's first pass (every part open), in
    # plain lists; kept when no part goes over its cap. Caps that are the
    # weights themselves (a compounding discount) cannot be exceeded: with
    # total < sum(weights) every part rounded down is below its weight, so one
    # more unit still fits; with total == sum(weights) every part is its weight,
    # nothing left over. A zero weight among them takes nothing either (its
    # remainder is 0, and more remainders than units left over are positive),
    # as the general loop, which leaves zero caps out, gives it nothing.
    if weight_sum <= 0 or not (caps is None or caps is weights or min(caps) > 0):
        return _allocate_general(total, weights, caps)
    first: list[int] = []
    # One loop, no comprehension (each costs a function object and a frame):
    # the parts rounded down, the first two of the largest remainders
    # (strictly larger: ties keep the earlier part) and the last of the
    # smallest (ties: the later part, the last in a stable sort).
    top = second = -1
    low = weight_sum
    top_at = second_at = low_at = at = 0
    for weight in weights:
        scaled = total * weight
        remainder = scaled % weight_sum
        first.append(scaled // weight_sum)
        if remainder > top:
            second = top
            second_at = top_at
            top = remainder
            top_at = at
        elif remainder > second:
            second = remainder
            second_at = at
        if remainder <= low:
            low = remainder
            low_at = at
        at += 1  # noqa: SIM113 (a counter costs less than enumerate's tuples)
    # The units left over go to the `rest` largest remainders, in the order of
    # a stable sort by remainder, largest first.
    rest = total - sum(first)
    if rest == 1:
        first[top_at] += 1
    elif rest == 2:
        first[top_at] += 1
        first[second_at] += 1
    elif rest == n - 1:  # every part but the last in that order
        for at in range(n):
            first[at] += 1
        first[low_at] -= 1
    elif rest:
        # Every remainder above the rest-th largest, then the earliest of
        # those equal to it.
        leftovers = [total * weight % weight_sum for weight in weights]
        cut = sorted(leftovers, reverse=True)[rest - 1]
        ties = rest
        for remainder in leftovers:
            if remainder > cut:
                ties -= 1
        for at, remainder in enumerate(leftovers):
            if remainder > cut:
                first[at] += 1
            elif remainder == cut and ties:
                first[at] += 1
                ties -= 1
    if caps is None or caps is weights or all(map(le, first, caps)):
        return first
    return _allocate_general(total, weights, caps)


def _allocate_general(total: int, weights: Sequence[int], caps: Sequence[int] | None) -> list[int]:
    """:func:`_allocate` by rounds: a part that reaches its cap leaves, and what
    it could not take is split again over the others."""
    n = len(weights)
    parts = [0] * n
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
    # The amount's str() and the code: what str(unit_price) gives, without the call.
    if quantity != 1:
        if months != 1:
            return (
                f"{name} ({quantity} × {unit_price._amount!s} {unit_price._currency}, "
                f"{months} months)"
            )
        return f"{name} ({quantity} × {unit_price._amount!s} {unit_price._currency})"
    if months != 1:
        if months == MONTHS_PER_YEAR:
            return name + _A_YEAR
        return f"{name} ({months} months)"
    return name


_A_YEAR = f" ({MONTHS_PER_YEAR} months)"


class _Attributes:
    """The fields of something that is not a complete model of the expected
    class, read as attributes: the engine then sees (and fails on) exactly
    what attribute access gives."""

    __slots__ = ("_of",)

    def __init__(self, of: object) -> None:
        self._of = of

    def __getitem__(self, name: str) -> Any:
        return getattr(self._of, name)


_Fields = dict[str, Any] | _Attributes

# How many fields a complete instance of each input model has in its __dict__.
_CONTEXT_SIZE = len(PricingContext.model_fields)
_ITEM_SIZE = len(LineItem.model_fields)
_ADJUSTMENT_SIZE = len(Adjustment.model_fields)
_FEE_SIZE = len(FeeLine.model_fields)


def _fields(model: object, cls: type[BaseModel], size: int) -> _Fields:
    """``model``'s fields by name, read where the engine needs each one.

    Pydantic keeps every field of a model in its ``__dict__``; reading them
    there skips ``BaseModel.__getattr__``'s slower attribute path, a few
    hundred instructions per read. Only for an instance of exactly ``cls``
    (a subclass could add properties) with every field set (``model_construct``
    may leave one out); anything else is read through its attributes. The
    loops of :func:`build_quote` repeat this test inline.
    """
    if type(model) is cls:
        fields: dict[str, Any] = model.__dict__
        if len(fields) == size:
            return fields
    return _Attributes(model)


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
    # This function runs per quote, a few hundred thousand instructions of
    # Python: it reads each input once, keeps amounts as integers, and makes
    # no comprehension or helper call per item where a plain loop does.
    rounder = _ROUNDERS.get(rounding) or _rounder(rounding)
    fields = _fields(context, PricingContext, _CONTEXT_SIZE)
    currency = fields["currency"]
    items = fields["items"]
    if not items:
        raise InvalidRequest("a quote needs at least one item", param="items")
    cycle = fields["cycle"]
    # Amounts stay integer minor units until the end (exact, and cheap):
    # each produced amount becomes Money once.
    recurring_months = MONTHS_PER_YEAR if cycle == "annual" else 1
    list_minor: list[int] = []
    skus: list[str] = []
    kinds: list[str] = []
    # What only the item lines need: sku, fields, quantity, unit price, months.
    rows: list[tuple[str, _Fields, int, Money, int]] = []
    factor = None
    for item in items:
        if type(item) is LineItem and len(found := item.__dict__) == _ITEM_SIZE:
            fields = found
        else:
            fields = _Attributes(item)
        price = fields["unit_price"]
        if price._currency != currency:
            raise InvalidRequest(
                f"item {fields['sku']!r} is priced in {price.currency}, "
                f"the quote is in {currency}: all items must share one currency",
                code=ErrorCode.INVALID_CURRENCY,
                param="items",
            )
        if factor is None:  # one currency, one exponent
            factor = _minor_factor(price._exponent)
        # Money has no more decimals than its currency: exact, and negative
        # exactly when the amount is (Money.minor_units, without the property).
        unit = int(_scale(price._amount, factor))
        if unit < 0:
            raise InvalidRequest(
                f"item {fields['sku']!r} has a negative price; use an adjustment for a discount",
                code=ErrorCode.INVALID_AMOUNT,
                param="items",
            )
        kind = fields["kind"]
        m = recurring_months if kind in RECURRING_KINDS else 1  # months_billed()
        quantity = fields["quantity"]
        sku = fields["sku"]
        list_minor.append(unit * quantity * m)
        skus.append(sku)
        kinds.append(kind)
        rows.append((sku, fields, quantity, price, m))
    current = list_minor[:]
    # The items share the quote's currency, so it is a checked, normalized code.
    money, zero = _minor_makers(currency)

    lines: list[QuoteLine] = []
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
        if type(adj) is Adjustment and len(found := adj.__dict__) == _ADJUSTMENT_SIZE:
            fields = found
        else:
            fields = _Attributes(adj)
        applies = fields["applies_to"]
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
        if every:
            worth = current[:]
        else:
            worth = []
            for i in targets:
                worth.append(current[i])
        room = sum(worth)
        rate = None
        if fields["type"] == "percent":
            rate = fields["value"]
            # A rate with a ratio is known to be finite and not negative.
            ratio = _ratio(rate)
            if ratio is None and rate < _ZERO:
                raise InvalidRequest(
                    f"adjustment {fields['code']!r}: value is a magnitude and cannot be "
                    "negative (set surcharge=True for a surcharge)",
                    param="value",
                )
            if fields["compounds"]:
                weights, basis = worth, room
            else:
                weights = list_minor[:] if every else [list_minor[i] for i in targets]
                basis = sum(weights)
            if ratio is not None and 0 <= basis < ratio[2]:
                magnitude = _round_ratio(basis * ratio[0], ratio[1], rounding)
            else:
                # The product is exact; then the one rounding step, in minor units.
                magnitude = int(rounder.to_integral_value(rounder.multiply(basis, rate)))
        else:
            fixed = fields["amount"]
            if fixed is None:
                raise InvalidRequest(
                    f"adjustment {fields['code']!r} is fixed but has no amount", param="amount"
                )
            if fixed._currency != currency:
                raise InvalidRequest(
                    f"adjustment {fields['code']!r} is in {fixed.currency}, "
                    f"the quote is in {currency}",
                    code=ErrorCode.INVALID_CURRENCY,
                    param="amount",
                )
            magnitude = int(_scale(fixed._amount, _minor_factor(fixed._exponent)))
            if magnitude < 0:
                raise InvalidRequest(
                    f"adjustment {fields['code']!r}: amount is a magnitude and cannot be "
                    "negative (set surcharge=True for a surcharge)",
                    param="amount",
                )
            weights, basis = worth, room

        clamped = False
        allocations: dict[str, Money] = {}
        if fields["surcharge"]:
            parts = _allocate(magnitude, weights, None, basis)
            surcharges += magnitude
            amount = money(magnitude)
        else:
            if magnitude > room:
                magnitude, clamped = room, True
            # basis is sum(weights) for the split: the clamp only changes what is split.
            parts = _allocate(magnitude, weights, worth, basis)
            discounts += magnitude
            amount = money(-magnitude)
            parts = list(map(neg, parts))
        if unique_skus:
            for i, part in zip(targets, parts):  # noqa: B905 (one part per target)
                current[i] += part
                allocations[skus[i]] = money(part)
        else:
            # Lines sharing a sku: their parts add up to one allocation.
            merged: dict[str, int] = {}
            for i, part in zip(targets, parts):  # noqa: B905 (one part per target)
                current[i] += part
                merged[skus[i]] = merged.get(skus[i], 0) + part
            for sku, part in merged.items():
                allocations[sku] = money(part)
        lines.append(
            _trusted_adjustment_line(
                fields["code"],
                fields["label"],
                amount,
                rate,
                allocations,
                clamped,
                fields["source"],
            )
        )

    after_adjustments = sum(current)
    fee_total = 0
    for fee in fees:
        if type(fee) is FeeLine and len(found := fee.__dict__) == _FEE_SIZE:
            fields = found
        else:
            fields = _Attributes(fee)
        if fields["payer"] != "buyer":
            continue
        minor = _fee_minor(fields, after_adjustments, currency, rounding, rounder)
        fee_total += minor
        # A plugin's own amount is kept as given (it was validated as Money).
        amount = fields["amount"]
        if amount is None:
            amount = money(minor)
        lines.append(
            _trusted_fee_line(
                fields["code"], fields["label"], amount, fields["rate"] or None, fields["source"]
            )
        )

    item_lines: list[QuoteLine] = []
    for (sku, fields, quantity, price, m), lst, cur in zip(rows, list_minor, current):  # noqa: B905
        listed = money(lst)
        item_lines.append(
            _trusted_item_line(
                sku,
                _item_label(fields["description"] or sku, quantity, price, m),
                listed,
                quantity,
                m,
                price,
                # Money is immutable: an item no adjustment touched shares its amount.
                listed if cur == lst else money(cur),
            )
        )
    item_lines += lines
    all_lines = tuple(item_lines)
    subtotal = sum(list_minor)
    total_minor = after_adjustments + fee_total
    subtotal_money = money(subtotal)
    total = money(total_minor)
    discounts_money = money(-discounts) if discounts else zero
    surcharges_money = money(surcharges) if surcharges else zero
    fees_money = money(fee_total) if fee_total else zero
    # The invariant, checked on the integers every line was made from.
    if subtotal - discounts + surcharges + fee_total != total_minor or total_minor < 0:
        check_quote_total(all_lines, total)  # raises, with amounts in the message
    return _trusted_quote(
        currency,
        cycle,
        rounding,
        all_lines,
        subtotal_money,
        discounts_money,
        surcharges_money,
        fees_money,
        total,
    )


def _fee_minor(
    fee: _Fields, basis: int, currency: str, rounding: str, rounder: decimal.Context
) -> int:
    """A fee line's amount in minor units: the plugin's own, or ``rate × basis + fixed``
    rounded once (``basis >= 0``, in minor units: scaling by the exponent is exact,
    so rounding to a whole minor unit is rounding to the currency's quantum)."""
    own = fee["amount"]
    if own is not None:
        if own._currency != currency:
            raise InvalidRequest(
                f"fee {fee['code']!r} is in {own.currency}, the payment in {currency}",
                code=ErrorCode.INVALID_CURRENCY,
                param="amount",
            )
        minor: int = int(_scale(own._amount, _minor_factor(own._exponent)))
        if minor < 0:
            raise InvalidRequest(f"fee {fee['code']!r} is negative", param="amount")
        return minor
    rate = fee["rate"]
    # A rate with a ratio is known to be finite and not negative.
    ratio = _ratio(rate)
    if ratio is None and rate < _ZERO:
        raise InvalidRequest(f"fee {fee['code']!r} has a negative rate", param="rate")
    fixed = 0
    fixed_money = fee["fixed"]
    if fixed_money is not None:
        if fixed_money._currency != currency:
            raise InvalidRequest(
                f"fee {fee['code']!r} has a fixed part in {fixed_money.currency}, "
                f"the payment is in {currency}",
                code=ErrorCode.INVALID_CURRENCY,
                param="fixed",
            )
        fixed = int(_scale(fixed_money._amount, _minor_factor(fixed_money._exponent)))
        if fixed < 0:
            raise InvalidRequest(f"fee {fee['code']!r} has a negative fixed part", param="fixed")
    if ratio is not None and 0 <= basis < ratio[2] and fixed < ratio[2]:
        numerator, denominator, _ = ratio
        return _round_ratio(basis * numerator + fixed * denominator, denominator, rounding)
    # The product is exact (fused, at the rounder's precision); then one rounding step.
    return int(rounder.to_integral_value(rounder.fma(basis, rate, fixed)))


def _fee_amount(fee: FeeLine, basis: Money, rounding: str, rounder: decimal.Context) -> Money:
    """A fee line's amount: the plugin's own, or ``rate × basis + fixed`` rounded once."""
    minor = _fee_minor(
        _fields(fee, FeeLine, _FEE_SIZE), basis.minor_units, basis.currency, rounding, rounder
    )
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
        amount = _fee_amount(line, gross, rounding, rounder)
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

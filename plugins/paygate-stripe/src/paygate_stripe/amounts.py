"""Money <-> Stripe's integer ``amount``.

paygate's :class:`~paygate.money.Money` follows ISO 4217; Stripe differs on a
few currencies, so the conversion lives here and refuses, before any HTTP
request, amounts Stripe would reject:

* zero-decimal currencies are sent in whole units (``MGA`` has two decimals
  in ISO but none at Stripe, so ``Money("10.50", "MGA")`` is refused);
* three-decimal currencies are sent in thousandths whose last digit must be 0
  (Stripe rounds card payments to hundredths);
* ISK is zero-decimal in ISO but Stripe takes it as two-decimal: 500 ISK is
  ``amount=50000``, and amounts must be multiples of 100.

Source: Stripe docs, "Supported currencies" (zero-decimal, three-decimal and
special cases), as summarised in DOMAIN.md.
"""

from __future__ import annotations

from decimal import Decimal

from paygate.errors import ErrorCode, InvalidRequest
from paygate.money import Money

ZERO_DECIMAL: frozenset[str] = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA"}
    | {"PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
)
THREE_DECIMAL: frozenset[str] = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})
#: Currencies that are zero-decimal in ISO but that Stripe takes in hundredths.
HUNDREDTHS_OF_WHOLE_UNITS: frozenset[str] = frozenset({"ISK"})

#: Stripe's ``amount`` is at most eight digits.
MAX_AMOUNT = 99_999_999


def stripe_exponent(currency: str) -> int:
    """The number of decimals Stripe's ``amount`` has for ``currency``."""
    if currency in ZERO_DECIMAL:
        return 0
    if currency in THREE_DECIMAL:
        return 3
    # Every other currency, ISK included, goes in hundredths.
    return 2


def _refuse(message: str) -> InvalidRequest:
    return InvalidRequest(message, code=ErrorCode.INVALID_AMOUNT, param="amount")


def to_stripe(money: Money, *, allow_zero: bool = False) -> int:
    """Stripe's integer ``amount`` for ``money``.

    :raises InvalidRequest: (``invalid_amount``) for an amount Stripe would
        refuse: negative or zero, too many decimals for Stripe, a three-decimal
        amount not ending in 0, an ISK amount not a multiple of 100, or more
        than eight digits.
    """
    currency = money.currency
    scaled = money.amount.scaleb(stripe_exponent(currency))
    if scaled != scaled.to_integral_value():
        raise _refuse(f"Stripe takes {currency} amounts in whole units: {money} has decimals")
    amount = int(scaled)
    if amount < 0 or (amount == 0 and not allow_zero):
        raise _refuse(f"Stripe needs a positive amount, got {money}")
    if currency in THREE_DECIMAL and amount % 10:
        raise _refuse(
            f"Stripe needs {currency} amounts whose last (third) decimal is 0, got {money}"
        )
    if currency in HUNDREDTHS_OF_WHOLE_UNITS and amount % 100:
        raise _refuse(f"Stripe needs {currency} amounts in multiples of 100, got {money}")
    if amount > MAX_AMOUNT:
        raise _refuse(f"{money} is above Stripe's maximum amount ({MAX_AMOUNT} units)")
    return amount


def from_stripe(amount: int, currency: str) -> Money:
    """The :class:`Money` of a Stripe ``amount`` in ``currency`` (any case)."""
    code = currency.upper()
    exponent = stripe_exponent(code)
    money = Money.from_minor(int(amount), code)
    if money.exponent == exponent:
        # Stripe and ISO 4217 agree on the decimals (nearly every currency):
        # the same value as below, without validating it a second time.
        return money
    return Money(Decimal(int(amount)).scaleb(-exponent), code)


def stripe_currency(money: Money) -> str:
    """Stripe spells currencies in lower case."""
    return money.currency.lower()


__all__ = [
    "HUNDREDTHS_OF_WHOLE_UNITS",
    "MAX_AMOUNT",
    "THREE_DECIMAL",
    "ZERO_DECIMAL",
    "from_stripe",
    "stripe_currency",
    "stripe_exponent",
    "to_stripe",
]

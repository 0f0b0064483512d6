"""Money at PayPal's edge: decimal strings (``"10.00"``), with PayPal's own rules.

PayPal takes amounts as strings in the currency's major unit. Three currencies
differ from ISO 4217: HUF and TWD have two ISO decimals but PayPal accepts only
whole units (``DECIMALS_NOT_SUPPORTED``); JPY has none either way.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from paygate.errors import ErrorCode, InvalidRequest
from paygate.money import Money

#: Currencies PayPal's REST APIs accept (developer.paypal.com, "Currency codes").
CURRENCIES: frozenset[str] = frozenset(
    {
        "AUD", "BRL", "CAD", "CNY", "CZK", "DKK", "EUR", "HKD", "HUF", "ILS", "JPY", "MYR",
        "MXN", "TWD", "NZD", "NOK", "PHP", "PLN", "GBP", "SGD", "SEK", "CHF", "THB", "USD",
    }
)  # fmt: skip

#: Currencies PayPal takes only in whole units whatever ISO says.
WHOLE_UNITS_ONLY: frozenset[str] = frozenset({"HUF", "JPY", "TWD"})

#: PayPal caps a single value at 10 integer digits (``^((-?[0-9]+)|(-?([0-9]+)?[.][0-9]+))$``,
#: max length 32); real limits per account are lower.
_MAX_INTEGER_DIGITS = 10


def to_paypal(amount: Money) -> dict[str, str]:
    """``Money`` -> PayPal's ``{"currency_code", "value"}``, checked before any request.

    :raises InvalidRequest: ``invalid_currency`` for a currency PayPal does not
        take, ``invalid_amount`` for zero/negative amounts, fractions of a
        whole-units-only currency, or absurdly large values.
    """
    currency = amount.currency
    if currency not in CURRENCIES:
        raise InvalidRequest(
            f"PayPal does not accept {currency}", code=ErrorCode.INVALID_CURRENCY, param="currency"
        )
    value: Decimal = amount.amount
    if value <= 0:
        raise InvalidRequest(
            "PayPal amounts must be greater than zero",
            code=ErrorCode.INVALID_AMOUNT,
            param="amount",
        )
    if currency in WHOLE_UNITS_ONLY and value != value.to_integral_value():
        raise InvalidRequest(
            f"PayPal takes {currency} in whole units only",
            code=ErrorCode.INVALID_AMOUNT,
            param="amount",
        )
    if value.adjusted() + 1 > _MAX_INTEGER_DIGITS:
        raise InvalidRequest(
            "amount too large for PayPal", code=ErrorCode.INVALID_AMOUNT, param="amount"
        )
    exponent = 0 if currency in WHOLE_UNITS_ONLY else amount.exponent
    return {"currency_code": currency, "value": f"{value:.{exponent}f}"}


def from_paypal(data: object) -> Money | None:
    """PayPal's ``{"currency_code", "value"}`` -> ``Money`` (``None`` if absent/garbled)."""
    if not isinstance(data, dict):
        return None
    currency = data.get("currency_code")
    value = data.get("value")
    if not isinstance(currency, str) or not isinstance(value, str):
        return None
    try:
        return Money(Decimal(value), currency)
    except (InvalidOperation, InvalidRequest):
        return None

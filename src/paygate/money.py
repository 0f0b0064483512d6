"""Exact money: a Decimal amount and an ISO 4217 currency.

Minor units come from the ISO 4217 table shipped by the ``iso4217`` package
(JPY 0, USD 2, KWD 3), not from a hand-kept list. Providers that differ from
ISO (Stripe's zero-decimal list, ISK in hundreds) convert in their plugin.

Rules:

* no float input, ever (``Money(0.1, "USD")`` is an error, not 0.1000000000000000055);
* no NaN, no infinity, no more decimals than the currency has;
* ``+``, ``-`` and comparisons only between equal currencies;
* multiplication by a ``Decimal``/``int`` produces more decimals than the
  currency allows, so it goes through :meth:`Money.multiply`, which rounds
  once with a declared rounding mode.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable
from decimal import (
    MAX_EMAX,
    MIN_EMIN,
    ROUND_FLOOR,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DecimalException,
    InvalidOperation,
)
from functools import cache
from typing import Any, NamedTuple

from paygate.errors import ErrorCode, InvalidRequest

DEFAULT_ROUNDING = ROUND_HALF_UP
#: Integer digits an amount may have: far above any real payment, and well
#: inside Decimal's default 28-digit precision so quantize never overflows.
MAX_DIGITS = 18


#: Money's own decimal context: every operation here uses it, never the
#: thread's context a host may have changed (``getcontext().prec = 4``).
#: 60 digits hold any sum or integer product of 18-digit amounts exactly.
_CTX = Context(prec=60, rounding=ROUND_HALF_UP, Emax=MAX_EMAX, Emin=MIN_EMIN)
#: A factor of :meth:`Money.multiply` may have at most this many digits.
MAX_FACTOR_DIGITS = 100
_ROUNDINGS = frozenset(name for name in dir(decimal) if name.startswith("ROUND_"))


def _checked_rounding(rounding: object) -> str:
    if not isinstance(rounding, str) or rounding not in _ROUNDINGS:
        raise InvalidRequest(
            "rounding must be one of the decimal module's ROUND_* modes",
            code=ErrorCode.INVALID_REQUEST,
            param="rounding",
        )
    return rounding


def _too_large() -> InvalidRequest:
    return InvalidRequest(
        f"amount is too large (at most {MAX_DIGITS} integer digits)",
        code=ErrorCode.INVALID_AMOUNT,
        param="amount",
    )


@cache
def currency_exponent(currency: str) -> int:
    """Return the ISO 4217 minor-unit exponent of ``currency`` (``"JPY"`` -> 0).

    :raises InvalidRequest: (``invalid_currency``) for an unknown code.
    """
    from iso4217 import Currency

    try:
        exponent = Currency(currency).exponent
    except (ValueError, KeyError):
        raise InvalidRequest(
            f"unknown currency {currency!r}: expected an ISO 4217 code such as 'USD'",
            code=ErrorCode.INVALID_CURRENCY,
            param="currency",
        ) from None
    if exponent is None:  # funds codes without minor units (XAU, XXX...)
        raise InvalidRequest(
            f"currency {currency!r} has no minor unit and cannot be charged",
            code=ErrorCode.INVALID_CURRENCY,
            param="currency",
        )
    return int(exponent)


@cache
def _quantum(exponent: int) -> Decimal:
    return Decimal(1).scaleb(-exponent)


@cache
def _minor_factor(exponent: int) -> Decimal:
    """``10^exponent`` with a one-digit coefficient.

    ``amount * _minor_factor(e)`` has exactly the digits and exponent of
    ``amount.scaleb(e)`` (what :attr:`Money.minor_units` converts), rounded by
    the same context: an operator, without ``scaleb``'s argument parsing.
    """
    return Decimal(1).scaleb(exponent)


#: Codes already checked, as given -> normalized (bounded: hosts use a few).
_CHECKED_CODES: dict[str, str] = {}


def _normalize_currency(currency: object) -> str:
    if type(currency) is str:
        known = _CHECKED_CODES.get(currency)
        if known is not None:
            return known
    if not isinstance(currency, str):
        raise InvalidRequest(
            f"currency must be a string ISO 4217 code, got {type(currency).__name__}",
            code=ErrorCode.INVALID_CURRENCY,
            param="currency",
        )
    code = currency.strip().upper()
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise InvalidRequest(
            f"unknown currency {currency[:16]!r}: expected a three-letter ISO 4217 code",
            code=ErrorCode.INVALID_CURRENCY,
            param="currency",
        )
    if len(_CHECKED_CODES) < 512:
        _CHECKED_CODES[currency] = code
    return code


def _to_decimal(amount: object) -> Decimal:
    if isinstance(amount, (bool, float)):
        kind = "bool" if isinstance(amount, bool) else "float"
        raise InvalidRequest(
            f"amount must be a Decimal, int or str, not {kind}: floats cannot hold "
            "money exactly (write Money('10.00', 'USD'))",
            code=ErrorCode.INVALID_AMOUNT,
            param="amount",
        )
    if isinstance(amount, Decimal):
        value = amount
    elif isinstance(amount, int):
        value = Decimal(amount)
    elif isinstance(amount, str):
        text = amount.strip()
        if len(text) > 64:
            raise InvalidRequest(
                "amount text is too long", code=ErrorCode.INVALID_AMOUNT, param="amount"
            )
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise InvalidRequest(
                f"amount {text!r} is not a number", code=ErrorCode.INVALID_AMOUNT, param="amount"
            ) from None
    else:
        raise InvalidRequest(
            f"amount must be a Decimal, int or str, not {type(amount).__name__}",
            code=ErrorCode.INVALID_AMOUNT,
            param="amount",
        )
    if not value.is_finite():
        raise InvalidRequest(
            "amount must be a finite number (no NaN or infinity)",
            code=ErrorCode.INVALID_AMOUNT,
            param="amount",
        )
    return value


class Money:
    """An exact amount of one currency.

    >>> Money("10.00", "USD") + Money("0.99", "USD")
    Money('10.99', 'USD')
    >>> Money.from_minor(1999, "USD").amount
    Decimal('19.99')
    """

    __slots__ = ("_amount", "_currency", "_exponent")

    _amount: Decimal
    _currency: str
    _exponent: int

    def __init__(self, amount: Decimal | int | str, currency: str) -> None:
        code = _normalize_currency(currency)
        exponent = currency_exponent(code)
        value = _to_decimal(amount)
        if value and value.adjusted() >= MAX_DIGITS:
            raise InvalidRequest(
                f"amount is too large (at most {MAX_DIGITS} integer digits)",
                code=ErrorCode.INVALID_AMOUNT,
                param="amount",
            )
        quantized = value.quantize(_quantum(exponent), context=_CTX)
        if quantized != value:
            raise InvalidRequest(
                f"{value} has more decimals than {code} allows ({exponent})",
                code=ErrorCode.INVALID_AMOUNT,
                param="amount",
            )
        object.__setattr__(self, "_amount", quantized)
        object.__setattr__(self, "_currency", code)
        object.__setattr__(self, "_exponent", exponent)

    @classmethod
    def _trusted(cls, amount: Decimal, currency: str, exponent: int) -> Money:
        # Internal fast path for values already quantized to the currency:
        # the slots' own setters, since __setattr__ is closed (immutability).
        self = object.__new__(cls)
        _set_amount(self, amount)
        _set_currency(self, currency)
        _set_exponent(self, exponent)
        return self

    @classmethod
    def from_minor(cls, minor: int, currency: str) -> Money:
        """Build from integer minor units: ``Money.from_minor(1999, "USD")`` is 19.99 USD."""
        if isinstance(minor, bool) or not isinstance(minor, int):
            raise InvalidRequest(
                f"minor units must be an int, not {type(minor).__name__}",
                code=ErrorCode.INVALID_AMOUNT,
                param="amount",
            )
        code = _normalize_currency(currency)
        exponent = currency_exponent(code)
        value = Decimal(minor).scaleb(-exponent, context=_CTX)
        if value.adjusted() < MAX_DIGITS:
            # Already exact at the currency's exponent: skip __init__'s re-checks
            # (a hot path of the pricing engine and of every provider answer).
            return cls._trusted(value, code, exponent)
        return cls(value, code)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls.from_minor(0, currency)

    @classmethod
    def rounded(
        cls, amount: Decimal | int | str, currency: str, rounding: str = DEFAULT_ROUNDING
    ) -> Money:
        """The one rounding step: quantize ``amount`` to the currency's minor unit."""
        code = _normalize_currency(currency)
        exponent = currency_exponent(code)
        value = _to_decimal(amount)
        if value and value.adjusted() >= MAX_DIGITS:
            raise _too_large()
        mode = _checked_rounding(rounding)
        return cls(value.quantize(_quantum(exponent), rounding=mode, context=_CTX), code)

    # -- views -------------------------------------------------------------
    @property
    def amount(self) -> Decimal:
        return self._amount

    @property
    def currency(self) -> str:
        return self._currency

    @property
    def exponent(self) -> int:
        """Number of decimals of the currency (ISO 4217)."""
        return self._exponent

    @property
    def minor_units(self) -> int:
        """The amount in integer minor units (cents): 19.99 USD -> 1999."""
        return int(self._amount.scaleb(self._exponent, context=_CTX))

    def is_zero(self) -> bool:
        return not self._amount

    def is_positive(self) -> bool:
        return self._amount > 0

    # -- arithmetic --------------------------------------------------------
    def _check(self, other: object, op: str) -> Money:
        if not isinstance(other, Money):
            raise InvalidRequest(
                f"cannot {op} Money and {type(other).__name__}", code=ErrorCode.INVALID_AMOUNT
            )
        if other._currency != self._currency:
            raise InvalidRequest(
                f"cannot {op} {self._currency} and {other._currency}",
                code=ErrorCode.INVALID_CURRENCY,
                param="currency",
            )
        return other

    def _result(self, value: Decimal) -> Money:
        # Sums and integer products stay exact in _CTX; the size limit holds
        # for them as for any amount built from the outside.
        if value and value.adjusted() >= MAX_DIGITS:
            raise _too_large()
        return Money._trusted(value, self._currency, self._exponent)

    def __add__(self, other: Money) -> Money:
        o = self._check(other, "add")
        return self._result(_CTX.add(self._amount, o._amount))

    def __sub__(self, other: Money) -> Money:
        o = self._check(other, "subtract")
        return self._result(_CTX.subtract(self._amount, o._amount))

    def __neg__(self) -> Money:
        return Money._trusted(-self._amount, self._currency, self._exponent)

    def __abs__(self) -> Money:
        return Money._trusted(abs(self._amount), self._currency, self._exponent)

    def __mul__(self, factor: object) -> Money:
        # Integer factors keep exactness; anything else needs an explicit rounding.
        if isinstance(factor, int) and not isinstance(factor, bool):
            if abs(factor) >= 10 ** (MAX_DIGITS + 4):
                raise _too_large()
            return self._result(_CTX.multiply(self._amount, Decimal(factor)))
        raise InvalidRequest(
            "multiply Money by a Decimal with .multiply(factor, rounding=...): "
            "the result must be rounded once, explicitly",
            code=ErrorCode.INVALID_AMOUNT,
        )

    __rmul__ = __mul__

    def multiply(self, factor: Decimal | int | str, rounding: str = DEFAULT_ROUNDING) -> Money:
        """``self * factor`` rounded once to the currency's minor unit.

        The product is computed exactly (a context as precise as the operands
        need), then quantized once: never rounded to the thread's 28 digits
        first (``1.00 * 0.00499999999999999999999999999999`` is 0.00, not 0.01).
        """
        mode = _checked_rounding(rounding)
        f = _to_decimal(factor)
        digits = len(f.as_tuple().digits)
        if digits > MAX_FACTOR_DIGITS:
            raise InvalidRequest(
                f"factor has more than {MAX_FACTOR_DIGITS} digits",
                code=ErrorCode.INVALID_AMOUNT,
                param="factor",
            )
        if not self._amount or not f:
            return Money._trusted(
                Decimal(0).quantize(_quantum(self._exponent), context=_CTX),
                self._currency,
                self._exponent,
            )
        if self._amount.adjusted() + f.adjusted() >= MAX_DIGITS:
            raise _too_large()
        exact = Context(
            prec=len(self._amount.as_tuple().digits) + digits + 2, Emax=MAX_EMAX, Emin=MIN_EMIN
        )
        try:
            product = exact.multiply(self._amount, f)
            value = product.quantize(_quantum(self._exponent), rounding=mode, context=_CTX)
        except DecimalException:
            raise _too_large() from None
        return self._result(value)

    def allocate(self, ratios: list[Decimal | int]) -> list[Money]:
        """Split into parts proportional to ``ratios`` that add up exactly to ``self``.

        Largest-remainder method: parts are rounded down, and the leftover
        minor units go to the parts with the largest remainders.
        """
        if not isinstance(ratios, (list, tuple)) or not ratios or len(ratios) > 10_000:
            raise InvalidRequest("ratios must be a non-empty list", param="ratios")
        values = [_to_decimal(r) for r in ratios]  # typed errors for NaN, floats, junk
        if any(v.adjusted() > 30 or len(v.as_tuple().digits) > 40 for v in values if v):
            raise InvalidRequest("ratios must have at most 40 digits", param="ratios")
        total_ratio = _CTX.add(Decimal(0), Decimal(0))
        for v in values:
            total_ratio = _CTX.add(total_ratio, v)
        if total_ratio <= 0 or any(v < 0 for v in values):
            raise InvalidRequest("ratios must be non-negative and not all zero", param="ratios")
        minor = self.minor_units
        exact = [_CTX.divide(_CTX.multiply(Decimal(minor), v), total_ratio) for v in values]
        floors = [int(e.to_integral_value(rounding=ROUND_FLOOR, context=_CTX)) for e in exact]
        left = minor - sum(floors)
        order = sorted(range(len(ratios)), key=lambda i: exact[i] - floors[i], reverse=True)
        for i in order[: abs(left)]:
            floors[i] += 1 if left > 0 else -1
        return [Money.from_minor(f, self._currency) for f in floors]

    # -- comparison --------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        return self._currency == other._currency and self._amount == other._amount

    def __hash__(self) -> int:
        return hash((self._amount, self._currency))

    def __lt__(self, other: Money) -> bool:
        return self._amount < self._check(other, "compare")._amount

    def __le__(self, other: Money) -> bool:
        return self._amount <= self._check(other, "compare")._amount

    def __gt__(self, other: Money) -> bool:
        return self._amount > self._check(other, "compare")._amount

    def __ge__(self, other: Money) -> bool:
        return self._amount >= self._check(other, "compare")._amount

    def __bool__(self) -> bool:
        return bool(self._amount)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Money is immutable")

    def __reduce__(self) -> tuple[Any, ...]:
        return (Money, (str(self._amount), self._currency))

    def __repr__(self) -> str:
        return f"Money({str(self._amount)!r}, {self._currency!r})"

    def __str__(self) -> str:
        # !s: str() straight away; format() with an empty spec gives the same
        # text for a Decimal, through the format-spec parser.
        return f"{self._amount!s} {self._currency}"

    def format(self, locale: str = "en_US") -> str:
        """Localised display, e.g. ``$1,234.50`` (Babel)."""
        from babel.core import UnknownLocaleError
        from babel.numbers import format_currency

        if not isinstance(locale, str) or not 1 <= len(locale) <= 64:
            raise InvalidRequest("locale must be a locale name such as 'en_US'", param="locale")
        try:
            return str(format_currency(self._amount, self._currency, locale=locale))
        except (UnknownLocaleError, ValueError, TypeError):
            raise InvalidRequest(
                "unknown locale; use a name such as 'en_US'", param="locale"
            ) from None

    # -- serialization -----------------------------------------------------
    def to_dict(self) -> dict[str, str]:
        return {"amount": str(self._amount), "currency": self._currency}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Money:
        if not isinstance(data, dict) or "amount" not in data or "currency" not in data:
            raise InvalidRequest(
                "expected {'amount': str, 'currency': str}",
                code=ErrorCode.INVALID_AMOUNT,
                param="amount",
            )
        return cls(data["amount"], data["currency"])

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        def validate(value: Any) -> Money:
            if isinstance(value, Money):
                return value
            if isinstance(value, dict) and set(value) == {"amount", "currency"}:
                return cls(value["amount"], value["currency"])
            raise InvalidRequest(
                "expected paygate.Money or {'amount': str, 'currency': str}",
                code=ErrorCode.INVALID_AMOUNT,
                param="amount",
            )

        return core_schema.no_info_plain_validator_function(
            validate,
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda m: m.to_dict(), when_used="json"
            ),
        )


_set_amount = Money.__dict__["_amount"].__set__
_set_currency = Money.__dict__["_currency"].__set__
_set_exponent = Money.__dict__["_exponent"].__set__

#: Scaling minor units is exact whatever the caller's decimal context says.
_SCALE = Context(prec=80)


class _Unsealed:
    """Money's memory layout without its closed ``__setattr__``.

    Money refuses attribute writes, so filling a new one goes through the slot
    descriptors, three calls of several hundred instructions each. An instance
    of this class takes the same three writes as plain slot stores, and then
    becomes a Money by ``__class__`` assignment: CPython allows it because the
    layouts match (same base, same ``__slots__``), and the result is an
    ordinary Money, indistinguishable from one built by ``Money.__init__``.
    """

    __slots__ = Money.__slots__

    _amount: Decimal
    _currency: str
    _exponent: int


@cache
def _trusted_minor(currency: str) -> Callable[[int], Money]:
    """Money from integer minor units the caller computed from validated Money.

    Internal fast path for engines that produce dozens of amounts per call
    (the quote engine): no type or size check and no currency normalization,
    so ``currency`` must already be a normalized ISO 4217 code. Built once per
    currency, so each amount costs one exact multiplication and three slot
    stores.
    """
    return _minor_makers(currency).one


class _MinorMakers(NamedTuple):
    """The trusted makers of one currency (see :func:`_trusted_minor`)."""

    #: Money from integer minor units.
    one: Callable[[int], Money]
    #: The zero of the currency: Money is immutable, so one instance serves
    #: every amount that comes out as zero.
    zero: Money


@cache
def _minor_makers(currency: str) -> _MinorMakers:
    exponent = currency_exponent(currency)
    quantum = _quantum(exponent)
    scale = _SCALE.multiply
    money_type = Money
    unsealed = _Unsealed

    def one(minor: int) -> Money:
        money: Any = unsealed()
        money._amount = scale(minor, quantum)
        money._currency = currency
        money._exponent = exponent
        money.__class__ = money_type
        return money  # type: ignore[no-any-return]

    return _MinorMakers(one, one(0))


__all__ = ["DEFAULT_ROUNDING", "Money", "currency_exponent"]

"""Card checks a checkout form can show next to the right field.

Every problem is a :class:`paygate.errors.InvalidRequest` with a standard
code and the ``param`` it is about. Messages name the brand at most, never
the number or the CVC.

Expiry time zone rule: a card is valid through the last day of its expiry
month, and we accept it until that day has ended *everywhere*, that is until
the end of the month in UTC-12, the last time zone to leave a day
(``1st of the next month, 12:00 UTC``). So a card that is still valid for its
holder somewhere on Earth is never refused here; the issuer has the last word.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from paygate.errors import ErrorCode, InvalidRequest
from paygate_cardnetworks.networks import detect_brand, luhn_valid, network, normalize

#: The latest time zone on Earth is UTC-12: a day ends there 12 hours after UTC.
LATEST_UTC_OFFSET = timedelta(hours=-12)
#: Expiry years further ahead than this are typing mistakes, not cards.
MAX_YEARS_AHEAD = 50


def expires_at(exp_month: int, exp_year: int) -> datetime:
    """The first instant (UTC) at which a card expiring ``exp_month/exp_year`` is refused."""
    next_year, next_month = (exp_year + 1, 1) if exp_month == 12 else (exp_year, exp_month + 1)
    # Midnight on the 1st of the next month in UTC-12 is 12:00 UTC.
    return datetime(next_year, next_month, 1, tzinfo=UTC) - LATEST_UTC_OFFSET


def join_or(names: Sequence[str]) -> str:
    """``Visa, Mastercard, Discover or American Express``."""
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} or {names[-1]}"


def article(name: str, *, capital: bool = False) -> str:
    """``a Visa``, ``an American Express``."""
    word = "an" if name[:1].upper() in "AEIOU" else "a"
    return f"{word.title() if capital else word} {name}"


def describe_lengths(lengths: Sequence[int]) -> str:
    """``15``, ``13, 16 or 19``, ``16 to 19``."""
    if len(lengths) > 2 and list(lengths) == list(range(lengths[0], lengths[-1] + 1)):
        return f"{lengths[0]} to {lengths[-1]}"
    return join_or([str(n) for n in lengths])


@dataclass
class CardCheck:
    """The outcome of :func:`check_card`: the brand found (if any) and the problems."""

    brand: str | None = None
    errors: list[InvalidRequest] = field(default_factory=list)

    def add(self, message: str, code: ErrorCode, param: str) -> None:
        self.errors.append(InvalidRequest(message, code=code, param=param))


def check_card(
    *,
    number: str,
    exp_month: int,
    exp_year: int,
    cvc: str | None,
    now: datetime,
    accepted: Sequence[str],
    require_cvc: bool = False,
) -> CardCheck:
    """Check a card's number, expiry and CVC.

    Problems come in form order: number, expiry, CVC; at most one per field.
    ``accepted`` lists the brands the host takes, in the order to name them.
    """
    result = CardCheck()
    _check_number(result, number, accepted)
    _check_expiry(result, exp_month, exp_year, now)
    _check_cvc(result, cvc, result.brand, require_cvc)
    return result


def _check_number(result: CardCheck, number: str, accepted: Sequence[str]) -> None:
    digits = normalize(number)
    if not digits:
        result.add("Enter your card number.", ErrorCode.INVALID_NUMBER, "number")
        return
    if not (digits.isdecimal() and digits.isascii()):
        result.add(
            "A card number can only contain digits, spaces and dashes.",
            ErrorCode.INVALID_NUMBER,
            "number",
        )
        return
    brand = detect_brand(digits)
    if brand is None:
        result.add(
            "This card number does not belong to a card network we know.",
            ErrorCode.INVALID_NUMBER,
            "number",
        )
        return
    result.brand = brand
    net = network(brand)
    # Refuse an unaccepted network first: fixing a typo would not help.
    if brand not in accepted:
        message = f"{net.display_name} cards are not accepted."
        if accepted:
            names = [network(name).display_name for name in accepted]
            message += f" Use {article(join_or(names))} card."
        result.add(message, ErrorCode.UNSUPPORTED_BRAND, "number")
        return
    if len(digits) not in net.lengths:
        result.add(
            f"{article(net.display_name, capital=True)} card number has "
            f"{describe_lengths(net.lengths)} digits.",
            ErrorCode.INVALID_NUMBER,
            "number",
        )
        return
    if not luhn_valid(digits):
        result.add("Your card number is incorrect.", ErrorCode.INCORRECT_NUMBER, "number")


def _check_expiry(result: CardCheck, exp_month: int, exp_year: int, now: datetime) -> None:
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    if not 1 <= exp_month <= 12:
        result.add(
            "The expiry month must be between 1 and 12.",
            ErrorCode.INVALID_EXPIRY_DATE,
            "exp_month",
        )
        return
    if exp_year < 1000:
        # A two-digit year is ambiguous to some gateways; ask for four digits
        # rather than guess the century.
        result.add(
            "Enter the expiry year with four digits.", ErrorCode.INVALID_EXPIRY_DATE, "exp_year"
        )
        return
    if exp_year > now.year + MAX_YEARS_AHEAD:
        result.add(
            "The expiry year is too far in the future.", ErrorCode.INVALID_EXPIRY_DATE, "exp_year"
        )
        return
    if now >= expires_at(exp_month, exp_year):
        # Point at the field to correct: the month if only the month is past.
        param = "exp_month" if exp_year >= now.astimezone(UTC).year else "exp_year"
        result.add("Your card has expired.", ErrorCode.EXPIRED_CARD, param)


def _check_cvc(result: CardCheck, cvc: str | None, brand: str | None, require_cvc: bool) -> None:
    if cvc is None or cvc == "":
        if require_cvc:
            result.add("Enter your card's security code.", ErrorCode.INVALID_CVC, "cvc")
        return
    if brand is not None:
        net = network(brand)
        expected: tuple[int, ...] = (net.cvc_length,)
        message = (
            f"The security code of {article(net.display_name)} card has {net.cvc_length} digits."
        )
    else:
        expected = (3, 4)
        message = "The security code has 3 or 4 digits."
    if not (cvc.isdecimal() and cvc.isascii() and len(cvc) in expected):
        result.add(message, ErrorCode.INVALID_CVC, "cvc")


__all__ = ["CardCheck", "check_card", "expires_at", "join_or"]

"""Card networks as data: IIN ranges, PAN lengths and CVC length per brand.

Pure functions only, no paygate import, so a checkout page or a test can use
them without building a :class:`paygate.Payments`. The table lives in
``networks.toml`` next to this module and is read once, on first use.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cache

#: Longest PAN any network issues (ISO/IEC 7812).
MAX_PAN_LENGTH = 19
#: Shortest PAN any network in the table issues (Maestro).
MIN_PAN_LENGTH = 12


@dataclass(frozen=True, slots=True)
class PrefixRange:
    """An inclusive range of IIN prefixes of one length: ``2221``–``2720``."""

    low: str
    high: str

    @classmethod
    def parse(cls, text: str) -> PrefixRange:
        low, _, high = text.partition("-")
        high = high or low
        if not (low.isdigit() and high.isdigit() and len(low) == len(high) and low <= high):
            raise ValueError(f"bad IIN range {text!r} in networks.toml")
        return cls(low, high)

    @property
    def width(self) -> int:
        return len(self.low)

    def matches(self, digits: str) -> bool:
        head = digits[: self.width]
        # Same-length digit strings compare like the numbers they spell.
        return len(head) == self.width and self.low <= head <= self.high

    def overlaps(self, other: PrefixRange) -> bool:
        width = min(self.width, other.width)
        return self.low[:width] <= other.high[:width] and other.low[:width] <= self.high[:width]

    def __str__(self) -> str:
        return self.low if self.low == self.high else f"{self.low}–{self.high}"


@dataclass(frozen=True, slots=True)
class Network:
    """One card brand: its name, how to show it, where its PANs start and how long they are."""

    name: str
    display_name: str
    ranges: tuple[PrefixRange, ...]
    lengths: tuple[int, ...]
    cvc_length: int

    def matches(self, digits: str) -> bool:
        return any(r.matches(digits) for r in self.ranges)


@dataclass(frozen=True, slots=True)
class NetworkTable:
    networks: tuple[Network, ...]
    source: str
    read_on: str


@cache
def table() -> NetworkTable:
    """The shipped table, in detection order."""
    # Imported here so that loading the plugin costs nothing until a card is seen.
    import tomllib
    from importlib import resources

    raw = tomllib.loads(
        resources.files("paygate_cardnetworks")
        .joinpath("networks.toml")
        .read_text(encoding="utf-8")
    )
    networks = tuple(
        Network(
            name=str(row["name"]),
            display_name=str(row["display_name"]),
            ranges=tuple(PrefixRange.parse(str(r)) for r in row["ranges"]),
            lengths=tuple(sorted(int(n) for n in row["lengths"])),
            cvc_length=int(row["cvc_length"]),
        )
        for row in raw["network"]
    )
    return NetworkTable(networks=networks, source=str(raw["source"]), read_on=str(raw["read_on"]))


def networks() -> tuple[Network, ...]:
    """Every known network, in detection order."""
    return table().networks


def brands() -> tuple[str, ...]:
    """Lowercase names of every known network, in detection order."""
    return tuple(n.name for n in networks())


def network(brand: str) -> Network:
    """The network called ``brand`` (lowercase name). Raises ``KeyError`` if unknown."""
    for candidate in networks():
        if candidate.name == brand:
            return candidate
    raise KeyError(brand)


#: What people type between digit groups: spaces (one or more), dashes,
#: underscores and slashes (a dot stays an error: it reads as a decimal).
_GROUP_SEPARATORS = str.maketrans("", "", " -_/")


def normalize(pan: str) -> str:
    """``pan`` without the separators people type between groups (spaces,
    however many, dashes, underscores, slashes); other characters are kept."""
    return pan.translate(_GROUP_SEPARATORS)


def detect_brand(pan: str) -> str | None:
    """The brand of a PAN from its leading digits, or ``None``.

    Spaces and dashes are ignored; anything else that is not a digit gives
    ``None``. Only the prefix is looked at, so a partly typed number already
    has a brand (a checkout form can show the logo); lengths and Luhn are
    checked by validation, not here.
    """
    digits = normalize(pan)
    if not digits.isdecimal() or not digits.isascii():
        return None
    for candidate in networks():
        if candidate.matches(digits):
            return candidate.name
    return None


def luhn_check_digit(partial: str) -> str:
    """The digit that makes ``partial + digit`` pass the Luhn check."""
    total = 0
    # Counting from the right of the *completed* number, the check digit is
    # position 1, so the last digit of ``partial`` is position 2 (doubled).
    for index, char in enumerate(reversed(partial)):
        value = int(char)
        if index % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def luhn_valid(pan: str) -> bool:
    """Whether ``pan`` (digits, spaces and dashes) passes the Luhn check."""
    digits = normalize(pan)
    if len(digits) < 2 or not digits.isdecimal() or not digits.isascii():
        return False
    return luhn_check_digit(digits[:-1]) == digits[-1]


def complete_pan(prefix: str, length: int) -> str:
    """``prefix`` padded with zeros to ``length`` digits, the last one a Luhn check digit.

    Synthetic numbers for tests and range-edge tables; never a real card.
    """
    if length <= len(prefix):
        raise ValueError("length must leave room for the check digit")
    body = prefix.ljust(length - 1, "0")
    return body + luhn_check_digit(body)


def generate_pan(brand: str, rng: random.Random, length: int | None = None) -> str:
    """A random Luhn-valid PAN that :func:`detect_brand` files under ``brand``.

    ``rng`` drives every choice, so ``hypothesis.strategies.randoms()`` makes
    the output shrinkable and reproducible. ``length`` defaults to one of the
    brand's lengths, chosen by ``rng``.
    """
    net = network(brand)
    if length is not None and length not in net.lengths:
        raise ValueError(f"{net.display_name} numbers do not have {length} digits")
    # A few draws can land in a narrower range that an earlier network owns
    # (Visa's 4 drawing 493698...); draw again, a bounded number of times.
    for _ in range(1000):
        prefix_range = rng.choice(net.ranges)
        prefix = str(rng.randint(int(prefix_range.low), int(prefix_range.high))).zfill(
            prefix_range.width
        )
        size = length if length is not None else rng.choice(net.lengths)
        body = prefix + "".join(rng.choice("0123456789") for _ in range(size - 1 - len(prefix)))
        pan = body + luhn_check_digit(body)
        if detect_brand(pan) == brand:
            return pan
    raise RuntimeError(f"could not draw a {brand} number")  # pragma: no cover


__all__ = [
    "MAX_PAN_LENGTH",
    "MIN_PAN_LENGTH",
    "Network",
    "NetworkTable",
    "PrefixRange",
    "brands",
    "complete_pan",
    "detect_brand",
    "generate_pan",
    "luhn_check_digit",
    "luhn_valid",
    "network",
    "networks",
    "normalize",
    "table",
]

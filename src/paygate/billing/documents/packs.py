"""The mention packs and VAT rates, shipped as dated TOML data beside this module."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any


@dataclass(frozen=True, slots=True)
class PackMention:
    code: str
    basis: str
    text: dict[str, str]
    b2b_only: bool = False
    valid_from: date | None = None

    def render(self, locale: str, **fields: str) -> str:
        template = self.text.get(locale[:2]) or self.text["en"]
        return template.format(**fields)

    def applies_on(self, on: date) -> bool:
        return self.valid_from is None or on >= self.valid_from


@dataclass(frozen=True, slots=True)
class Pack:
    name: str
    read: date
    valid_from: date
    source: str
    mentions: dict[str, PackMention]

    def __getitem__(self, code: str) -> PackMention:
        return self.mentions[code]


def _load(name: str) -> dict[str, Any]:
    text = resources.files("paygate.billing.documents").joinpath("packs", name).read_text("utf-8")
    return tomllib.loads(text)


@cache
def pack(name: str) -> Pack:
    """The ``eu`` or ``fr`` mention pack."""
    data = _load(f"{name}.toml")
    mentions = {
        code: PackMention(
            code=f"{name}.{code}",
            basis=str(m["basis"]),
            text={"fr": str(m["fr"]), "en": str(m["en"])},
            b2b_only=bool(m.get("b2b_only", False)),
            valid_from=m.get("valid_from"),
        )
        for code, m in data["mentions"].items()
    }
    return Pack(
        name=str(data["pack"]),
        read=data["read"],
        valid_from=data["valid_from"],
        source=str(data["source"]),
        mentions=mentions,
    )


@cache
def standard_rates() -> dict[str, Decimal]:
    """EU standard VAT rates in percent, by ISO country code."""
    return {cc: Decimal(rate) for cc, rate in _load("vat_rates.toml")["standard"].items()}


def is_eu(country: str) -> bool:
    return country in standard_rates()


__all__ = ["Pack", "PackMention", "is_eu", "pack", "standard_rates"]

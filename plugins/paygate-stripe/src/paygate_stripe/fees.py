"""Stripe's processing fees, from the data file ``fees.json``.

The shipped table is Stripe's US standard pricing (stripe.com/pricing, read
2026-09-20): 2.9 % + 30¢ per domestic card payment, +1.5 % for an
international card, +1 % when the payment is converted, +0.5 % for a manually
entered card. A host with other terms overrides any part of it::

    {"stripe": {"fees": {"merchant_country": "GB",
                         "lines": {"card": {"rate": "0.015", "fixed": {"GBP": "0.20"}}}}}}

The fixed part is per currency; for a currency the table has no fixed amount
for, the line carries the rate only and its label says so.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from importlib.resources import files
from typing import Any

from paygate.errors import ConfigurationError
from paygate.money import Money
from paygate.pricing.models import FeeContext, FeeLine

ROUNDING = ROUND_HALF_UP
#: ``FeeContext.method_kind`` values Stripe charges card fees on.
CARD_KINDS = frozenset({"card", "stored", "manual_card"})


@lru_cache(maxsize=1)
def _shipped() -> dict[str, Any]:
    text = files("paygate_stripe").joinpath("fees.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def load_table(override: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The shipped table with the host's ``override`` merged over it.

    :raises ConfigurationError: an override with a rate or fixed amount that
        is not a number.
    """
    table = _merge(copy.deepcopy(_shipped()), override or {})
    if override and "table" not in override:
        table["table"] = f"{table['table']}+host"
    for name, line in table.get("lines", {}).items():
        try:
            Decimal(str(line.get("rate", "0")))
            for amount in (line.get("fixed") or {}).values():
                Decimal(str(amount))
        except (InvalidOperation, AttributeError):
            raise ConfigurationError(
                f"stripe.fees.lines.{name}: rate and fixed amounts must be decimal strings"
            ) from None
    return table


def _line(
    code: str,
    spec: Mapping[str, Any],
    amount: Money,
    table: Mapping[str, Any],
    rounding: str = ROUNDING,
) -> FeeLine:
    rate = Decimal(str(spec.get("rate", "0")))
    fixed_spec = (spec.get("fixed") or {}).get(amount.currency)
    fixed = Money(Decimal(str(fixed_spec)), amount.currency) if fixed_spec is not None else None
    label = str(spec.get("label", code))
    if spec.get("fixed") and fixed is None:
        label += f" (no fixed fee known for {amount.currency})"
    # One rounding step for the whole line: rate x amount + fixed.
    exact = amount.amount * rate + (fixed.amount if fixed else Decimal(0))
    total = Money.rounded(exact, amount.currency, rounding)
    return FeeLine(
        code=code,
        label=label,
        rate=rate,
        fixed=fixed,
        amount=total,
        payer="merchant",
        source=f"{table.get('source', '')} (read {table.get('read_on', '?')})",
        table=str(table.get("table", "")),
    )


def calculate(context: FeeContext, table: Mapping[str, Any]) -> list[FeeLine]:
    """Stripe's fee lines for a payment of ``context.amount``."""
    if context.method_kind not in CARD_KINDS:
        return []
    lines: Mapping[str, Any] = table.get("lines", {})
    # The host's configured rounding mode (the core's ``rounding`` key), like
    # every other amount paygate produces.
    rounding = str(context.config.get("rounding") or ROUNDING)
    merchant_country = context.merchant_country or table.get("merchant_country")
    result: list[FeeLine] = []
    if "card" in lines:
        result.append(_line("stripe_card", lines["card"], context.amount, table, rounding))
    international = (
        context.card_country is not None
        and merchant_country is not None
        and context.card_country.upper() != str(merchant_country).upper()
    )
    if international and "international_card" in lines:
        result.append(
            _line(
                "stripe_international_card",
                lines["international_card"],
                context.amount,
                table,
                rounding,
            )
        )
    if context.currency_conversion and "currency_conversion" in lines:
        result.append(
            _line(
                "stripe_currency_conversion",
                lines["currency_conversion"],
                context.amount,
                table,
                rounding,
            )
        )
    if context.method_kind == "manual_card" and "manual_entry" in lines:
        result.append(
            _line("stripe_manual_entry", lines["manual_entry"], context.amount, table, rounding)
        )
    return result


__all__ = ["CARD_KINDS", "calculate", "load_table"]

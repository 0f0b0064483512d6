"""PayPal's fees, as data (``fees.json``: source and date), overridable by config.

PayPal Checkout in the US: 3.49 % + 0.49 USD; +1.5 % when the payer is
outside the merchant's country. The fixed part depends on the currency
received; the table ships USD only (the only figure read at the source), and
a host that takes other currencies adds its own under ``[paypal.fees.fixed]``.
A currency without a known fixed fee gets the percentage line only, and the
line's label says so, rather than an invented figure.
"""

from __future__ import annotations

import json
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from typing import Any

from paygate.errors import ConfigurationError
from paygate.money import Money
from paygate.pricing.models import FeeContext, FeeLine


@lru_cache(maxsize=1)
def _shipped() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        resources.files("paygate_paypal").joinpath("fees.json").read_text("utf-8")
    )
    return data


def table(override: dict[str, Any] | None = None) -> dict[str, Any]:
    """The effective table: shipped data, then the host's ``[paypal.fees]``.

    Override keys: ``rate``, ``international_rate`` (fractions as strings),
    ``fixed`` (``{currency: amount}``), ``source``, ``read_on``.
    """
    data = _shipped()
    fixed = dict(data["checkout"]["fixed"])
    out: dict[str, Any] = {
        "rate": data["checkout"]["rate"],
        "international_rate": data["international"]["rate"],
        "fixed": fixed,
        "merchant_country": data.get("merchant_country", "US"),
        "source": data["source"],
        "read_on": data["read_on"],
    }
    if override:
        for key in ("rate", "international_rate", "merchant_country", "source", "read_on"):
            if key in override:
                out[key] = str(override[key])
        if "fixed" in override:
            if not isinstance(override["fixed"], dict):
                raise ConfigurationError("[paypal.fees] fixed must be a table {currency = amount}")
            fixed.update({str(k).upper(): str(v) for k, v in override["fixed"].items()})
        if set(override) - {
            "rate",
            "international_rate",
            "merchant_country",
            "source",
            "read_on",
            "fixed",
        }:
            raise ConfigurationError(f"[paypal.fees] unknown keys: {sorted(override)!r}")
    try:
        Decimal(out["rate"]), Decimal(out["international_rate"])
        {c: Money(Decimal(v), c) for c, v in fixed.items()}
    except Exception:
        raise ConfigurationError(
            "[paypal.fees] rates and fixed fees must be decimal strings"
        ) from None
    return out


def fee_lines(context: FeeContext, override: dict[str, Any] | None = None) -> list[FeeLine]:
    """PayPal's fee lines for a payment (the engine rounds each line once)."""
    cfg_override = dict(override or {})
    section = context.config.get("paypal") if isinstance(context.config, dict) else None
    if isinstance(section, dict) and isinstance(section.get("fees"), dict):
        cfg_override.update(section["fees"])
    data = table(cfg_override or None)
    source = f"{data['source']}, read {data['read_on']}"
    currency = context.amount.currency
    fixed_value = data["fixed"].get(currency)
    fixed = Money(Decimal(fixed_value), currency) if fixed_value is not None else None
    label = "PayPal Checkout fee"
    if fixed is None:
        label += f" (percentage only: no fixed fee for {currency} in the table)"
    lines = [
        FeeLine(
            code="paypal_checkout",
            label=label,
            rate=Decimal(data["rate"]),
            fixed=fixed,
            source=source,
            table="paypal",
        )
    ]
    merchant = (context.merchant_country or data["merchant_country"] or "US").upper()
    payer = context.card_country.upper() if context.card_country else None
    if payer and payer != merchant:
        lines.append(
            FeeLine(
                code="paypal_international",
                label="PayPal international fee",
                rate=Decimal(data["international_rate"]),
                source=source,
                table="paypal",
            )
        )
    return lines

"""The pricing rules plugin: annual and nonprofit discounts, the ticket service fee."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

import paygate
from paygate.config import describe_value
from paygate.errors import ConfigurationError
from paygate.pricing.models import Adjustment, FeeContext, FeeLine, PricingContext

if TYPE_CHECKING:
    from paygate.config import Config

SOURCE = "paygate-pricing"

#: Priorities of the built-in discounts, in their configured order. A
#: third-party adjustment below 10 applies before them, above 20 after them.
FIRST_PRIORITY = 10
SECOND_PRIORITY = 20

Stacking = Literal["compound", "additive", "best"]
Payer = Literal["merchant", "buyer"]
_RULES = ("annual", "nonprofit")


def _load_defaults() -> dict[str, Any]:
    text = resources.files("paygate_pricing").joinpath("defaults.toml").read_text("utf-8")
    return tomllib.loads(text)


DEFAULTS: dict[str, Any] = _load_defaults()


def _rate(key: str, value: object) -> Decimal:
    if isinstance(value, bool):
        raise ConfigurationError(f"[pricing] {key} must be a fraction such as '0.20', not a bool")
    try:
        # TOML gives floats for bare 0.2: str() keeps the digits the host wrote.
        rate = Decimal(str(value)) if isinstance(value, float) else Decimal(value)  # type: ignore[arg-type]
    except (InvalidOperation, TypeError, ValueError):
        raise ConfigurationError(
            f"[pricing] {key} must be a fraction such as '0.20', not {describe_value(value)}"
        ) from None
    if not rate.is_finite() or not Decimal(0) <= rate <= Decimal(1):
        raise ConfigurationError(f"[pricing] {key} must be between 0 and 1 (0.20 = 20 %)")
    return rate


def _names(key: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ConfigurationError(f"[pricing] {key} must be a list of item kinds or skus")
    if not all(isinstance(v, str) and v for v in value):
        raise ConfigurationError(f"[pricing] {key} must hold non-empty strings")
    return tuple(value)


def _choice(key: str, value: object, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ConfigurationError(
            f"[pricing] {key} must be one of {list(allowed)}, not {describe_value(value)}"
        )
    return str(value)


def _percent(rate: Decimal) -> str:
    return f"{(rate * 100).normalize():f}"


@dataclass(frozen=True)
class PricingSettings:
    """The rules in force: the shipped defaults with the host's ``[pricing]`` on top."""

    annual_discount: Decimal
    annual_applies_to: tuple[str, ...]
    nonprofit_discount: Decimal
    nonprofit_applies_to: tuple[str, ...]
    stacking: Stacking
    order: tuple[str, str]
    service_fee: Decimal
    service_fee_kinds: tuple[str, ...]
    service_fee_payer: Payer
    source: str
    read_on: str
    overridden: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> PricingSettings:
        """Parse ``[pricing]``; raises :class:`ConfigurationError` on a bad or unknown key."""
        section = dict(section or {})
        unknown = sorted(set(section) - set(DEFAULTS))
        if unknown:
            raise ConfigurationError(
                f"[pricing] has unknown keys {unknown}; known keys: {sorted(DEFAULTS)}"
            )
        raw = {**DEFAULTS, **section}
        order = _names("order", raw["order"])
        if sorted(order) != sorted(_RULES):
            raise ConfigurationError("[pricing] order must name 'annual' and 'nonprofit' once each")
        return cls(
            annual_discount=_rate("annual_discount", raw["annual_discount"]),
            annual_applies_to=_names("annual_applies_to", raw["annual_applies_to"]),
            nonprofit_discount=_rate("nonprofit_discount", raw["nonprofit_discount"]),
            nonprofit_applies_to=_names("nonprofit_applies_to", raw["nonprofit_applies_to"]),
            stacking=_choice("stacking", raw["stacking"], ("compound", "additive", "best")),  # type: ignore[arg-type]
            order=(order[0], order[1]),
            service_fee=_rate("service_fee", raw["service_fee"]),
            service_fee_kinds=_names("service_fee_kinds", raw["service_fee_kinds"]),
            service_fee_payer=_choice(  # type: ignore[arg-type]
                "service_fee_payer", raw["service_fee_payer"], ("merchant", "buyer")
            ),
            source=str(raw["source"]),
            read_on=str(raw["read_on"]),
            overridden=frozenset(section),
        )

    def table(self, key: str) -> str:
        """Where a rate comes from: the host's config or the shipped defaults."""
        if key in self.overridden:
            return "host config [pricing]"
        return f"{self.source}, read {self.read_on}"


def _section(config: Mapping[str, Any]) -> Mapping[str, Any] | None:
    value = config.get("pricing")
    if value is not None and not isinstance(value, Mapping):
        raise ConfigurationError("config table [pricing] must be a table")
    return value


class PricingRules:
    """paygate plugin ``pricing``: the seed's plan pricing rules.

    Settings come from ``[pricing]`` in the host config (see
    ``defaults.toml`` for every key and its default). The context's config
    wins over the one received by ``paygate_configure`` so that a pure call
    to the hooks with a context sees exactly the config it carries.
    """

    def __init__(self) -> None:
        self.settings = PricingSettings.from_config(None)
        self._section: Mapping[str, Any] | None = None
        self._adjustments: dict[tuple[bool, bool], list[Adjustment]] = {}

    @paygate.hookimpl
    def paygate_configure(self, config: Config) -> None:
        self._section = config.section("pricing")
        self.settings = PricingSettings.from_config(self._section)
        self._adjustments = {}

    def _settings_for(self, config: Mapping[str, Any]) -> PricingSettings:
        section = _section(config)
        # The facade hands back the configured table on every quote: parse it once.
        if section is None or section == self._section:
            return self.settings
        return PricingSettings.from_config(section)

    @paygate.hookimpl
    def paygate_price_adjustments(self, context: PricingContext) -> list[Adjustment]:
        config = context.config
        # An empty config (what a pure call usually carries) has no [pricing].
        s = self._settings_for(config) if config else self.settings
        customer = context.customer
        key = (context.cycle == "annual", customer is not None and customer.nonprofit)
        if s is self.settings:
            # Adjustments are immutable values: the same settings give the same ones
            # (the cache is only for the configured settings, reset with them).
            found = self._adjustments.get(key)
            if found is None:
                found = self._adjustments[key] = self._build_adjustments(s, context)
            return list(found)
        return self._build_adjustments(s, context)

    def _build_adjustments(self, s: PricingSettings, context: PricingContext) -> list[Adjustment]:
        rates: dict[str, Decimal] = {}
        if context.cycle == "annual" and s.annual_discount > 0:
            rates["annual"] = s.annual_discount
        if context.customer is not None and context.customer.nonprofit and s.nonprofit_discount > 0:
            rates["nonprofit"] = s.nonprofit_discount
        if s.stacking == "best" and len(rates) > 1:
            # The larger one wins; on a tie, the first in `order`.
            best = max(s.order, key=lambda name: (rates[name], -s.order.index(name)))
            rates = {best: rates[best]}
        adjustments = []
        for position, name in enumerate(s.order):
            if name not in rates:
                continue
            rate = rates[name]
            if name == "annual":
                code, label = "annual_discount", f"Annual billing discount ({_percent(rate)} %)"
                applies_to = s.annual_applies_to
            else:
                code, label = "nonprofit_discount", f"Nonprofit discount ({_percent(rate)} %)"
                applies_to = s.nonprofit_applies_to
            if s.stacking == "additive":
                label += ", on the list price"
            adjustments.append(
                Adjustment(
                    code=code,
                    label=label,
                    type="percent",
                    value=rate,
                    applies_to=applies_to,
                    priority=FIRST_PRIORITY if position == 0 else SECOND_PRIORITY,
                    compounds=s.stacking != "additive",
                    source=SOURCE,
                )
            )
        return adjustments

    @paygate.hookimpl
    def paygate_calculate_fees(self, context: FeeContext) -> list[FeeLine]:
        s = self._settings_for(context.config)
        if context.kind not in s.service_fee_kinds or s.service_fee == 0:
            return []
        pct = _percent(s.service_fee)
        return [
            FeeLine(
                code="platform_service_fee",
                label=f"Platform service fee ({pct} % of the gross {context.kind} price)",
                rate=s.service_fee,
                payer=s.service_fee_payer,
                source=SOURCE,
                table=s.table("service_fee"),
            )
        ]

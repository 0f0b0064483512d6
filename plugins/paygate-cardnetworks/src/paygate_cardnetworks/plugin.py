"""The ``cardnetworks`` plugin: card rules through paygate's hooks.

Configuration (table ``cardnetworks`` of the host's config, every key optional)::

    {"cardnetworks": {
        "accepted": ["visa", "mastercard", "discover", "amex"],  # the seed's four
        "require_cvc": False,
        "card_limited_countries": [],   # ISO 3166-1 alpha-2, e.g. ["XX"]
        "fallback_provider": "paypal",
    }}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from paygate import hookimpl
from paygate.errors import ConfigurationError, InvalidRequest, UnsupportedFeature
from paygate_cardnetworks.networks import brands
from paygate_cardnetworks.validation import check_card

if TYPE_CHECKING:
    from paygate.models import Card, PayPalWallet, ProviderInfo, StoredPaymentMethod
    from paygate.operations import RoutingRequest, ValidationContext

#: The networks the seed's FAQ names: Visa, Mastercard, Discover, American Express.
DEFAULT_ACCEPTED: tuple[str, ...] = ("visa", "mastercard", "discover", "amex")
SECTION = "cardnetworks"


class _Config(Protocol):
    def section(self, name: str) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class Settings:
    accepted: tuple[str, ...] = DEFAULT_ACCEPTED
    require_cvc: bool = False
    card_limited_countries: frozenset[str] = frozenset()
    fallback_provider: str = "paypal"

    @classmethod
    def from_mapping(cls, section: Mapping[str, Any]) -> Settings:
        unknown_keys = set(section) - {
            "accepted",
            "require_cvc",
            "card_limited_countries",
            "fallback_provider",
        }
        if unknown_keys:
            raise ConfigurationError(
                f"cardnetworks: unknown setting(s) {', '.join(sorted(unknown_keys))}"
            )
        listed = _string_list(section.get("accepted", DEFAULT_ACCEPTED), "accepted")
        # Named by position, never echoed: a config value may be a misplaced secret.
        unknown_at = [str(i) for i, name in enumerate(listed) if name.lower() not in brands()]
        if unknown_at:
            raise ConfigurationError(
                f"cardnetworks.accepted[{', '.join(unknown_at)}]: unknown network(s); "
                f"known: {', '.join(brands())}"
            )
        accepted = tuple(dict.fromkeys(name.lower() for name in listed))
        countries = _string_list(
            section.get("card_limited_countries", ()), "card_limited_countries"
        )
        bad = [c for c in countries if not (len(c) == 2 and c.isascii() and c.isalpha())]
        if bad:
            raise ConfigurationError(
                "cardnetworks.card_limited_countries: use ISO 3166-1 alpha-2 codes "
                f"({len(bad)} entries are not)"
            )
        require_cvc = section.get("require_cvc", False)
        if not isinstance(require_cvc, bool):
            raise ConfigurationError("cardnetworks.require_cvc must be true or false")
        fallback = section.get("fallback_provider", "paypal")
        if not isinstance(fallback, str) or not fallback:
            raise ConfigurationError("cardnetworks.fallback_provider must be a provider name")
        return cls(
            accepted=accepted,
            require_cvc=require_cvc,
            card_limited_countries=frozenset(c.upper() for c in countries),
            fallback_provider=fallback,
        )


def _string_list(value: Any, key: str) -> Sequence[str]:
    if isinstance(value, str) or not isinstance(value, Sequence | frozenset | set):
        raise ConfigurationError(f"cardnetworks.{key} must be a list of strings")
    items = list(value)
    if not all(isinstance(item, str) for item in items):
        raise ConfigurationError(f"cardnetworks.{key} must be a list of strings")
    return items


class CardNetworks:
    """Brand detection, card validation, accepted networks and the PayPal routing hint."""

    #: The registration name when passed as ``Payments(plugins=[CardNetworks])``.
    name = SECTION

    def __init__(self) -> None:
        self.settings = Settings()

    @hookimpl
    def paygate_configure(self, config: _Config) -> None:
        self.settings = Settings.from_mapping(config.section(SECTION))

    @hookimpl
    def paygate_validate_payment_method(
        self, method: Card | PayPalWallet | StoredPaymentMethod, context: ValidationContext
    ) -> list[InvalidRequest] | None:
        if method.kind != "card":
            return None
        card = method
        cvc = card.cvc.get_secret_value() if card.cvc is not None else None
        result = check_card(
            number=card.number.get_secret_value(),
            exp_month=card.exp_month,
            exp_year=card.exp_year,
            cvc=cvc,
            now=context.now,
            accepted=self.settings.accepted,
            require_cvc=self.settings.require_cvc,
        )
        if result.brand is not None:
            context.facts["brand"] = result.brand
        return result.errors

    def cards_limited_in(self, country: str | None) -> bool:
        """Whether card payments from ``country`` go to the fallback provider.

        A checkout page can ask this to offer PayPal instead of the card form:
        ``payments.plugin("cardnetworks").cards_limited_in("XX")``.
        """
        return (country or "").upper() in self.settings.card_limited_countries

    # A country rule outranks routing preferences (currency, cost), so it runs first.
    @hookimpl(tryfirst=True)
    def paygate_select_provider(
        self, request: RoutingRequest, candidates: list[ProviderInfo]
    ) -> str | None:
        if request.customer is None or request.method_kind not in ("card", "paypal"):
            return None
        country = (request.customer.country or "").upper()
        if not self.cards_limited_in(country):
            return None
        fallback = self.settings.fallback_provider
        if request.method_kind == "paypal":
            # The payer already switched to a wallet: send it to the fallback
            # gateway when it takes wallets, whatever the default provider is.
            return fallback if any(info.name == fallback for info in candidates) else None
        # Candidates already take cards and this currency: the fallback is
        # among them only if it can process this card itself.
        if any(info.name == fallback for info in candidates):
            return fallback
        # Usually the fallback (PayPal) takes wallets, not cards: the payer must
        # switch to it, so say so in words a checkout page can show.
        shown = "PayPal" if fallback == "paypal" else fallback
        raise UnsupportedFeature(
            f"Card payments are not available for customers in {country}. "
            f"Pay with {shown} instead.",
            param="method",
        )


__all__ = ["DEFAULT_ACCEPTED", "CardNetworks", "Settings"]

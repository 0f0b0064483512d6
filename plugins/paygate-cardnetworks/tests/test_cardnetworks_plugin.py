"""The plugin's hooks, called directly: configuration, validation facts, routing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from paygate_cardnetworks.plugin import DEFAULT_ACCEPTED, CardNetworks

from paygate.config import Config
from paygate.errors import ConfigurationError, ErrorCode, UnsupportedFeature
from paygate.models import Card, Customer, PayPalWallet, ProviderInfo, StoredPaymentMethod
from paygate.money import Money
from paygate.operations import Operation, RoutingRequest, ValidationContext


def plugin(section: dict[str, Any] | None = None) -> CardNetworks:
    instance = CardNetworks()
    instance.paygate_configure(Config({"cardnetworks": section} if section is not None else {}))
    return instance


def context() -> ValidationContext:
    return ValidationContext(
        operation=Operation.AUTHORIZE,
        amount=Money("10.00", "USD"),
        now=datetime(2026, 11, 27, tzinfo=UTC),
    )


def provider(name: str, methods: frozenset[str] = frozenset({"card"})) -> ProviderInfo:
    return ProviderInfo(name=name, payment_methods=methods)


def routing(country: str | None, kind: str = "card") -> RoutingRequest:
    customer = Customer(id="cus_1", country=country) if country else None
    return RoutingRequest(
        operation=Operation.AUTHORIZE,
        amount=Money("10.00", "USD"),
        method_kind=kind,
        customer=customer,
    )


# -- configuration -------------------------------------------------------------


def test_defaults_are_the_seed_four_and_no_limited_country() -> None:
    settings = plugin().settings
    assert settings.accepted == DEFAULT_ACCEPTED == ("visa", "mastercard", "discover", "amex")
    assert settings.card_limited_countries == frozenset()
    assert settings.fallback_provider == "paypal"
    assert settings.require_cvc is False


def test_configuration_is_read_and_normalised() -> None:
    settings = plugin(
        {
            "accepted": ["Visa", "jcb", "visa"],
            "card_limited_countries": ["ng", "XX"],
            "fallback_provider": "wallet",
            "require_cvc": True,
        }
    ).settings
    assert settings.accepted == ("visa", "jcb")
    assert settings.card_limited_countries == frozenset({"NG", "XX"})
    assert settings.fallback_provider == "wallet"
    assert settings.require_cvc is True


@pytest.mark.parametrize(
    ("section", "fragment"),
    [
        ({"accepted": ["visa", "elo"]}, "accepted[1]: unknown network"),
        ({"accepted": "visa"}, "list of strings"),
        ({"accepted": [1]}, "list of strings"),
        ({"card_limited_countries": ["Nigeria"]}, "alpha-2"),
        ({"require_cvc": "yes"}, "true or false"),
        ({"fallback_provider": ""}, "provider name"),
        ({"acepted": ["visa"]}, "unknown setting(s) acepted"),
    ],
)
def test_bad_configuration_is_a_configuration_error(section: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        plugin(section)
    assert fragment in info.value.message
    assert info.value.code is ErrorCode.CONFIG_ERROR


# -- validation hook -----------------------------------------------------------


def test_valid_card_records_its_brand_and_has_no_problem() -> None:
    ctx = context()
    problems = plugin().paygate_validate_payment_method(
        Card("378282246310005", 12, 2030, "1234"), ctx
    )
    assert problems == []
    assert ctx.facts["brand"] == "amex"


def test_refused_brand_is_still_recorded() -> None:
    ctx = context()
    problems = plugin().paygate_validate_payment_method(
        Card("3530 0000 0000 0003", 12, 2030, "123"), ctx
    )
    assert problems is not None
    assert [p.code for p in problems] == [ErrorCode.UNSUPPORTED_BRAND]
    assert ctx.facts["brand"] == "jcb"


def test_configured_accepted_list_and_required_cvc_apply() -> None:
    ctx = context()
    cards = plugin({"accepted": ["visa", "mastercard", "discover", "amex", "jcb"]})
    assert cards.paygate_validate_payment_method(Card("3530000000000003", 1, 2031), ctx) == []
    strict = plugin({"require_cvc": True})
    problems = strict.paygate_validate_payment_method(Card("4242424242424242", 1, 2031), ctx)
    assert problems is not None
    assert [(p.code, p.param) for p in problems] == [(ErrorCode.INVALID_CVC, "cvc")]


def test_expiry_uses_the_context_clock() -> None:
    ctx = context()  # 27 November 2026
    problems = plugin().paygate_validate_payment_method(
        Card("4242424242424242", 10, 2026, "123"), ctx
    )
    assert problems is not None
    assert [p.code for p in problems] == [ErrorCode.EXPIRED_CARD]


def test_other_methods_are_not_ours() -> None:
    ctx = context()
    cards = plugin()
    assert cards.paygate_validate_payment_method(PayPalWallet(), ctx) is None
    stored = StoredPaymentMethod(provider="sandbox", token="pm_1", brand="jcb")
    assert cards.paygate_validate_payment_method(stored, ctx) is None
    assert ctx.facts == {}


# -- routing hook --------------------------------------------------------------


LIMITED = {"card_limited_countries": ["XX"]}


def test_card_payment_from_a_limited_country_goes_to_paypal() -> None:
    candidates = [provider("stripe"), provider("paypal", frozenset({"card", "paypal"}))]
    assert plugin(LIMITED).paygate_select_provider(routing("XX"), candidates) == "paypal"
    # Country codes are compared case-blind.
    assert plugin(LIMITED).paygate_select_provider(routing("xx"), candidates) == "paypal"


def test_other_countries_and_other_methods_are_left_to_routing() -> None:
    candidates = [provider("stripe"), provider("paypal")]
    cards = plugin(LIMITED)
    assert cards.paygate_select_provider(routing("FR"), candidates) is None
    assert cards.paygate_select_provider(routing(None), candidates) is None
    assert cards.paygate_select_provider(routing("XX", kind="stored"), candidates) is None


def test_wallet_payment_from_a_limited_country_goes_to_the_fallback() -> None:
    # The sandbox takes wallets too and may be the default: the country rule wins.
    wallets = [provider("sandbox", frozenset({"card", "paypal"})), provider("paypal")]
    cards = plugin(LIMITED)
    assert cards.paygate_select_provider(routing("XX", kind="paypal"), wallets) == "paypal"
    assert cards.paygate_select_provider(routing("FR", kind="paypal"), wallets) is None
    # No fallback among the candidates: left to the default routing, no error.
    only_sandbox = [provider("sandbox", frozenset({"card", "paypal"}))]
    assert cards.paygate_select_provider(routing("XX", kind="paypal"), only_sandbox) is None


def test_default_has_no_limited_country() -> None:
    candidates = [provider("stripe"), provider("paypal")]
    assert plugin().paygate_select_provider(routing("XX"), candidates) is None


@pytest.mark.parametrize(
    "candidates",
    [
        [provider("stripe")],
        # PayPal installed, but taking wallets only: it is not a card candidate.
        [provider("stripe"), provider("sandbox")],
    ],
)
def test_limited_country_without_a_card_taking_paypal_asks_for_paypal(
    candidates: list[ProviderInfo],
) -> None:
    with pytest.raises(UnsupportedFeature) as info:
        plugin(LIMITED).paygate_select_provider(routing("XX"), candidates)
    assert info.value.code is ErrorCode.UNSUPPORTED_FEATURE
    assert info.value.param == "method"
    assert info.value.message == (
        "Card payments are not available for customers in XX. Pay with PayPal instead."
    )


def test_cards_limited_in_lets_a_checkout_page_offer_paypal_first() -> None:
    cards = plugin(LIMITED)
    assert cards.cards_limited_in("XX")
    assert cards.cards_limited_in("xx")
    assert not cards.cards_limited_in("FR")
    assert not cards.cards_limited_in(None)


def test_fallback_provider_is_configurable() -> None:
    cards = plugin({**LIMITED, "fallback_provider": "wallet"})
    candidates = [provider("stripe"), provider("paypal"), provider("wallet")]
    assert cards.paygate_select_provider(routing("XX"), candidates) == "wallet"

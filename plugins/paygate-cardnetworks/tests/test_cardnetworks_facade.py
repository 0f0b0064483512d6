"""Through ``paygate.Payments``: bad cards never reach a provider."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from importlib.metadata import entry_points
from typing import Any

import pytest
from paygate_cardnetworks import complete_pan
from paygate_cardnetworks.plugin import CardNetworks

import paygate
from paygate.errors import CardDeclined, ErrorCode, InvalidRequest, UnsupportedFeature
from paygate.models import Card, Customer, PayPalWallet, ProviderInfo, TransactionStatus
from paygate.operations import PaymentRequest, ProviderResult

USD_10 = paygate.Money("10.00", "USD")
#: Synthetic (zeros and a Luhn digit), never a real card.
JCB = complete_pan("3530", 16)
#: An expiry year that stays in the future whenever the suite runs.
YEAR = datetime.now(UTC).year + 4


class RecordingProvider:
    """A provider that approves everything and remembers each call."""

    def __init__(
        self,
        name: str,
        methods: frozenset[str] = frozenset({"card"}),
        brands: frozenset[str] | None = None,
    ) -> None:
        self.name = name
        self.methods = methods
        self.brands = brands
        self.calls: list[str] = []

    @paygate.hookimpl
    def paygate_provider_info(self) -> ProviderInfo:
        return ProviderInfo(
            name=self.name,
            payment_methods=self.methods,
            card_brands=self.brands,
        )

    @paygate.hookimpl
    def paygate_authorize(self, request: PaymentRequest) -> ProviderResult:
        self.calls.append(request.transaction_id)
        status = TransactionStatus.CAPTURED if request.capture else TransactionStatus.AUTHORIZED
        return ProviderResult(status=status, provider_reference=f"rec_{len(self.calls)}")


MakePayments = Callable[..., paygate.Payments]


@pytest.fixture
def make_payments() -> Iterator[MakePayments]:
    made: list[paygate.Payments] = []

    def make(
        cardnetworks: dict[str, Any] | None = None, extra: tuple[object, ...] = ()
    ) -> paygate.Payments:
        config: dict[str, Any] = {"database_url": "memory"}
        if cardnetworks is not None:
            config["cardnetworks"] = cardnetworks
        # Only the plugins under test: other installed providers must not
        # change routing here.
        payments = paygate.Payments(config, plugins=[CardNetworks, *extra], load_entrypoints=False)
        made.append(payments)
        return payments

    yield make
    for payments in made:
        payments.close()


def sandbox_calls(payments: paygate.Payments) -> int:
    count: int = payments.plugin("sandbox").call_count
    return count


BAD_CARDS = [
    pytest.param(Card("4242424242424241", 12, YEAR, "123"), ErrorCode.INCORRECT_NUMBER, id="luhn"),
    pytest.param(Card("4242 4242 4242", 12, YEAR, "123"), ErrorCode.INVALID_NUMBER, id="length"),
    pytest.param(
        Card("4242424242424242", 13, YEAR, "123"), ErrorCode.INVALID_EXPIRY_DATE, id="m13"
    ),
    pytest.param(Card("4242424242424242", 1, 2020, "123"), ErrorCode.EXPIRED_CARD, id="expired"),
    pytest.param(Card("378282246310005", 12, YEAR, "123"), ErrorCode.INVALID_CVC, id="amex-cvc"),
    pytest.param(Card(JCB, 12, YEAR, "123"), ErrorCode.UNSUPPORTED_BRAND, id="jcb"),
]


@pytest.mark.parametrize(("card", "code"), BAD_CARDS)
@pytest.mark.parametrize("operation", ["authorize", "purchase", "verify", "store"])
def test_bad_card_is_refused_before_any_provider_call(
    make_payments: MakePayments, card: Card, code: ErrorCode, operation: str
) -> None:
    payments = make_payments()
    calls: dict[str, Callable[[], object]] = {
        "authorize": lambda: payments.authorize(USD_10, card),
        "purchase": lambda: payments.purchase(USD_10, card),
        "verify": lambda: payments.verify(card),
        "store": lambda: payments.store_payment_method(card),
    }
    with pytest.raises(InvalidRequest) as info:
        calls[operation]()
    assert info.value.code is code
    assert not isinstance(info.value, CardDeclined)
    assert sandbox_calls(payments) == 0


def test_good_card_goes_through_and_gets_its_brand(make_payments: MakePayments) -> None:
    payments = make_payments()
    tx = payments.purchase(USD_10, Card("5555 5555 5555 4444", 12, YEAR, "123"))
    assert tx.status is TransactionStatus.CAPTURED
    assert tx.payment_method is not None
    assert "Mastercard" in tx.payment_method
    assert "5555555555554444" not in tx.model_dump_json()
    assert sandbox_calls(payments) == 1


def test_host_can_accept_jcb(make_payments: MakePayments) -> None:
    payments = make_payments({"accepted": ["visa", "jcb"]})
    tx = payments.authorize(USD_10, Card(JCB, 12, YEAR, "123"))
    assert tx.status is TransactionStatus.AUTHORIZED
    with pytest.raises(InvalidRequest) as info:
        payments.authorize(USD_10, Card("5555555555554444", 12, YEAR, "123"))
    assert info.value.code is ErrorCode.UNSUPPORTED_BRAND
    assert info.value.message == "Mastercard cards are not accepted. Use a Visa or JCB card."


def test_bad_configuration_fails_when_payments_is_built(make_payments: MakePayments) -> None:
    with pytest.raises(paygate.errors.ConfigurationError, match=r"accepted\[0\]"):
        make_payments({"accepted": ["elo"]})


# -- a provider narrows the accepted set (enforced by the core) ------------------


def test_provider_without_amex_refuses_amex_before_calling(make_payments: MakePayments) -> None:
    noamex = RecordingProvider("noamex", brands=frozenset({"visa", "mastercard", "discover"}))
    payments = make_payments(extra=(noamex,))
    amex = Card("378282246310005", 12, YEAR, "1234")
    with pytest.raises(InvalidRequest) as info:
        payments.authorize(USD_10, amex, provider="noamex")
    assert info.value.code is ErrorCode.UNSUPPORTED_BRAND
    assert noamex.calls == []
    # The same card is fine where Amex is taken.
    assert payments.authorize(USD_10, amex, provider="sandbox").status is (
        TransactionStatus.AUTHORIZED
    )
    tx = payments.authorize(USD_10, Card("4242424242424242", 12, YEAR, "123"), provider="noamex")
    assert tx.provider == "noamex"
    assert len(noamex.calls) == 1


def test_host_list_is_the_upper_bound_even_if_a_provider_takes_more(
    make_payments: MakePayments,
) -> None:
    anybrand = RecordingProvider("anybrand", brands=frozenset({"visa", "jcb"}))
    payments = make_payments(extra=(anybrand,))
    with pytest.raises(InvalidRequest) as info:
        payments.authorize(USD_10, Card(JCB, 12, YEAR, "123"), provider="anybrand")
    assert info.value.code is ErrorCode.UNSUPPORTED_BRAND
    assert anybrand.calls == []


# -- routing hint ------------------------------------------------------------------


LIMITED = {"card_limited_countries": ["XX"]}
IN_XX = Customer(id="cus_xx", country="XX")
IN_FR = Customer(id="cus_fr", country="FR")
VISA = Card("4242424242424242", 12, YEAR, "123")


def test_card_payment_from_limited_country_goes_to_a_card_taking_paypal(
    make_payments: MakePayments,
) -> None:
    paypal = RecordingProvider("paypal", methods=frozenset({"card", "paypal"}))
    payments = make_payments(LIMITED, extra=(paypal,))
    assert payments.authorize(USD_10, VISA, customer=IN_XX).provider == "paypal"
    assert payments.authorize(USD_10, VISA, customer=IN_FR).provider == "sandbox"
    assert len(paypal.calls) == 1
    assert sandbox_calls(payments) == 1


def test_card_payment_from_limited_country_without_card_paypal_is_refused(
    make_payments: MakePayments,
) -> None:
    # PayPal installed for wallets only, as paygate-paypal is.
    paypal = RecordingProvider("paypal", methods=frozenset({"paypal"}))
    payments = make_payments(LIMITED, extra=(paypal,))
    with pytest.raises(UnsupportedFeature) as info:
        payments.authorize(USD_10, VISA, customer=IN_XX)
    assert "Pay with PayPal instead" in info.value.message
    assert sandbox_calls(payments) == 0
    assert paypal.calls == []


def test_wallet_payment_from_limited_country_is_untouched(make_payments: MakePayments) -> None:
    payments = make_payments(LIMITED)
    tx = payments.authorize(USD_10, PayPalWallet(), customer=IN_XX)
    assert tx.provider == "sandbox"


def test_host_named_provider_wins_over_the_hint(make_payments: MakePayments) -> None:
    payments = make_payments(LIMITED)
    tx = payments.authorize(USD_10, VISA, customer=IN_XX, provider="sandbox")
    assert tx.provider == "sandbox"


# -- the installed distribution ------------------------------------------------------


def test_entry_point_names_the_plugin_class() -> None:
    (ep,) = entry_points(group="paygate", name="cardnetworks")
    assert ep.value == "paygate_cardnetworks.plugin:CardNetworks"
    assert ep.load() is CardNetworks


def test_installed_plugin_is_loaded_by_default() -> None:
    with paygate.Payments({"database_url": "memory"}) as payments:
        assert isinstance(payments.plugin("cardnetworks"), CardNetworks)
        bad = Card(complete_pan("3530", 16), 12, YEAR, "123")
        with pytest.raises(InvalidRequest) as info:
            payments.authorize(USD_10, bad)
        assert info.value.code is ErrorCode.UNSUPPORTED_BRAND
        assert sandbox_calls(payments) == 0

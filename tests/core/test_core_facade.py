"""The facade on the sandbox, through the hooks: every method, every rule."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from core_helpers import YEAR, card, usd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import paygate
from paygate import Customer, Money, PayPalWallet, TransactionStatus
from paygate.builtins.sandbox import SandboxProvider
from paygate.errors import (
    CardDeclined,
    ErrorCode,
    IdempotencyConflict,
    InvalidRequest,
    InvalidState,
    NotFound,
    PaygateError,
    PermissionDenied,
    ProviderUnavailable,
    SignatureVerificationError,
    UnsupportedFeature,
)

S = TransactionStatus


def test_authorize_capture_refund_story(core: paygate.Payments, recorder: object) -> None:
    tx = core.authorize(usd("100.00"), card(), description="Pro plan")
    assert tx.status is S.AUTHORIZED
    assert tx.provider == "sandbox" and tx.provider_reference
    assert tx.captured == usd("0.00")
    tx = core.capture(tx.id, usd("60.00"), final=False)
    assert (tx.status, tx.captured) == (S.PARTIALLY_CAPTURED, usd("60.00"))
    tx = core.capture(tx.id, usd("40.00"))
    assert (tx.status, tx.captured) == (S.CAPTURED, usd("100.00"))
    tx = core.refund(tx.id, usd("30.00"))
    assert (tx.status, tx.refunded) == (S.PARTIALLY_REFUNDED, usd("30.00"))
    tx = core.refund(tx.id, usd("20.00"))
    tx = core.refund(tx.id)  # the rest
    assert (tx.status, tx.refunded) == (S.REFUNDED, usd("100.00"))
    assert [r.amount for r in tx.refunds] == [usd("30.00"), usd("20.00"), usd("50.00")]
    assert core.transaction(tx.id) == tx
    # the host's wrapper plugin saw every operation, routed through the hooks
    assert [h for h, _ in recorder.seen] == [  # type: ignore[attr-defined]
        "authorize",
        "capture",
        "capture",
        "refund",
        "refund",
        "refund",
    ]


def test_purchase_and_final_partial_capture(core: paygate.Payments) -> None:
    tx = core.purchase(usd("25.00"), card())
    assert (tx.status, tx.captured) == (S.CAPTURED, usd("25.00"))
    tx = core.authorize(usd("50.00"), card())
    tx = core.capture(tx.id, usd("20.00"))  # final by default: the rest is released
    assert tx.status is S.PARTIALLY_CAPTURED
    with pytest.raises(InvalidState):
        core.capture(tx.id, usd("1.00"))


def test_void_and_capture_after_void(core: paygate.Payments, sandbox: SandboxProvider) -> None:
    tx = core.authorize(usd("10.00"), card())
    tx = core.void(tx.id)
    assert tx.status is S.VOIDED
    calls = sandbox.call_count
    with pytest.raises(InvalidState):
        core.capture(tx.id)
    with pytest.raises(InvalidState):
        core.void(tx.id)
    assert sandbox.call_count == calls  # refused before the provider


def test_no_capture_above_authorized_nor_refund_above_captured(
    core: paygate.Payments, sandbox: SandboxProvider
) -> None:
    tx = core.authorize(usd("10.00"), card())
    calls = sandbox.call_count
    with pytest.raises(InvalidRequest) as info:
        core.capture(tx.id, usd("10.01"))
    assert info.value.code is ErrorCode.INVALID_AMOUNT
    tx = core.capture(tx.id, usd("8.00"))
    with pytest.raises(InvalidRequest) as info:
        core.refund(tx.id, usd("8.01"))
    assert info.value.code is ErrorCode.INVALID_AMOUNT
    core.refund(tx.id, usd("5.00"))
    with pytest.raises(InvalidRequest, match=r"3\.00"):
        core.refund(tx.id, usd("4.00"))
    assert sandbox.call_count == calls + 2  # only the capture and the valid refund
    with pytest.raises(InvalidRequest) as info:
        core.refund(tx.id, Money("1.00", "EUR"))
    assert info.value.code is ErrorCode.INVALID_CURRENCY


def test_refund_before_capture_is_refused(core: paygate.Payments) -> None:
    tx = core.authorize(usd("10.00"), card())
    with pytest.raises(InvalidState):
        core.refund(tx.id)


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("4000000000000002", ErrorCode.CARD_DECLINED),
        ("4000000000009995", ErrorCode.INSUFFICIENT_FUNDS),
        ("4000000000000069", ErrorCode.EXPIRED_CARD),
        ("4000000000000127", ErrorCode.INCORRECT_CVC),
        ("4000000000000119", ErrorCode.PROCESSING_ERROR),
        ("4000000000000341", ErrorCode.CARD_DECLINED),
        ("4242424242424241", ErrorCode.INCORRECT_NUMBER),
    ],
)
def test_test_card_declines(core: paygate.Payments, number: str, code: ErrorCode) -> None:
    with pytest.raises(CardDeclined) as info:
        core.purchase(usd("5.00"), card(number))
    assert info.value.code is code
    tx = info.value.transaction
    assert tx is not None and tx.status is S.FAILED
    assert tx.error is not None and tx.error.code == code.value
    assert core.transaction(tx.id).status is S.FAILED  # recorded in the ledger
    assert number not in str(info.value) and number not in repr(tx)


@pytest.mark.parametrize(
    "number",
    [
        "4242424242424242",
        "5555555555554444",
        "2223003122003222",
        "378282246310005",
        "6011111111111117",
    ],
)
def test_success_cards(core: paygate.Payments, number: str) -> None:
    cvc = "1234" if number.startswith("37") else "123"
    assert core.purchase(usd("1.00"), card(number, cvc)).status is S.CAPTURED


def test_three_d_secure_then_confirm(core: paygate.Payments) -> None:
    tx = core.authorize(usd("30.00"), card("4000002500003155"), return_url="https://h.example/back")
    assert tx.status is S.REQUIRES_ACTION
    assert tx.next_action is not None and tx.next_action.redirect_url.startswith("https://")
    tx = core.confirm(tx.id)
    assert tx.status is S.AUTHORIZED and tx.next_action is None
    with pytest.raises(InvalidState):
        core.confirm(tx.id)
    purchase = core.purchase(usd("30.00"), card("4000002760003184"))
    assert core.confirm(purchase.id).status is S.CAPTURED


def test_three_d_secure_failed_authentication(core: paygate.Payments) -> None:
    tx = core.purchase(usd("30.00"), card("4000002500003155"))
    with pytest.raises(CardDeclined) as info:
        core.confirm(tx.id, params={"outcome": "fail"})
    assert info.value.code is ErrorCode.AUTHENTICATION_REQUIRED
    assert core.transaction(tx.id).status is S.FAILED


def test_verify_is_the_one_dollar_check(core: paygate.Payments, recorder: object) -> None:
    tx = core.verify(card(), currency="EUR")
    assert tx.status is S.VOIDED
    assert tx.amount == Money("1.00", "EUR")
    assert tx.metadata == {"paygate_verify": "1"}
    assert [h for h, _ in recorder.seen] == ["authorize", "void"]  # type: ignore[attr-defined]
    with pytest.raises(CardDeclined):
        core.verify(card("4000000000000002"))


def test_stored_method_and_recurring(core: paygate.Payments) -> None:
    owner = Customer(id="acct_1", email="o@example.com", country="US")
    stored = core.store_payment_method(card(), customer=owner)
    assert stored.provider == "sandbox" and stored.token.startswith("pm_")
    assert stored.last4 == "4242"
    tx = core.charge_recurring(usd("25.00"), stored, customer=owner)
    assert tx.status is S.CAPTURED
    # 3155 authenticates once at set-up; later off-session charges go through
    setup_once = core.store_payment_method(card("4000002500003155"))
    assert core.charge_recurring(usd("5.00"), setup_once).status is S.CAPTURED
    # 3184 always asks for the payer: an off-session charge cannot succeed
    always = core.store_payment_method(card("4000002760003184"))
    with pytest.raises(CardDeclined) as info:
        core.charge_recurring(usd("5.00"), always)
    assert info.value.code is ErrorCode.AUTHENTICATION_REQUIRED
    with pytest.raises(InvalidRequest):
        core.charge_recurring(usd("5.00"), card())  # type: ignore[arg-type]
    with pytest.raises(CardDeclined):
        core.store_payment_method(card("4000000000000002"))


def test_paypal_wallet_on_sandbox_needs_approval(core: paygate.Payments) -> None:
    tx = core.purchase(usd("12.00"), PayPalWallet(email="buyer@example.com"))
    assert tx.status is S.REQUIRES_ACTION
    assert tx.next_action is not None and tx.next_action.type == "approve"
    assert core.confirm(tx.id).status is S.CAPTURED


def test_idempotent_replay_does_not_call_the_provider(
    core: paygate.Payments, sandbox: SandboxProvider
) -> None:
    first = core.purchase(usd("9.00"), card(), idempotency_key="order-1")
    calls = sandbox.call_count
    again = core.purchase(usd("9.00"), card(), idempotency_key="order-1")
    assert again == first
    assert sandbox.call_count == calls
    with pytest.raises(IdempotencyConflict) as info:
        core.purchase(usd("9.01"), card(), idempotency_key="order-1")
    assert info.value.code is ErrorCode.IDEMPOTENCY_CONFLICT
    refund = core.refund(first.id, usd("1.00"), idempotency_key="refund-1")
    assert core.refund(first.id, usd("1.00"), idempotency_key="refund-1") == refund
    assert core.transaction(first.id).refunded == usd("1.00")  # once
    with pytest.raises(IdempotencyConflict):
        core.refund(first.id, usd("2.00"), idempotency_key="refund-1")


def test_declines_replay_too(core: paygate.Payments, sandbox: SandboxProvider) -> None:
    with pytest.raises(CardDeclined) as first:
        core.purchase(usd("9.00"), card("4000000000000002"), idempotency_key="d-1")
    calls = sandbox.call_count
    with pytest.raises(CardDeclined) as again:
        core.purchase(usd("9.00"), card("4000000000000002"), idempotency_key="d-1")
    assert sandbox.call_count == calls
    assert again.value.transaction is not None and first.value.transaction is not None
    assert again.value.transaction.id == first.value.transaction.id


def test_lost_answer_is_unknown_then_reconciled(
    core: paygate.Payments, sandbox: SandboxProvider
) -> None:
    sandbox.inject("timeout")
    with pytest.raises(ProviderUnavailable) as info:
        core.purchase(usd("7.00"), card(), idempotency_key="lost-1")
    assert info.value.request_sent and info.value.retry_safe
    tx = info.value.transaction
    assert tx is not None and tx.status is S.UNKNOWN  # never "failed"
    report = core.reconcile()
    assert (report.checked, report.succeeded) == (1, 1)
    assert core.transaction(tx.id).status is S.CAPTURED
    assert sandbox.effects["authorize"] == 1  # charged once


def test_retry_after_timeout_with_same_key_charges_once(
    core: paygate.Payments, sandbox: SandboxProvider
) -> None:
    sandbox.inject("reset_after_charge")
    with pytest.raises(ProviderUnavailable):
        core.purchase(usd("7.00"), card(), idempotency_key="retry-1")
    tx = core.purchase(usd("7.00"), card(), idempotency_key="retry-1")
    assert tx.status is S.CAPTURED
    assert sandbox.effects["authorize"] == 1


def test_server_error_before_sending_can_be_retried(
    core: paygate.Payments, sandbox: SandboxProvider
) -> None:
    sandbox.inject("server_error")
    with pytest.raises(ProviderUnavailable) as info:
        core.purchase(usd("7.00"), card(), idempotency_key="5xx-1")
    assert info.value.request_sent is False
    assert core.purchase(usd("7.00"), card(), idempotency_key="5xx-1").status is S.CAPTURED


def test_webhooks_verify_and_dedupe(core: paygate.Payments, sandbox: SandboxProvider) -> None:
    tx = core.purchase(usd("3.00"), card())
    headers, body = sandbox.make_webhook("payment.succeeded", tx.id, event_id="evt_1")
    event = core.parse_webhook("sandbox", headers, body)
    assert (event.id, event.type, event.transaction_id) == ("evt_1", "payment.succeeded", tx.id)
    assert event.amount == usd("3.00") and not event.duplicate
    assert core.parse_webhook("sandbox", headers, body).duplicate
    with pytest.raises(SignatureVerificationError):
        core.parse_webhook("sandbox", headers, body.replace(b"3", b"4"))
    old = {"Paygate-Signature": sandbox.sign(body, timestamp=int(time.time()) - 301)}
    with pytest.raises(SignatureVerificationError):
        core.parse_webhook("sandbox", old, body)
    wrong = {"Paygate-Signature": sandbox.sign(body, secret="whsec_other")}
    with pytest.raises(SignatureVerificationError):
        core.parse_webhook("sandbox", wrong, body)
    with pytest.raises(SignatureVerificationError):
        core.parse_webhook("sandbox", {}, body)


def test_unknown_provider_lists_installed(core: paygate.Payments) -> None:
    with pytest.raises(InvalidRequest, match=r"installed: sandbox"):
        core.purchase(usd("1.00"), card(), provider="nope")


def test_sub_accounts_cannot_pay(core: paygate.Payments, sandbox: SandboxProvider) -> None:
    for role in ("sub_account", "multi_user"):
        with pytest.raises(PermissionDenied):
            core.purchase(usd("1.00"), card(), customer=Customer(id="c", role=role))
    assert sandbox.call_count == 0


def test_transaction_not_found(core: paygate.Payments) -> None:
    with pytest.raises(NotFound):
        core.transaction("txn_missing")
    with pytest.raises(InvalidRequest):
        core.capture(12345)  # type: ignore[arg-type]


def test_provider_capabilities_are_enforced() -> None:
    class NoPartials:
        @paygate.hookimpl
        def paygate_provider_info(self) -> paygate.ProviderInfo:
            return paygate.ProviderInfo(
                name="basic",
                currencies=frozenset({"USD"}),
                capabilities=paygate.Capabilities(partial_refund=False),
            )

    p = paygate.Payments({"database_url": "memory"}, plugins=[NoPartials()], load_entrypoints=False)
    with pytest.raises(UnsupportedFeature):
        p.verify(card(), provider="basic")
    with pytest.raises(UnsupportedFeature) as info:
        p.purchase(Money("1.00", "EUR"), card(), provider="basic")
    assert info.value.code is ErrorCode.INVALID_CURRENCY
    with pytest.raises(UnsupportedFeature):  # declared but no paygate_authorize impl
        p.purchase(usd("1.00"), card(), provider="basic")


BAD_AMOUNTS = st.one_of(
    st.floats(allow_nan=True),
    st.integers(),
    st.text(max_size=20),
    st.none(),
    st.decimals(allow_nan=True),
    st.just(Money("0.00", "USD")),
    st.just(Money("-1.00", "USD")),
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(amount=BAD_AMOUNTS)
def test_bad_amounts_never_reach_the_provider(
    core: paygate.Payments, sandbox: SandboxProvider, amount: object
) -> None:
    calls = sandbox.call_count
    with pytest.raises(PaygateError):
        core.purchase(amount, card())  # type: ignore[arg-type]
    assert sandbox.call_count == calls


@pytest.mark.parametrize(
    "kwargs",
    [
        {"idempotency_key": ""},
        {"idempotency_key": "k" * 256},
        {"idempotency_key": "clé"},
        {"idempotency_key": 42},
        {"metadata": {"k": 1}},
        {"metadata": {f"k{i}": "v" for i in range(51)}},
        {"metadata": {"k": "v" * 501}},
        {"description": "d" * 1001},
        {"customer": "acct_1"},
        {"provider": 3},
    ],
)
def test_bad_arguments_get_typed_errors(
    core: paygate.Payments, sandbox: SandboxProvider, kwargs: dict[str, object]
) -> None:
    with pytest.raises(InvalidRequest):
        core.purchase(usd("1.00"), card(), **kwargs)  # type: ignore[arg-type]
    assert sandbox.call_count == 0


def test_card_fields_are_validated_without_echo() -> None:
    with pytest.raises(InvalidRequest) as info:
        paygate.Card("4242424242424242", "twelve", YEAR, "123")  # type: ignore[arg-type]
    assert "4242424242424242" not in str(info.value)
    with pytest.raises(InvalidRequest):
        paygate.Card(4242424242424242.0, 12, YEAR, "123")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest):
        paygate.Card("4" * 100, 12, YEAR, "123")
    assert paygate.Card(4242424242424242, 12, YEAR, 123).last4 == "4242"


def test_method_must_be_a_payment_method(core: paygate.Payments) -> None:
    with pytest.raises(InvalidRequest):
        core.purchase(usd("1.00"), "4242424242424242")  # type: ignore[arg-type]


def test_zero_and_three_decimal_currencies(core: paygate.Payments) -> None:
    jpy = core.purchase(Money("500", "JPY"), card())
    assert jpy.captured == Money("500", "JPY")
    kwd = core.authorize(Money("10.250", "KWD"), card())
    assert core.capture(kwd.id, Money("5.125", "KWD")).captured.amount == Decimal("5.125")


def test_fees_on_the_sandbox(core: paygate.Payments) -> None:
    breakdown = core.fees(usd("100.00"), provider="sandbox")
    # sandbox table: 2.9 % + 0.30 = 3.20
    assert breakdown.net == usd("96.80")
    assert sum((line.amount for line in breakdown.lines if line.amount), usd("0")) == usd("3.20")

"""The shortcuts of the per-payment path give exactly the slow path's answers."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paygate import redaction
from paygate.ledger.fingerprint import fingerprint, fingerprint_payload
from paygate.ledger.records import request_digest
from paygate.models import Card, Customer, PayPalWallet, StoredPaymentMethod, construct
from paygate.money import Money
from paygate.operations import (
    CaptureRequest,
    ConfirmRequest,
    FetchRequest,
    Operation,
    OperationRequest,
    PaymentRequest,
    RefundRequest,
    StoreRequest,
    VoidRequest,
)

# Characters every secret pattern turns on, and some that none does.
_ALPHABET = "0123456789424242 .-_:=@/\"'&[]abcdefklmnprstuvwBEARERbasicwhseclivetestsk\t\n"
_FRAGMENTS = st.sampled_from(
    [
        "4242424242424242",
        "4242 4242 4242 4242",
        "4242-4242-4242-4242",
        "4242.4242.4242.4242",
        "0004242424242424242123",
        "sk_test_abcdef123",
        "rk_live_ABCDEF123",
        "whsec_abcdef",
        "Bearer abcdefgh1",
        "basic QUJDREVGR0g=",
        "https://user:pass@host/x",
        "cvc=123",
        '"cvc": "123"',
        "card[cvc]=123",
        "client_secret=pi_1_secret_2",
        "pi_e5b5d636ae86d4e7f4de3e59",
        "requires_capture",
        "25.00",
    ]
)
_TEXT = st.lists(st.one_of(st.text(_ALPHABET, max_size=30), _FRAGMENTS), max_size=5).map("".join)


@settings(max_examples=2000, deadline=None)
@given(_TEXT)
def test_the_shortcut_never_skips_a_secret(text: str) -> None:
    # Without the shortcut every substitution runs: the answers must agree.
    expected = redaction._substitute(text) if text else text
    assert redaction.scrub_text(text) == expected
    assert redaction.scrub_data({"note": text}) == {"note": expected}
    assert redaction.scrub_data([text]) == [expected]
    if redaction._MAYBE_SECRET.search(text) or redaction._PAN_CANDIDATE.search(text):
        assert redaction._may_hold_secret(text)


def test_secret_keys_are_redacted_whatever_the_cache_holds() -> None:
    data = {"cvc": "123", "card[number]": "4242424242424242", "id": "pm_1", "Number": "x"}
    for _ in range(2):  # first decided, then remembered
        assert redaction.scrub_data(data) == {
            "cvc": redaction.REDACTED,
            "card[number]": redaction.REDACTED,
            "id": "pm_1",
            "Number": redaction.REDACTED,
        }


def _common(operation: Operation, **extra: Any) -> dict[str, Any]:
    return {
        "operation": operation,
        "provider": "sandbox",
        "transaction_id": "txn_1",
        "idempotency_key": "key-1",
        "provider_reference": "ref_1",
        "provider_data": {"x": "y"},
        "metadata": {"order": "1001", "a": "b"},
        "config": {},
        **extra,
    }


_USD = Money("25.00", "USD")
_METHODS = [
    Card("4242424242424242", 3, 2031, "123"),
    StoredPaymentMethod(provider="stripe", token="pm_card_visa"),
    PayPalWallet(email="payer@example.com"),
]
_CUSTOMER = Customer(id="acct_42", email="owner@example.com", country="US")


def _requests() -> list[OperationRequest]:
    out: list[OperationRequest] = []
    for op in (Operation.AUTHORIZE, Operation.PURCHASE, Operation.CHARGE_RECURRING):
        for method in _METHODS:
            for customer in (None, _CUSTOMER):
                out.append(
                    construct(
                        PaymentRequest,
                        **_common(op),
                        amount=_USD,
                        method=method,
                        customer=customer,
                        capture=op is Operation.PURCHASE,
                        off_session=op is Operation.CHARGE_RECURRING,
                        description="Order 1001" if customer else None,
                        return_url=None,
                    )
                )
    out += [
        construct(
            StoreRequest,
            **_common(Operation.STORE_PAYMENT_METHOD),
            method=_METHODS[0],
            customer=_CUSTOMER,
        ),
        construct(
            CaptureRequest,
            **_common(Operation.CAPTURE),
            amount=_USD,
            authorized=_USD,
            captured=Money("0.00", "USD"),
            final=False,
        ),
        construct(VoidRequest, **_common(Operation.VOID), amount=_USD),
        construct(
            RefundRequest,
            **_common(Operation.REFUND),
            amount=_USD,
            captured=_USD,
            refunded=Money("0.00", "USD"),
            reason="requested_by_customer",
        ),
        construct(
            ConfirmRequest,
            **_common(Operation.CONFIRM),
            amount=None,
            capture=True,
            params={"a": "1"},
        ),
        construct(
            FetchRequest, **_common(Operation.FETCH_TRANSACTION), of_operation=Operation.REFUND
        ),
    ]
    return out


@pytest.mark.parametrize("request_", _requests(), ids=lambda r: f"{type(r).__name__}")
def test_fingerprint_is_the_digest_of_its_payload(request_: OperationRequest) -> None:
    assert fingerprint(request_) == request_digest(fingerprint_payload(request_))


def test_fingerprint_matches_digests_already_in_ledgers() -> None:
    # Computed by the earlier, payload-building implementation: a retry with
    # the same key after an upgrade must still be recognised as the same request.
    request = construct(
        PaymentRequest,
        operation=Operation.AUTHORIZE,
        provider="stripe",
        transaction_id="txn_1",
        idempotency_key="k",
        provider_reference=None,
        provider_data={},
        metadata={"order": "1001", "a": "b"},
        config={},
        amount=_USD,
        method=Card("4242424242424242", 12, 2030, "123"),
        customer=_CUSTOMER,
        capture=False,
        off_session=False,
        description="Order 1001",
        return_url=None,
    )
    assert fingerprint(request) == (
        "0b9835609c3bc9ce05892acc5d90436ee7932a43128e032305ebba6140920f55"
    )


# -- keys the facade generated ----------------------------------------------------


def test_a_generated_key_skips_the_digest_and_cannot_be_reused() -> None:
    from paygate import Payments
    from paygate.errors import CardDeclined, IdempotencyConflict
    from paygate.ledger.records import GENERATED_KEY_DIGEST

    payments = Payments({"database_url": "memory"}, load_entrypoints=False)
    sandbox = payments.plugin("sandbox")
    card = Card("4242424242424242", 12, 2030, "123")
    tx = payments.authorize(Money("5.00", "USD"), card)
    hosted = payments.authorize(Money("6.00", "USD"), card, idempotency_key="host-key-1")
    generated = next(r for r in payments.ledger.operations() if r.transaction_id == tx.id)
    from_host = payments.ledger.find_operation("host-key-1")
    assert generated.request_digest == GENERATED_KEY_DIGEST
    assert from_host is not None and from_host.transaction_id == hosted.id
    assert from_host.request_digest not in ("", GENERATED_KEY_DIGEST)
    # A host that finds a generated key in the ledger and sends it again is
    # refused before any provider call: no digest can equal the empty one.
    calls = sandbox.call_count
    with pytest.raises(IdempotencyConflict):
        payments.authorize(Money("5.00", "USD"), card, idempotency_key=generated.idempotency_key)
    assert sandbox.call_count == calls
    # The marks never outlive their call, whether it succeeded or failed.
    with pytest.raises(CardDeclined):
        payments.authorize(Money("5.00", "USD"), Card("4000000000000002", 12, 2030, "123"))
    assert payments._ledger_plugin.fresh_keys == set()
    payments.close()


def test_the_result_record_keeps_what_replay_needs() -> None:
    from paygate.builtins.ledger import result_record
    from paygate.models import ErrorInfo, StoredPaymentMethod, TransactionStatus
    from paygate.operations import ProviderResult

    results = [
        ProviderResult(status=TransactionStatus.AUTHORIZED, provider_reference="sbx_1"),
        ProviderResult(
            status=TransactionStatus.FAILED,
            error=ErrorInfo(code="card_declined", message="no", decline_code="generic_decline"),
            raw={"id": "pi_1", "nested": {"n": 1}},
        ),
        ProviderResult(
            status=TransactionStatus.AUTHORIZED,
            stored_method=StoredPaymentMethod(provider="sandbox", token="tok_1", last4="4242"),
            provider_data={"k": "v"},
        ),
    ]
    # Fields left at their defaults are not kept...
    assert result_record(results[0]) == {"status": "authorized", "provider_reference": "sbx_1"}
    for result in results:
        # ...and validation restores them: replay sees the same result.
        assert ProviderResult.model_validate(result_record(result)) == result

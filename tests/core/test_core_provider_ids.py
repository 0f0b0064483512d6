"""Provider identifiers are stored byte-identical, whatever digits they hold.

Gateways' ids often hold long digit runs; some are Luhn-valid 13-19 digit
runs (PayPal's documented authorization id ``0VF52814937998046`` holds
``52814937998046``). The ledger once scrubbed them like card numbers, stored
``0VF[REDACTED]8046`` and sent the next capture to an object that does not
exist. Here a gateway hands out such ids for every reference it owns
(payment, capture, refund, provider data, stored method) and checks that every
follow-up operation brings them back exactly.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from core_helpers import card, usd

import paygate
from paygate.models import (
    Capabilities,
    ProviderInfo,
    StoredPaymentMethod,
    TransactionStatus,
)
from paygate.operations import (
    CaptureRequest,
    FetchRequest,
    OperationRequest,
    PaymentRequest,
    ProviderResult,
    RefundRequest,
    StoreRequest,
    VoidRequest,
)
from paygate.redaction import luhn_valid

S = TransactionStatus

# Gateway-shaped ids, each holding a Luhn-valid run of 13 to 19 digits.
GATEWAY_IDS = [
    "0VF52814937998046",  # PayPal's own documented example authorization id
    "pi_4111111111111111Ab",
    "ch_5555555555554444",
    "4012888888881881",
    "GW-378282246310005-X",
    "TX6011111111111117Z",
    "re_3530111333300000",
    "4000056655665556123",
]


def _runs(value: str) -> list[str]:
    out, run = [], ""
    for ch in value + "x":
        if ch.isdigit():
            run += ch
        else:
            if run:
                out.append(run)
            run = ""
    return out


@pytest.mark.parametrize("gid", GATEWAY_IDS)
def test_the_ids_used_here_hold_a_luhn_valid_run(gid: str) -> None:
    # Guard for the test data itself: each id would look like a card number.
    assert any(
        luhn_valid(r[i : i + n])
        for r in _runs(gid)
        for n in range(13, 20)
        for i in range(len(r) - n + 1)
    ), gid


class DigitGateway:
    """A provider whose ids are gateway-shaped digit runs; it remembers every
    request it was sent and answers only for ids it issued."""

    def __init__(self, ids: Iterator[str]) -> None:
        self._ids = ids
        self.issued: dict[str, str] = {}  # id -> kind
        self.requests: list[OperationRequest] = []
        self.payments: dict[str, str] = {}  # transaction_id -> reference
        self.lose_next_answer = False

    def new(self, kind: str) -> str:
        value = next(self._ids)
        self.issued[value] = kind
        return value

    def _check(self, request: OperationRequest) -> None:
        self.requests.append(request)
        if request.provider_reference is not None:
            assert self.issued.get(request.provider_reference) == "payment", (
                f"unknown payment id {request.provider_reference!r}"
            )
        auth = request.provider_data.get("authorization_id")
        if auth is not None:
            assert self.issued.get(auth) == "authorization", f"unknown authorization {auth!r}"

    @paygate.hookimpl
    def paygate_provider_info(self) -> ProviderInfo:
        return ProviderInfo(
            name="digits",
            currencies=frozenset({"USD"}),
            payment_methods=frozenset({"card", "stored"}),
            capabilities=Capabilities(
                partial_capture=True,
                multiple_captures=True,
                multiple_refunds=True,
                store_payment_method=True,
                recurring=True,
            ),
        )

    def _pay(self, request: PaymentRequest) -> ProviderResult:
        self._check(request)
        method = request.method
        if isinstance(method, StoredPaymentMethod):
            assert self.issued.get(method.token) == "token", f"unknown token {method.token!r}"
            assert self.issued.get(method.customer_reference or "") == "customer"
        reference = self.new("payment")
        self.payments[request.transaction_id] = reference
        result = ProviderResult(
            status=S.CAPTURED if request.capture else S.AUTHORIZED,
            provider_reference=reference,
            amount=request.amount,
            provider_data={"authorization_id": self.new("authorization")},
            raw={"id": reference, "note": "echo"},
        )
        self.answers[request.transaction_id] = result
        if self.lose_next_answer:
            self.lose_next_answer = False
            raise paygate.errors.ProviderUnavailable("timeout", request_sent=True, retry_safe=False)
        return result

    answers: dict[str, ProviderResult]

    @paygate.hookimpl
    def paygate_authorize(self, request: PaymentRequest) -> ProviderResult:
        return self._pay(request)

    @paygate.hookimpl
    def paygate_charge_recurring(self, request: PaymentRequest) -> ProviderResult:
        return self._pay(request)

    @paygate.hookimpl
    def paygate_capture(self, request: CaptureRequest) -> ProviderResult:
        self._check(request)
        return ProviderResult(
            status=S.CAPTURED,
            provider_reference=request.provider_reference,
            operation_reference=self.new("capture"),
            amount=request.amount,
        )

    @paygate.hookimpl
    def paygate_void(self, request: VoidRequest) -> ProviderResult:
        self._check(request)
        return ProviderResult(status=S.VOIDED, provider_reference=request.provider_reference)

    @paygate.hookimpl
    def paygate_refund(self, request: RefundRequest) -> ProviderResult:
        self._check(request)
        return ProviderResult(
            status=S.REFUNDED,
            provider_reference=request.provider_reference,
            operation_reference=self.new("refund"),
            amount=request.amount,
        )

    @paygate.hookimpl
    def paygate_store_payment_method(self, request: StoreRequest) -> ProviderResult:
        self._check(request)
        customer = self.new("customer")
        return ProviderResult(
            status=S.AUTHORIZED,
            stored_method=StoredPaymentMethod(
                provider="digits",
                token=self.new("token"),
                customer_reference=customer,
                last4="4242",
            ),
            provider_data={"customer": customer},
        )

    @paygate.hookimpl
    def paygate_fetch_transaction(self, request: FetchRequest) -> ProviderResult | None:
        self._check(request)
        return self.answers.get(request.transaction_id)


@pytest.fixture
def gateway() -> DigitGateway:
    gw = DigitGateway(itertools.cycle(GATEWAY_IDS))
    gw.answers = {}
    return gw


@pytest.fixture
def payments(gateway: DigitGateway) -> Iterator[paygate.Payments]:
    with paygate.Payments(
        {"database_url": "memory", "default_provider": "digits"},
        plugins=[gateway],
        load_entrypoints=False,
    ) as p:
        yield p


def _stored_ids(payments: paygate.Payments, tx_id: str) -> list[str]:
    """Every provider id the ledger holds for ``tx_id``: the transaction's and
    each operation's (columns and the stored provider result)."""
    tx = payments.transaction(tx_id)
    # provider_data also holds the core's own flags ("capture_closed"): only
    # the keys this gateway sets are ids.
    gateway_keys = ("authorization_id", "customer")
    ids = [tx.provider_reference or "", *(tx.provider_data.get(k, "") for k in gateway_keys)]
    ids += [c.provider_reference or "" for c in tx.captures]
    ids += [r.provider_reference or "" for r in tx.refunds]
    for op in payments.ledger.operations():
        if op.transaction_id != tx_id:
            continue
        ids += [op.provider_reference or "", op.operation_reference or ""]
        result: dict[str, Any] = op.result or {}
        ids += [result.get("provider_reference") or "", result.get("operation_reference") or ""]
        ids += [(result.get("provider_data") or {}).get(k, "") for k in gateway_keys]
    return [i for i in ids if i]


def test_every_follow_up_brings_back_the_ids_byte_identical(
    payments: paygate.Payments, gateway: DigitGateway
) -> None:
    tx = payments.authorize(usd("30.00"), card())
    assert gateway.issued[tx.provider_reference or ""] == "payment"
    tx = payments.capture(tx.id, usd("10.00"), final=False)
    tx = payments.capture(tx.id, usd("20.00"))
    tx = payments.refund(tx.id, usd("5.00"), reason="customer asked")
    tx = payments.refund(tx.id)
    assert tx.status is S.REFUNDED
    stored = _stored_ids(payments, tx.id)
    assert stored
    for value in stored:
        assert value in gateway.issued, f"stored id {value!r} is not one the gateway issued"
    # Every follow-up reached the gateway with the payment's own id.
    follow_ups = [r for r in gateway.requests if not isinstance(r, PaymentRequest)]
    assert len(follow_ups) == 4
    assert {r.provider_reference for r in follow_ups} == {tx.provider_reference}


def test_void_brings_back_the_ids(payments: paygate.Payments, gateway: DigitGateway) -> None:
    tx = payments.authorize(usd("7.00"), card())
    tx = payments.void(tx.id)
    assert tx.status is S.VOIDED
    assert isinstance(gateway.requests[-1], VoidRequest)
    for value in _stored_ids(payments, tx.id):
        assert value in gateway.issued


def test_reconcile_stores_the_fetched_ids_and_capture_uses_them(
    payments: paygate.Payments, gateway: DigitGateway
) -> None:
    gateway.lose_next_answer = True
    with pytest.raises(paygate.errors.ProviderUnavailable):
        payments.authorize(usd("9.00"), card())
    report = payments.reconcile()
    assert report.settled == 1
    tx_id = next(iter(gateway.payments))
    tx = payments.transaction(tx_id)
    assert tx.provider_reference == gateway.payments[tx_id]
    for value in _stored_ids(payments, tx_id):
        assert value in gateway.issued
    tx = payments.capture(tx_id)
    assert tx.status is S.CAPTURED
    assert gateway.requests[-1].provider_reference == gateway.payments[tx_id]


def test_stored_method_token_survives_the_ledger_replay(
    payments: paygate.Payments, gateway: DigitGateway
) -> None:
    first = payments.store_payment_method(card(), idempotency_key="store-digits-1")
    assert gateway.issued[first.token] == "token"
    # The same key answers from the ledger's stored result.
    again = payments.store_payment_method(card(), idempotency_key="store-digits-1")
    assert again.token == first.token
    assert again.customer_reference == first.customer_reference
    renewal = payments.charge_recurring(usd("3.00"), again)
    assert renewal.status is S.CAPTURED


# -- the same through the built-in sandbox, its references made card-like ----------------


@pytest.fixture
def sandbox_payments(monkeypatch: pytest.MonkeyPatch) -> Iterator[paygate.Payments]:
    from paygate.builtins.sandbox import SandboxProvider

    ids = itertools.cycle(GATEWAY_IDS)
    counter = itertools.count()
    # Unique per payment (the sandbox keys its payments by reference).
    monkeypatch.setattr(
        SandboxProvider, "_new_reference", lambda self: f"{next(ids)}-{next(counter)}"
    )
    with paygate.Payments({"database_url": "memory"}, load_entrypoints=False) as p:
        yield p


def test_sandbox_references_with_card_like_runs_survive_every_follow_up(
    sandbox_payments: paygate.Payments,
) -> None:
    p = sandbox_payments
    sandbox = p.plugin("sandbox")
    tx = p.authorize(usd("30.00"), card())
    ref = tx.provider_reference
    assert ref is not None and ref.split("-")[0] in GATEWAY_IDS
    tx = p.capture(tx.id, usd("10.00"), final=False)
    tx = p.capture(tx.id, usd("20.00"))
    tx = p.refund(tx.id, usd("5.00"))
    tx = p.refund(tx.id)
    assert tx.status is S.REFUNDED
    assert sandbox.payment(ref)["refunded"] == 3000  # the sandbox's own books, minor units
    voided = p.void(p.authorize(usd("4.00"), card()).id)
    assert voided.status is S.VOIDED
    sandbox.inject("timeout")
    with pytest.raises(paygate.errors.ProviderUnavailable):
        p.authorize(usd("6.00"), card())
    assert p.reconcile().settled == 1
    lost = [op for op in p.ledger.operations() if op.operation == "authorize"][-1]
    settled = p.capture(lost.transaction_id)
    assert settled.status is S.CAPTURED
    for op in p.ledger.operations():
        if op.provider_reference is not None:
            assert sandbox.payment(op.provider_reference) is not None, op.provider_reference
            result_ref = op.result.get("provider_reference")
            assert result_ref in (None, op.provider_reference)

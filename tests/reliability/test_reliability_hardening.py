"""Regression tests of the outside review's defects (issue 15, part A).

Each test reproduces one defect as the review found it, through the public
facade, and asserts what must hold instead. The provider doubles below are
tiny third-party-style gateways (what a plugin author would write), never
stand-ins for paygate's own code.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
from decimal import Decimal
from typing import Any

import pytest
from reliability_workers import card, make_payments

import paygate
from paygate import Customer, Money, Payments
from paygate.errors import (
    ConfigurationError,
    IdempotencyConflict,
    InvalidRequest,
    PaygateError,
    ProviderUnavailable,
    UnsupportedFeature,
)
from paygate.ledger import OperationState
from paygate.models import Capabilities, ProviderInfo, TransactionStatus, WebhookEvent
from paygate.operations import FetchRequest, PaymentRequest, ProviderResult, WebhookRequest

S = TransactionStatus


class Gateway:
    """A minimal provider plugin: charges in memory, answers fetches from that
    memory, and parses unsigned JSON webhooks (it is a test double).

    ``answer``: the status its authorize answers with (``unknown`` is what
    Stripe's ``processing`` becomes); ``settled``: the status its fetch
    reports afterwards; ``poison``: provider data no JSON encoder takes.
    """

    def __init__(
        self,
        name: str = "acme",
        *,
        answer: TransactionStatus | None = None,
        settled: TransactionStatus | None = None,
        poison: bool = False,
        test_mode: bool = True,
        verify_amounts: dict[str, Decimal] | None = None,
        stub_capture: bool = False,
    ) -> None:
        self.name = name
        self.answer = answer
        self.settled = settled
        self.poison = poison
        self.test_mode = test_mode
        self.verify_amounts = verify_amounts or {}
        self.stub_capture = stub_capture
        self.charges: dict[str, tuple[str, Money]] = {}  # reference -> (key, amount)
        self.by_key: dict[str, str] = {}
        self.calls = 0

    @paygate.hookimpl
    def paygate_provider_info(self) -> ProviderInfo:
        return ProviderInfo(
            name=self.name,
            payment_methods=frozenset({"card"}),
            capabilities=Capabilities(verify=True, webhooks=True),
            test_mode=self.test_mode,
            verify_amounts=self.verify_amounts,
        )

    @paygate.hookimpl
    def paygate_authorize(self, request: PaymentRequest) -> ProviderResult:
        self.calls += 1
        ref = self.by_key.get(request.idempotency_key)
        if ref is None:
            ref = f"{self.name}_{len(self.charges) + 1:04d}_{request.transaction_id[-6:]}"
            self.charges[ref] = (request.idempotency_key, request.amount)
            self.by_key[request.idempotency_key] = ref
        status = self.answer or (S.CAPTURED if request.capture else S.AUTHORIZED)
        data = {"note": "caf\udce9"} if self.poison else {}
        return ProviderResult(
            status=status,
            provider_reference=ref,
            amount=request.amount if status is S.CAPTURED else None,
            provider_data=data,
        )

    @paygate.hookimpl
    def paygate_capture(self, request: Any) -> ProviderResult:
        if self.stub_capture:
            raise NotImplementedError("capture is not written yet")
        self.calls += 1
        return ProviderResult(status=S.CAPTURED, provider_reference=request.provider_reference)

    @paygate.hookimpl
    def paygate_void(self, request: Any) -> ProviderResult:
        self.calls += 1
        return ProviderResult(status=S.VOIDED, provider_reference=request.provider_reference)

    @paygate.hookimpl
    def paygate_fetch_transaction(self, request: FetchRequest) -> ProviderResult | None:
        ref = request.provider_reference or self.by_key.get(request.idempotency_key)
        if ref not in self.charges:
            return None
        status = self.settled or S.CAPTURED
        amount = self.charges[ref][1] if status is S.CAPTURED else None
        return ProviderResult(status=status, provider_reference=ref, amount=amount)

    @paygate.hookimpl
    def paygate_parse_webhook(self, request: WebhookRequest) -> WebhookEvent:
        data = json.loads(request.body)
        return WebhookEvent(
            id=data["id"],
            provider=self.name,
            type=data["type"],
            provider_type=data["type"],
            provider_reference=data.get("reference"),
            transaction_id=data.get("transaction_id"),
        )


def payments_with(database_url: str, *plugins: object, **config: Any) -> Payments:
    return Payments(
        {"database_url": database_url, **config}, plugins=list(plugins), load_entrypoints=False
    )


def states(p: Payments) -> list[str]:
    return [r.state.value for r in p.ledger.operations()]


# -- 1. ids and generated keys never from the global random module ---------------------


def test_a_seeded_random_module_cannot_make_two_purchases_share_an_id(database_url: str) -> None:
    with make_payments(database_url) as p:
        random.seed(7)
        first = p.purchase(Money("10.00", "USD"), card())
        random.seed(7)
        second = p.purchase(Money("20.00", "USD"), card())
        assert first.id != second.id
        assert p.transaction(second.id).captured == Money("20.00", "USD")
        records = p.ledger.operations()
        assert len(records) == 2
        assert len({r.idempotency_key for r in records}) == 2


# -- 3. an unknown provider answer is an unknown operation ---------------------------


def test_an_unknown_answer_moves_no_money_until_reconcile_settles_it(database_url: str) -> None:
    gateway = Gateway(answer=S.UNKNOWN)
    with payments_with(database_url, gateway) as p:
        with pytest.raises(ProviderUnavailable) as caught:
            p.purchase(Money("7.00", "USD"), card(), provider="acme", idempotency_key="k-proc")
        tx = caught.value.transaction
        assert tx is not None and tx.status is S.UNKNOWN
        assert tx.captured == Money("0.00", "USD")
        assert tx.provider_reference is not None
        (record,) = p.ledger.operations()
        assert record.state is OperationState.UNKNOWN
        assert record.provider_reference == tx.provider_reference
        # The gateway settles it; reconcile asks and takes its answer.
        gateway.settled = S.CAPTURED
        report = p.reconcile()
        assert (report.checked, report.succeeded) == (1, 1)
        assert p.transaction(tx.id).captured == Money("7.00", "USD")
        # A retry with the key now replays the settled outcome, without a call.
        calls = gateway.calls
        again = p.purchase(Money("7.00", "USD"), card(), provider="acme", idempotency_key="k-proc")
        assert again.status is S.CAPTURED
        assert gateway.calls == calls


def test_an_answer_still_unknown_at_reconcile_stays_unknown(database_url: str) -> None:
    gateway = Gateway(answer=S.UNKNOWN, settled=S.UNKNOWN)
    with payments_with(database_url, gateway) as p:
        with pytest.raises(ProviderUnavailable):
            p.purchase(Money("7.00", "USD"), card(), provider="acme")
        report = p.reconcile()
        assert (report.checked, report.settled, report.still_unknown) == (1, 0, 1)
        assert states(p) == ["unknown"]


# -- 4a. every host text validated before anything reaches a provider ----------------

SURROGATE = "caf\udce9"

HOSTILE_CALLS: dict[str, Any] = {
    "description surrogate": lambda p: p.purchase(
        Money("5.00", "USD"), card(), description=SURROGATE
    ),
    "description NUL": lambda p: p.purchase(Money("5.00", "USD"), card(), description="a\x00b"),
    "metadata value": lambda p: p.purchase(
        Money("5.00", "USD"), card(), metadata={"order": SURROGATE}
    ),
    "metadata key": lambda p: p.purchase(Money("5.00", "USD"), card(), metadata={"o\x00": "1"}),
    "customer id NUL": lambda p: p.purchase(
        Money("5.00", "USD"), card(), customer=Customer(id="cus\x00_1")
    ),
    "customer name NUL": lambda p: p.purchase(
        Money("5.00", "USD"), card(), customer=Customer(id="c1", name="Ann\x00")
    ),
    "card holder NUL": lambda p: p.purchase(
        Money("5.00", "USD"), paygate.Card("4242424242424242", 12, 2034, "123", "J\x00 Doe")
    ),
    "return_url": lambda p: p.purchase(Money("5.00", "USD"), card(), return_url=SURROGATE),
    "idempotency key": lambda p: p.purchase(Money("5.00", "USD"), card(), idempotency_key="k\x00"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_CALLS))
def test_hostile_payment_text_is_refused_before_the_provider(database_url: str, case: str) -> None:
    with make_payments(database_url) as p:
        sandbox = p.plugin("sandbox")
        with pytest.raises(InvalidRequest):
            HOSTILE_CALLS[case](p)
        assert sandbox.call_count == 0
        assert p.ledger.operations() == []


@pytest.mark.parametrize(
    "call",
    [
        lambda p, tx: p.refund(tx.id, reason=SURROGATE),
        lambda p, tx: p.refund(tx.id, reason="x\x00"),
        lambda p, tx: p.confirm(tx.id, params={"k": SURROGATE}),
        lambda p, tx: p.transaction(tx.id[:-1] + "\udce9"),
        lambda p, tx: p.capture(tx.id + "\x00"),
        lambda p, tx: p.void("\ud800"),
    ],
    ids=["reason-surrogate", "reason-nul", "params", "transaction", "capture", "void"],
)
def test_hostile_follow_up_text_is_refused_before_the_provider(
    database_url: str, call: Any
) -> None:
    with make_payments(database_url) as p:
        tx = p.purchase(Money("5.00", "USD"), card())
        sandbox = p.plugin("sandbox")
        before = (sandbox.call_count, len(p.ledger.operations()))
        with pytest.raises(InvalidRequest):
            call(p, tx)
        assert (sandbox.call_count, len(p.ledger.operations())) == before
        assert "pending" not in states(p)


# -- 4b. an answer the ledger cannot write is kept as unknown, never pending -----------


def test_an_unwritable_answer_is_recorded_unknown_and_reconcile_settles_it(
    database_url: str,
) -> None:
    # SQLite and PostgreSQL: the write fails as the row is serialized.
    gateway = Gateway(poison=True)
    with payments_with(database_url, gateway) as p:
        with pytest.raises(ProviderUnavailable) as caught:
            p.purchase(Money("9.00", "USD"), card(), provider="acme", idempotency_key="k-poison")
        assert caught.value.request_sent
        (record,) = p.ledger.operations()
        assert record.state is OperationState.UNKNOWN
        (reference,) = gateway.charges
        assert record.provider_reference == reference
        # The gateway's data is clean again; reconcile settles the charge.
        gateway.poison = False
        report = p.reconcile()
        assert (report.checked, report.succeeded) == (1, 1)
        tx = p.transaction(record.transaction_id)
        assert tx.captured == Money("9.00", "USD")
        assert tx.provider_reference == reference
        assert states(p) == ["succeeded"]
        replay = p.purchase(
            Money("9.00", "USD"), card(), provider="acme", idempotency_key="k-poison"
        )
        assert replay.id == tx.id


# -- 5. webhooks move only their own provider's, own object's transaction -------------


def _signed(secret: str, body: bytes) -> dict[str, str]:
    ts = int(time.time())
    sig = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Paygate-Signature": f"t={ts},v1={sig}"}


def test_a_sandbox_event_cannot_move_another_providers_transaction(database_url: str) -> None:
    with payments_with(database_url, Gateway(test_mode=True)) as p:
        theirs = p.authorize(Money("50.00", "USD"), card(), provider="acme")
        sandbox = p.plugin("sandbox")
        headers, body = sandbox.make_webhook("payment.captured", theirs.id)
        p.parse_webhook("sandbox", headers, body)
        after = p.transaction(theirs.id)
        assert after.status is S.AUTHORIZED
        assert after.captured == Money("0.00", "USD")


def test_an_event_for_one_object_cannot_move_the_transaction_it_names(
    database_url: str,
) -> None:
    with make_payments(database_url) as p:
        a = p.authorize(Money("10.00", "USD"), card())
        b = p.authorize(Money("20.00", "USD"), card())
        sandbox = p.plugin("sandbox")
        body = json.dumps(
            {
                "id": "evt_cross",
                "type": "payment.voided",
                "created": int(time.time()),
                "data": {"reference": a.provider_reference, "transaction_id": b.id},
            }
        ).encode()
        p.parse_webhook("sandbox", {"Paygate-Signature": sandbox.sign(body)}, body)
        assert p.transaction(b.id).status is S.AUTHORIZED
        # The event is about A's object: it is A that it voids.
        assert p.transaction(a.id).status is S.VOIDED


def test_the_sandbox_has_no_public_default_webhook_secret() -> None:
    with make_payments("memory") as p:
        tx = p.authorize(Money("10.00", "USD"), card())
        body = json.dumps(
            {
                "id": "evt_forged",
                "type": "payment.captured",
                "created": int(time.time()),
                "data": {"reference": tx.provider_reference, "transaction_id": tx.id},
            }
        ).encode()
        with pytest.raises(paygate.errors.SignatureVerificationError):
            p.parse_webhook("sandbox", _signed("whsec_sandbox", body), body)
        assert p.transaction(tx.id).status is S.AUTHORIZED


# -- 6. a late webhook does not stop reconcile at the status it set ---------------------


def test_lost_answer_then_late_event_then_reconcile_matches_the_gateway(
    database_url: str,
) -> None:
    with make_payments(database_url) as p:
        sandbox = p.plugin("sandbox")
        sandbox.inject("timeout")
        with pytest.raises(ProviderUnavailable) as caught:
            p.purchase(Money("7.00", "USD"), card(), idempotency_key="k-late")
        tx = caught.value.transaction
        assert tx is not None
        headers, body = sandbox.make_webhook("payment.authorized", tx.id)
        p.parse_webhook("sandbox", headers, body)
        p.reconcile()
        settled = p.transaction(tx.id)
        gateway = sandbox.payment(settled.provider_reference or "")
        assert gateway is not None and gateway["status"] == "captured"
        assert settled.status is S.CAPTURED
        assert settled.captured == Money("7.00", "USD")
        assert states(p) == ["succeeded"]


def test_an_event_on_a_pending_answer_does_not_hide_the_capture(database_url: str) -> None:
    gateway = Gateway(answer=S.UNKNOWN)
    with payments_with(database_url, gateway) as p:
        with pytest.raises(ProviderUnavailable) as caught:
            p.purchase(Money("7.00", "USD"), card(), provider="acme")
        tx = caught.value.transaction
        assert tx is not None
        body = json.dumps(
            {
                "id": "evt_auth",
                "type": "payment.authorized",
                "reference": tx.provider_reference,
                "transaction_id": tx.id,
            }
        ).encode()
        p.parse_webhook("acme", {}, body)
        assert p.transaction(tx.id).status is S.AUTHORIZED  # the event applied
        gateway.settled = S.CAPTURED
        p.reconcile()
        settled = p.transaction(tx.id)
        assert settled.status is S.CAPTURED
        assert settled.captured == Money("7.00", "USD")


# -- 7. live mode ---------------------------------------------------------------------


def test_live_mode_needs_a_default_provider() -> None:
    with pytest.raises(ConfigurationError):
        payments_with("memory", Gateway("livegw", test_mode=False), test_mode=False)


def test_live_mode_refuses_a_test_mode_default_provider() -> None:
    for default in ("sandbox", "acme"):
        with pytest.raises(ConfigurationError):
            payments_with("memory", Gateway("acme"), test_mode=False, default_provider=default)


def test_live_mode_never_pays_the_sandbox_or_a_test_mode_provider() -> None:
    live = Gateway("livegw", test_mode=False)
    with payments_with(
        "memory", live, Gateway("acme"), test_mode=False, default_provider="livegw"
    ) as p:
        tx = p.purchase(Money("99.00", "USD"), card())
        assert tx.provider == "livegw"
        assert sorted(p.plugin_manager.providers()) == ["livegw"]
        for name in ("sandbox", "acme"):
            with pytest.raises(InvalidRequest):
                p.purchase(Money("99.00", "USD"), card(), provider=name)
            with pytest.raises(InvalidRequest):
                p.parse_webhook(name, {}, b"{}")


def test_test_mode_must_be_a_boolean() -> None:
    with pytest.raises(ConfigurationError):
        payments_with("memory", test_mode="false")


# -- 8. follow-up keys compare the whole request -------------------------------------


def test_a_refund_key_reused_with_another_reason_is_a_conflict(database_url: str) -> None:
    with make_payments(database_url) as p:
        tx = p.purchase(Money("30.00", "USD"), card())
        p.refund(tx.id, Money("5.00", "USD"), reason="damaged", idempotency_key="r1")
        with pytest.raises(IdempotencyConflict):
            p.refund(tx.id, Money("5.00", "USD"), reason="late", idempotency_key="r1")
        # The same request replays.
        again = p.refund(tx.id, Money("5.00", "USD"), reason="damaged", idempotency_key="r1")
        assert again.refunded == Money("5.00", "USD")


def test_a_capture_key_reused_with_another_final_flag_is_a_conflict(database_url: str) -> None:
    with make_payments(database_url) as p:
        tx = p.authorize(Money("30.00", "USD"), card())
        p.capture(tx.id, Money("10.00", "USD"), final=False, idempotency_key="c1")
        with pytest.raises(IdempotencyConflict):
            p.capture(tx.id, Money("10.00", "USD"), final=True, idempotency_key="c1")
        # All-that-is-left with the first call's key is the same request.
        whole = p.authorize(Money("12.00", "USD"), card())
        p.capture(whole.id, idempotency_key="c2")
        assert p.capture(whole.id, idempotency_key="c2").captured == Money("12.00", "USD")


def test_a_confirm_key_reused_with_other_params_is_a_conflict(database_url: str) -> None:
    with make_payments(database_url) as p:
        three_ds = paygate.Card("4000002500003155", 12, 2034, "123")
        tx = p.authorize(Money("30.00", "USD"), three_ds)
        assert tx.status is S.REQUIRES_ACTION
        p.confirm(tx.id, params={"step": "one"}, idempotency_key="f1")
        with pytest.raises(IdempotencyConflict):
            p.confirm(tx.id, params={"step": "two"}, idempotency_key="f1")
        assert p.confirm(tx.id, params={"step": "one"}, idempotency_key="f1").id == tx.id


# -- 9. verify's void key is a digest of the whole key ----------------------------------


def test_two_long_verify_keys_sharing_250_characters_both_release_their_hold(
    database_url: str,
) -> None:
    prefix = "v" * 250
    with make_payments(database_url) as p:
        first = p.verify(card(), idempotency_key=prefix + "-one")
        second = p.verify(card(), idempotency_key=prefix + "-two")
        assert first.status is S.VOIDED
        assert second.status is S.VOIDED
        voids = [r for r in p.ledger.operations() if r.operation == "void"]
        assert len(voids) == 2
        assert all(len(r.idempotency_key) <= 255 for r in voids)


# -- issue 16 (core): NotImplementedError, verify amounts -------------------------------


def test_a_hook_that_raises_not_implemented_is_unsupported_with_nothing_pending(
    database_url: str,
) -> None:
    gateway = Gateway(stub_capture=True)
    with payments_with(database_url, gateway) as p:
        tx = p.authorize(Money("10.00", "USD"), card(), provider="acme")
        with pytest.raises(UnsupportedFeature):
            p.capture(tx.id, idempotency_key="cap-stub")
        assert states(p) == ["succeeded", "failed"]
        capture = p.ledger.find_operation("cap-stub")
        assert capture is not None and capture.error is not None
        assert capture.error.get("request_sent") is False
        assert p.reconcile().checked == 0
        assert p.transaction(tx.id).status is S.AUTHORIZED
        # Once the author writes it, the same key runs.
        gateway.stub_capture = False
        assert p.capture(tx.id, idempotency_key="cap-stub").status is S.CAPTURED


def test_verify_holds_the_amount_the_provider_declares_for_the_currency() -> None:
    gateway = Gateway(verify_amounts={"JPY": Decimal("100")})
    with payments_with("memory", gateway) as p:
        yen = p.verify(card(), currency="JPY", provider="acme")
        assert yen.amount == Money("100", "JPY")
        dollars = p.verify(card(), currency="USD", provider="acme")
        assert dollars.amount == Money("1.00", "USD")
        assert yen.status is dollars.status is S.VOIDED


def test_a_bad_declared_verify_amount_is_the_plugins_error() -> None:
    gateway = Gateway(verify_amounts={"JPY": Decimal("0.5")})
    with payments_with("memory", gateway) as p, pytest.raises(PaygateError) as caught:
        p.verify(card(), currency="JPY", provider="acme")
    assert type(caught.value).__name__ == "PluginError"

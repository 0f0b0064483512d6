"""``SandboxProvider.set_stored_outcome``: the public way to make a stored card
start (or stop) declining, or asking for authentication, at its next charges."""

from __future__ import annotations

from pathlib import Path

import pytest
from core_helpers import card, usd

import paygate
from paygate.errors import CardDeclined, InvalidRequest


def _payments(**sandbox: object) -> paygate.Payments:
    return paygate.Payments(
        {"database_url": "memory", "sandbox": dict(sandbox)}, load_entrypoints=False
    )


def _charge(payments: paygate.Payments, token: paygate.StoredPaymentMethod, key: str) -> object:
    return payments.charge_recurring(usd("12.00"), token, idempotency_key=key)


def test_a_stored_card_declines_then_pays_again() -> None:
    payments = _payments()
    sandbox = payments.plugin("sandbox")
    stored = payments.store_payment_method(card(), idempotency_key="store-1")
    assert _charge(payments, stored, "c1").status is paygate.TransactionStatus.CAPTURED

    sandbox.set_stored_outcome(stored.token, "decline_on_charge")
    with pytest.raises(CardDeclined):
        _charge(payments, stored, "c2")
    # The first answer under a key stays: a retry of c1 is still the success.
    assert _charge(payments, stored, "c1").status is paygate.TransactionStatus.CAPTURED

    sandbox.set_stored_outcome(stored.token, "ok")
    assert _charge(payments, stored, "c3").status is paygate.TransactionStatus.CAPTURED
    assert sandbox.effects["charge_recurring"] == 2  # c1 and c3; c2 was declined


def test_a_stored_card_can_ask_for_authentication_every_time() -> None:
    payments = _payments()
    stored = payments.store_payment_method(card(), idempotency_key="store-1")
    payments.plugin("sandbox").set_stored_outcome(stored.token, "3ds_always")
    # Off-session, nobody can authenticate: the charge is declined as such.
    with pytest.raises(CardDeclined) as err:
        _charge(payments, stored, "c1")
    assert err.value.code.value == "authentication_required"


@pytest.mark.parametrize("outcome", ["decline", "", "OK", "3ds", None])
def test_an_unknown_outcome_is_a_typed_error(outcome: object) -> None:
    payments = _payments()
    stored = payments.store_payment_method(card(), idempotency_key="store-1")
    with pytest.raises(InvalidRequest) as err:
        payments.plugin("sandbox").set_stored_outcome(stored.token, outcome)
    assert err.value.param == "outcome"
    # Nothing changed: the card still pays.
    assert _charge(payments, stored, "c1").status is paygate.TransactionStatus.CAPTURED


@pytest.mark.parametrize("token", ["pm_sbx_0000000000000000", "", None, 7])
def test_an_unknown_token_is_a_typed_error(token: object) -> None:
    payments = _payments()
    payments.store_payment_method(card(), idempotency_key="store-1")
    with pytest.raises(InvalidRequest) as err:
        payments.plugin("sandbox").set_stored_outcome(token, "decline_on_charge")
    assert err.value.param == "token"


def test_with_a_state_file_every_process_sees_the_change(tmp_path: Path) -> None:
    state = str(tmp_path / "sandbox.json")
    first, second = _payments(state_file=state), _payments(state_file=state)
    stored = first.store_payment_method(card(), idempotency_key="store-1")
    second.plugin("sandbox").set_stored_outcome(stored.token, "decline_on_charge")
    with pytest.raises(CardDeclined):
        _charge(first, stored, "c1")

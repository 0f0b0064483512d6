"""The fixtures of the pytest plugin paygate registers under ``pytest11``."""

from __future__ import annotations

from datetime import date as _date
from typing import Any

import pytest

import paygate
from paygate.hookspecs import OPERATION_HOOKS
from paygate.models import ProviderInfo
from paygate.testing import HookRecorder, RequestRecorder

#: Cards in tests expire three years from now, so they never age into declines.
EXP_YEAR = _date.today().year + 3

CARD = paygate.Card("4242424242424242", 12, EXP_YEAR, "123")
_seen_managers: list[int] = []
_registered: list[tuple[Any, Any]] = []


class Fees:
    """A non-provider plugin contributing one fee line."""

    @paygate.hookimpl
    def paygate_calculate_fees(self, context: Any) -> list[paygate.FeeLine]:
        return [paygate.FeeLine(code="platform_fee", label="platform", rate="0.05", source="test")]


def test_payments_is_a_sandbox_facade_with_a_memory_ledger(payments: paygate.Payments) -> None:
    assert [info.name for info in payments.providers()] == ["sandbox"]
    tx = payments.purchase(paygate.Money("5.00", "USD"), CARD)
    assert tx.status is paygate.TransactionStatus.CAPTURED
    assert type(payments.ledger).__name__ == "MemoryLedger"


@pytest.mark.parametrize("round_", [1, 2])
def test_each_test_gets_a_fresh_manager(paygate_manager: Any, round_: int) -> None:
    assert id(paygate_manager) not in _seen_managers
    _seen_managers.append(id(paygate_manager))
    assert paygate_manager.has_plugin("sandbox") and paygate_manager.has_plugin("ledger")


def test_register_plugin_adds_a_plugin_for_this_test(
    payments: paygate.Payments, register_plugin: Any, paygate_manager: Any
) -> None:
    plugin = Fees()
    register_plugin(plugin, name="test-fees")
    assert paygate_manager.get_plugin("test-fees") is plugin
    breakdown = payments.fees(paygate.Money("100.00", "USD"), provider="sandbox")
    assert "platform_fee" in [line.code for line in breakdown.lines]
    _registered.append((paygate_manager, plugin))


def test_register_plugin_unregisters_after_the_test() -> None:
    # Runs after the test above (file order): its teardown must have unregistered.
    if not _registered:
        pytest.skip("test_register_plugin_adds_a_plugin_for_this_test did not run first")
    ((manager, plugin),) = _registered
    assert not manager.is_registered(plugin)
    assert manager.get_plugin("test-fees") is None


class _Validator:
    @paygate.hookimpl
    def paygate_validate_payment_method(self, method: Any, context: Any) -> None:
        return None


def test_hook_recorder_sees_every_hook_of_a_payment(
    payments: paygate.Payments, hook_recorder: HookRecorder, register_plugin: Any
) -> None:
    payments.purchase(paygate.Money("5.00", "USD"), CARD)
    # A hook no plugin implements is not called at all (no validator here)...
    assert "paygate_validate_payment_method" not in hook_recorder.names()
    register_plugin(_Validator(), name="test-validator")
    payments.purchase(paygate.Money("5.00", "USD"), CARD)
    # ...and is, in its place, once one is registered.
    names = hook_recorder.names()
    second = names[names.index("paygate_authorize") + 1 :]
    assert second.index("paygate_validate_payment_method") < second.index("paygate_authorize")
    call = hook_recorder.calls_of("paygate_authorize")[-1]
    assert call.kwargs["request"].amount == paygate.Money("5.00", "USD")
    assert call.result.status is paygate.TransactionStatus.CAPTURED
    assert call.exception is None


def test_hook_recorder_records_exceptions(
    payments: paygate.Payments, hook_recorder: HookRecorder, sandbox: Any
) -> None:
    sandbox.inject("server_error")
    with pytest.raises(paygate.errors.ProviderUnavailable):
        payments.purchase(paygate.Money("5.00", "USD"), CARD)
    (call,) = hook_recorder.calls_of("paygate_authorize")
    assert isinstance(call.exception, paygate.errors.ProviderUnavailable)


def test_hook_recorder_stops(payments: paygate.Payments) -> None:
    recorder = HookRecorder(payments.plugin_manager)
    recorder.stop()
    payments.purchase(paygate.Money("5.00", "USD"), CARD)
    assert recorder.calls == []


def test_request_recorder_wraps_every_operation_hook() -> None:
    wrapped = {name for name in dir(RequestRecorder) if name.startswith("paygate_")}
    assert wrapped == set(OPERATION_HOOKS)


def test_request_recorder_sees_what_the_provider_received(
    register_plugin: Any, payments: paygate.Payments
) -> None:
    recorder = RequestRecorder()
    register_plugin(recorder)
    tx = payments.authorize(paygate.Money("7.00", "EUR"), CARD, idempotency_key="k-1")
    payments.capture(tx.id, idempotency_key="k-2")
    assert recorder.hooks() == ["paygate_authorize", "paygate_capture"]
    assert [c.idempotency_key for c in recorder.calls] == ["k-1", "k-2"]
    assert recorder.of("paygate_capture")[0].result.status is paygate.TransactionStatus.CAPTURED


def test_sandbox_fixture_is_the_facades_provider(payments: paygate.Payments, sandbox: Any) -> None:
    payments.purchase(paygate.Money("5.00", "USD"), CARD)
    assert [hook for hook, _key, _tx in sandbox.calls] == ["authorize"]
    assert isinstance(sandbox.paygate_provider_info(), ProviderInfo)


def test_assert_no_secrets_fixture(assert_no_secrets: Any) -> None:
    assert_no_secrets("Visa •••• 4242")
    with pytest.raises(AssertionError):
        assert_no_secrets("card 4242 4242 4242 4242")

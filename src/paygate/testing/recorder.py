"""Two ways to see what went through the hooks during a test.

* :class:`HookRecorder` watches *every* hook call of a plugin manager
  (pluggy's hook-call monitoring): name, arguments, result or exception.
* :class:`RequestRecorder` is a plugin: a ``wrapper=True`` implementation of
  every operation hook, registered like any other plugin
  (``Payments(plugins=[recorder])``). It sees exactly the request the routed
  provider received and what came back, which is what the conformance suite
  checks (idempotency keys, error codes, "the provider was never called").
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pluggy

from paygate._markers import hookimpl


@dataclass
class HookCall:
    """One hook call seen by :class:`HookRecorder`."""

    name: str
    kwargs: dict[str, Any]
    plugins: list[str]
    result: Any = None
    exception: BaseException | None = None


class HookRecorder:
    """Records every hook call made through ``pm`` until :meth:`stop`.

    >>> recorder = HookRecorder(payments.plugin_manager)
    >>> payments.purchase(...)
    >>> recorder.names()
    ['paygate_validate_payment_method', 'paygate_select_provider', 'paygate_authorize']
    """

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.calls: list[HookCall] = []
        self._stack: list[HookCall] = []
        self._undo: Callable[[], None] | None = pm.add_hookcall_monitoring(
            self._before, self._after
        )

    def _before(self, hook_name: str, impls: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        call = HookCall(hook_name, dict(kwargs), [impl.plugin_name for impl in impls])
        self.calls.append(call)
        self._stack.append(call)

    def _after(
        self, outcome: Any, hook_name: str, impls: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> None:
        call = self._stack.pop() if self._stack else HookCall(hook_name, dict(kwargs), [])
        if outcome.exception is not None:
            call.exception = outcome.exception
        else:
            call.result = outcome.get_result()

    def names(self) -> list[str]:
        """Hook names in call order."""
        return [call.name for call in self.calls]

    def calls_of(self, name: str) -> list[HookCall]:
        return [call for call in self.calls if call.name == name]

    def clear(self) -> None:
        self.calls.clear()

    def stop(self) -> None:
        """Stop recording (the fixture does this after each test)."""
        if self._undo is not None:
            self._undo()
            self._undo = None


@dataclass
class RecordedRequest:
    """One operation hook call as the provider saw it."""

    hook: str
    request: Any
    result: Any = None
    exception: BaseException | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def idempotency_key(self) -> str | None:
        return getattr(self.request, "idempotency_key", None)


class RequestRecorder:
    """A plugin recording every operation request routed to a provider.

    Not a provider itself, so the core's routing keeps it on every call, and
    (registered without ``tryfirst``/``trylast``) it runs between the ledger
    (outermost) and the error guard (innermost): what it records is what the
    provider received and returned, with plugin bugs already turned into
    :class:`~paygate.errors.PluginError`.
    """

    name = "paygate-request-recorder"

    def __init__(self) -> None:
        self.calls: list[RecordedRequest] = []

    def _record(self, hook: str, request: Any) -> Generator[None, Any, Any]:
        call = RecordedRequest(hook, request)
        self.calls.append(call)
        try:
            result = yield
        except BaseException as exc:
            call.exception = exc
            raise
        call.result = result
        return result

    def of(self, hook: str) -> list[RecordedRequest]:
        """Calls of one hook (``"paygate_refund"``), in order."""
        return [call for call in self.calls if call.hook == hook]

    def hooks(self) -> list[str]:
        return [call.hook for call in self.calls]

    def clear(self) -> None:
        self.calls.clear()

    @hookimpl(wrapper=True)
    def paygate_authorize(self, request: Any) -> Generator[None, Any, Any]:
        return (yield from self._record("paygate_authorize", request))

    @hookimpl(wrapper=True)
    def paygate_capture(self, request: Any) -> Generator[None, Any, Any]:
        return (yield from self._record("paygate_capture", request))

    @hookimpl(wrapper=True)
    def paygate_void(self, request: Any) -> Generator[None, Any, Any]:
        return (yield from self._record("paygate_void", request))

    @hookimpl(wrapper=True)
    def paygate_refund(self, request: Any) -> Generator[None, Any, Any]:
        return (yield from self._record("paygate_refund", request))

    @hookimpl(wrapper=True)
    def paygate_confirm(self, request: Any) -> Generator[None, Any, Any]:
        return (yield from self._record("paygate_confirm", request))

    @hookimpl(wrapper=True)
    def paygate_charge_recurring(self, request: Any) -> Generator[None, Any, Any]:
        return (yield from self._record("paygate_charge_recurring", request))

    @hookimpl(wrapper=True)
    def paygate_store_payment_method(self, request: Any) -> Generator[None, Any, Any]:
        return (yield from self._record("paygate_store_payment_method", request))

    @hookimpl(wrapper=True)
    def paygate_fetch_transaction(self, request: Any) -> Generator[None, Any, Any]:
        return (yield from self._record("paygate_fetch_transaction", request))

    @hookimpl(wrapper=True)
    def paygate_parse_webhook(self, request: Any) -> Generator[None, Any, Any]:
        return (yield from self._record("paygate_parse_webhook", request))


__all__ = ["HookCall", "HookRecorder", "RecordedRequest", "RequestRecorder"]

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import paygate
from paygate.builtins.sandbox import SandboxProvider


class Recorder:
    """A host's wrapper plugin: sees every operation hook call and its outcome."""

    name = "recorder"

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def _see(self, hook: str, request: Any) -> Any:
        outcome = yield
        self.seen.append((hook, getattr(request, "operation", hook)))
        return outcome

    @paygate.hookimpl(wrapper=True)
    def paygate_authorize(self, request: Any) -> Any:
        return (yield from self._see("authorize", request))

    @paygate.hookimpl(wrapper=True)
    def paygate_capture(self, request: Any) -> Any:
        return (yield from self._see("capture", request))

    @paygate.hookimpl(wrapper=True)
    def paygate_void(self, request: Any) -> Any:
        return (yield from self._see("void", request))

    @paygate.hookimpl(wrapper=True)
    def paygate_refund(self, request: Any) -> Any:
        return (yield from self._see("refund", request))

    @paygate.hookimpl(wrapper=True)
    def paygate_confirm(self, request: Any) -> Any:
        return (yield from self._see("confirm", request))

    @paygate.hookimpl(wrapper=True)
    def paygate_charge_recurring(self, request: Any) -> Any:
        return (yield from self._see("charge_recurring", request))

    @paygate.hookimpl(wrapper=True)
    def paygate_store_payment_method(self, request: Any) -> Any:
        return (yield from self._see("store_payment_method", request))

    @paygate.hookimpl(wrapper=True)
    def paygate_fetch_transaction(self, request: Any) -> Any:
        return (yield from self._see("fetch_transaction", request))

    @paygate.hookimpl(wrapper=True)
    def paygate_parse_webhook(self, request: Any) -> Any:
        return (yield from self._see("parse_webhook", request))


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def core(recorder: Recorder) -> Iterator[paygate.Payments]:
    """The facade on the sandbox, memory ledger, no installed plugins."""
    with paygate.Payments(
        {"database_url": "memory"}, plugins=[recorder], load_entrypoints=False
    ) as p:
        yield p


@pytest.fixture
def sandbox(core: paygate.Payments) -> SandboxProvider:
    plugin: SandboxProvider = core.plugin("sandbox")
    return plugin

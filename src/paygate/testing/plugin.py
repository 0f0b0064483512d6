"""The pytest plugin registered under ``pytest11``: paygate's fixtures.

Installed with paygate, active in every pytest run (no ``conftest.py`` needed):

``paygate_config``
    the configuration mapping the fixtures below use (override it in your
    ``conftest.py``); default ``{"database_url": "memory"}``.
``paygate_load_entrypoints``
    whether ``payments`` loads installed plugins; default ``False``, so a
    test sees the built-ins (sandbox provider, ledger, routing) and what it
    registers itself, whatever else is installed.
``payments``
    a fresh :class:`paygate.Payments` per test on the sandbox with an
    in-memory ledger.
``paygate_manager``
    that facade's plugin manager (a fresh one per test).
``register_plugin``
    ``register_plugin(obj)`` registers a plugin object on ``paygate_manager``
    for one test and unregisters it afterwards.
``hook_recorder``
    a :class:`~paygate.testing.recorder.HookRecorder` on ``paygate_manager``.
``sandbox``
    the sandbox provider object of ``payments`` (``.inject()``,
    ``.make_webhook()``, ``.calls``).
``assert_no_secrets``
    the function :func:`paygate.testing.assert_no_secrets`.
``no_proxy_environment``
    clears the proxy variables (``HTTPS_PROXY``, ``NO_PROXY``... in either
    case, :data:`paygate.proxies.PROXY_VARIABLES`) for one test, so a test of
    proxy handling sets exactly what it means to.

After a run, the terminal summary lists every conformance check a provider
waived (``waivers``, ``known_gaps``) with the author's reason. After a run
where conformance tests failed because a hook raised
``NotImplementedError`` (the stubs ``paygate new-plugin`` writes), the
terminal summary lists the hooks left to implement.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pytest

from paygate.proxies import PROXY_VARIABLES
from paygate.testing.recorder import HookRecorder
from paygate.testing.secrets import assert_no_secrets as _assert_no_secrets

if TYPE_CHECKING:
    from paygate.manager import PaygatePluginManager
    from paygate.payments import Payments

_TODO_KEY = pytest.StashKey[dict[str, list[str]]]()
_STUBS_KEY = pytest.StashKey[dict[str, set[str]]]()
_WAIVERS_KEY = pytest.StashKey[dict[tuple[str, str], str]]()
_HOOK_IN_MESSAGE = re.compile(r"failed in (paygate_\w+)")


@pytest.fixture
def paygate_config() -> dict[str, Any]:
    """The configuration of the ``payments`` fixture. Override to change it."""
    return {"database_url": "memory"}


@pytest.fixture
def paygate_load_entrypoints() -> bool:
    """Whether ``payments`` loads installed plugins (entry-point group ``paygate``)."""
    return False


@pytest.fixture
def payments(
    paygate_config: Mapping[str, Any], paygate_load_entrypoints: bool
) -> Iterator[Payments]:
    """A fresh facade per test: sandbox provider, in-memory ledger."""
    from paygate.payments import Payments

    facade = Payments(dict(paygate_config), load_entrypoints=paygate_load_entrypoints)
    try:
        yield facade
    finally:
        facade.close()


@pytest.fixture
def paygate_manager(payments: Payments) -> PaygatePluginManager:
    """The plugin manager of this test's ``payments`` (fresh per test)."""
    return payments.plugin_manager


@pytest.fixture
def register_plugin(paygate_manager: PaygatePluginManager) -> Iterator[Callable[..., str]]:
    """``register_plugin(obj, name=None)``: register for this test only.

    ``paygate_configure`` is historic, so the plugin receives the
    configuration on registration, like an installed one.
    """
    registered: list[object] = []

    def register(plugin: object, name: str | None = None) -> str:
        plugin_name = paygate_manager.register(plugin, name=name)
        if plugin_name is None:
            raise ValueError(f"plugin {plugin!r} was not registered (blocked or already there)")
        registered.append(plugin)
        return plugin_name

    yield register
    for plugin in reversed(registered):
        if paygate_manager.is_registered(plugin):
            paygate_manager.unregister(plugin)


@pytest.fixture
def hook_recorder(paygate_manager: PaygatePluginManager) -> Iterator[HookRecorder]:
    """Every hook call made through ``paygate_manager`` during the test."""
    recorder = HookRecorder(paygate_manager)
    try:
        yield recorder
    finally:
        recorder.stop()


@pytest.fixture
def sandbox(payments: Payments) -> Any:
    """The built-in sandbox provider of ``payments``."""
    return payments.plugin("sandbox")


@pytest.fixture
def no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy variable in the environment for this test."""
    for name in list(os.environ):
        if name.lower() in PROXY_VARIABLES:
            monkeypatch.delenv(name)


@pytest.fixture
def assert_no_secrets() -> Callable[..., None]:
    """:func:`paygate.testing.assert_no_secrets`, as a fixture."""
    return _assert_no_secrets


# -- "left to implement" summary ------------------------------------------------


def _not_implemented_hook(exc: BaseException | None) -> str | None:
    """The hook whose stub raised ``NotImplementedError``, if that is what failed."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, NotImplementedError):
            tb = exc.__traceback__
            name = None
            while tb is not None:
                if tb.tb_frame.f_code.co_name.startswith("paygate_"):
                    name = tb.tb_frame.f_code.co_name
                tb = tb.tb_next
            return name or "a hook"
        cause = exc.__cause__ or exc.__context__
        if cause is None and type(exc).__name__ == "PluginError":
            found = _HOOK_IN_MESSAGE.search(str(exc))
            if found and "NotImplementedError" in str(exc):
                return found.group(1)
        exc = cause
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if call.when == "call" and call.excinfo is not None:
        hook = _not_implemented_hook(call.excinfo.value)
        if hook is not None:
            todo = item.config.stash.setdefault(_TODO_KEY, {})
            todo.setdefault(hook, []).append(item.nodeid)
    return report


def record_stubs(config: pytest.Config, provider: str, hooks: set[str]) -> None:
    """Remember ``provider``'s hooks that still raise ``NotImplementedError``
    (called by the conformance suite), for the end-of-run summary."""
    if hooks:
        config.stash.setdefault(_STUBS_KEY, {}).setdefault(provider, set()).update(hooks)


def record_waiver(config: pytest.Config, provider: str, name: str, reason: str) -> None:
    """Remember a check ``provider`` waived (a declared waiver or known gap),
    with the author's reason, for the end-of-run summary."""
    config.stash.setdefault(_WAIVERS_KEY, {})[(provider, name)] = reason


def _summarize_waivers(terminalreporter: Any, config: pytest.Config) -> None:
    waivers = config.stash.get(_WAIVERS_KEY, {})
    if not waivers:
        return
    terminalreporter.section("paygate: waived conformance checks")
    for (provider, name), reason in sorted(waivers.items()):
        terminalreporter.write_line(f"{provider}: {name}: {reason}")


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    _summarize_waivers(terminalreporter, config)
    todo = config.stash.get(_TODO_KEY, None)
    stubs = config.stash.get(_STUBS_KEY, {})
    if not todo and not stubs:
        return
    terminalreporter.section("paygate: left to implement")
    for provider, hooks in sorted(stubs.items()):
        terminalreporter.write_line(
            f"{provider}: {len(hooks)} hook(s) still raise NotImplementedError: "
            + ", ".join(sorted(hooks))
        )
    todo = todo or {}
    for hook in sorted(todo):
        tests = todo[hook]
        terminalreporter.write_line(
            f"{hook}: raises NotImplementedError ({len(tests)} failing test(s), "
            f"e.g. {tests[0].split('::')[-1]})"
        )

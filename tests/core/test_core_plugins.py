"""The plugin manager: loading, skipping broken plugins by name, routing, tracing."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import textwrap
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest
from core_helpers import card, usd

import paygate
from paygate import manager as manager_module
from paygate.errors import CardDeclined, ConfigurationError, PluginError
from paygate.hookspecs import _all_hooks
from paygate.manager import PluginLoadWarning, make_plugin_manager
from paygate.models import ProviderInfo, TransactionStatus
from paygate.operations import ProviderResult


def _fake_entry_points(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, source: str, name: str = "broken"
) -> None:
    """A throwaway third-party plugin module, announced through a fake entry point."""
    module = f"paygate_fake_{name}"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    eps = [EntryPoint(name=name, value=f"{module}:Plugin", group="paygate")]
    monkeypatch.setattr(manager_module, "entry_points", lambda group: eps)


def test_builtins_are_ordinary_plugins() -> None:
    pm = make_plugin_manager(paygate.Config({"database_url": "memory"}), load_entrypoints=False)
    names = {name for name, _ in pm.list_name_plugin()}
    assert {"sandbox", "ledger", "routing", "guard"} <= names
    assert list(pm.providers()) == ["sandbox"]


def test_hookspecs_are_prefixed_and_documented() -> None:
    hooks = _all_hooks()
    # 15 + paygate_secret_patterns + the billing phase (7, with dunning_end)
    # + the documents hooks (5)
    assert len(hooks) == 28
    for name, fn in hooks.items():
        assert name.startswith("paygate_")
        doc = fn.__doc__ or ""
        assert ":returns:" in doc, name
        for arg in fn.__code__.co_varnames[: fn.__code__.co_argcount]:
            assert f":param {arg}:" in doc, (name, arg)


def test_broken_plugin_is_skipped_with_a_warning_naming_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _fake_entry_points(monkeypatch, tmp_path, "raise RuntimeError('boom at import')\n")
    with pytest.warns(PluginLoadWarning, match="'broken'.*boom at import"):
        p = paygate.Payments({"database_url": "memory"})
    assert p.purchase(usd("1.00"), card()).status is TransactionStatus.CAPTURED
    assert p.plugin_manager.load_errors[0][0] == "broken"


def test_strict_mode_makes_a_broken_plugin_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _fake_entry_points(monkeypatch, tmp_path, "raise RuntimeError('boom')\n")
    monkeypatch.setenv("PAYGATE_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError) as info:
        paygate.Payments({"database_url": "memory"})
    assert info.value.plugin == "broken"


def test_plugin_with_an_unknown_hook_is_skipped(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _fake_entry_points(
        monkeypatch,
        tmp_path,
        """
        import paygate
        class Plugin:
            @paygate.hookimpl
            def paygate_authorise(self, request):  # misspelt
                return None
    """,
        name="typo",
    )
    with pytest.warns(PluginLoadWarning, match="'typo'.*paygate_authorise"):
        p = paygate.Payments({"database_url": "memory"})
    assert not p.plugin_manager.has_plugin("typo")


def test_plugin_failing_in_configure_is_skipped(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _fake_entry_points(
        monkeypatch,
        tmp_path,
        """
        import paygate
        class Plugin:
            @paygate.hookimpl
            def paygate_configure(self, config):
                {}["missing"]
    """,
        name="badconf",
    )
    with pytest.warns(PluginLoadWarning, match="'badconf'.*KeyError"):
        p = paygate.Payments({"database_url": "memory"})
    assert p.purchase(usd("1.00"), card()).status is TransactionStatus.CAPTURED


def test_disabled_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYGATE_DISABLED_PLUGINS", "routing, sandbox")
    pm = make_plugin_manager(paygate.Config({"database_url": "memory"}), load_entrypoints=False)
    assert not pm.has_plugin("sandbox") and not pm.has_plugin("routing")
    monkeypatch.setenv("PAYGATE_DISABLED_PLUGINS", "ledger")
    with pytest.raises(ConfigurationError):
        make_plugin_manager(paygate.Config({"database_url": "memory"}), load_entrypoints=False)


class _Gateway:
    """A minimal provider that records which calls reach it."""

    def __init__(self, name: str) -> None:
        self.provider_name = name
        self.calls: list[str] = []

    @paygate.hookimpl
    def paygate_provider_info(self) -> ProviderInfo:
        return ProviderInfo(name=self.provider_name)

    @paygate.hookimpl
    def paygate_authorize(self, request: Any) -> ProviderResult:
        self.calls.append(request.transaction_id)
        return ProviderResult(
            status=TransactionStatus.AUTHORIZED, provider_reference=f"{self.provider_name}_1"
        )


def test_operations_reach_exactly_one_provider() -> None:
    alpha, beta = _Gateway("alpha"), _Gateway("beta")
    p = paygate.Payments(
        {"database_url": "memory", "default_provider": "beta"},
        plugins=[alpha, beta],
        load_entrypoints=False,
    )
    tx = p.authorize(usd("5.00"), card(), provider="alpha")
    assert tx.provider == "alpha" and alpha.calls == [tx.id] and beta.calls == []
    tx = p.authorize(usd("5.00"), card())  # routed by default_provider
    assert tx.provider == "beta" and beta.calls == [tx.id] and len(alpha.calls) == 1


def test_routing_plugin_decides_before_the_default() -> None:
    alpha, beta = _Gateway("alpha"), _Gateway("beta")

    class EuroToBeta:
        @paygate.hookimpl
        def paygate_select_provider(self, request: Any, candidates: Any) -> str | None:
            return "beta" if request.amount.currency == "EUR" else None

    p = paygate.Payments(
        {"database_url": "memory", "default_provider": "alpha"},
        plugins=[alpha, beta, EuroToBeta()],
        load_entrypoints=False,
    )
    assert p.authorize(paygate.Money("5.00", "EUR"), card()).provider == "beta"
    assert p.authorize(usd("5.00"), card()).provider == "alpha"


def test_a_plugin_bug_is_a_plugin_error_not_a_decline() -> None:
    class Buggy:
        @paygate.hookimpl
        def paygate_provider_info(self) -> ProviderInfo:
            return ProviderInfo(name="buggy")

        @paygate.hookimpl
        def paygate_authorize(self, request: Any) -> None:
            raise ZeroDivisionError("oops 4242424242424242")

    p = paygate.Payments({"database_url": "memory"}, plugins=[Buggy()], load_entrypoints=False)
    with pytest.raises(PluginError) as info:
        p.authorize(usd("5.00"), card(), provider="buggy")
    assert not isinstance(info.value, CardDeclined)
    assert "buggy" in info.value.message and "ZeroDivisionError" in info.value.message
    assert "4242424242424242" not in info.value.message  # scrubbed


def test_debug_trace_is_redacted(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PAYGATE_DEBUG", "1")
    caplog.set_level(logging.DEBUG, logger="paygate")
    p = paygate.Payments({"database_url": "memory"}, load_entrypoints=False)
    p.purchase(usd("5.00"), card("4000002500003155", "987"))
    text = caplog.text
    assert "call paygate_authorize" in text
    assert "4000002500003155" not in text
    # Ids and keys are random hex: "987" inside one of them is no CVC.
    assert not re.search(r"(?<![0-9a-f.])987(?![0-9a-f])", text)


def test_import_does_not_build_a_manager() -> None:
    code = (
        "import paygate, paygate.manager as m, sys; "
        "assert 'paygate.payments' not in sys.modules; "
        "assert 'stripe' not in sys.modules and 'paypalserversdk' not in sys.modules; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"

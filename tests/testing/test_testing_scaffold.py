"""``paygate new-plugin`` writes stubs for what the plugin claims, and nothing else."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from click.testing import CliRunner

from paygate.cli import main
from paygate.cli.new_plugin import CAPABILITY_HOOKS, render_plugin
from paygate.testing import conformance


def _plugin(root: Path) -> tuple[set[str], set[str]]:
    """(hook methods, claimed capabilities) of the generated plugin.py."""
    source = next(root.glob("src/*/plugin.py")).read_text()
    tree = ast.parse(source)
    hooks = {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.name.startswith("paygate_")
    }
    caps = {
        kw.arg
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Capabilities"
        for kw in node.keywords
        if kw.arg is not None
    }
    return hooks, caps


SETUP = {"paygate_configure", "paygate_provider_info", "paygate_calculate_fees"}


def test_the_default_scaffold_stubs_only_what_it_claims(tmp_path: Path) -> None:
    render_plugin("acme", tmp_path)
    hooks, caps = _plugin(tmp_path)
    assert caps == {"authorize", "capture", "void", "refund", "partial_refund"}
    assert hooks - SETUP == {
        "paygate_authorize",
        "paygate_capture",
        "paygate_void",
        "paygate_refund",
        "paygate_fetch_transaction",
    }


@pytest.mark.parametrize(
    ("capability", "hook"),
    [
        ("webhooks", "paygate_parse_webhook"),
        ("three_d_secure", "paygate_confirm"),
        ("recurring", "paygate_charge_recurring"),
        ("store_payment_method", "paygate_store_payment_method"),
    ],
)
def test_a_claimed_capability_brings_its_hook(tmp_path: Path, capability: str, hook: str) -> None:
    render_plugin("acme", tmp_path, [capability])
    hooks, caps = _plugin(tmp_path)
    assert capability in caps and hook in hooks
    for other in {"paygate_parse_webhook", "paygate_confirm", "paygate_charge_recurring"} - {hook}:
        if other not in {h for c in caps for h in CAPABILITY_HOOKS[c]}:
            assert other not in hooks


def test_recurring_claims_stored_payment_methods(tmp_path: Path) -> None:
    render_plugin("acme", tmp_path, ["recurring"])
    source = next(tmp_path.glob("src/*/plugin.py")).read_text()
    assert 'payment_methods=frozenset({"card", "stored"})' in source
    assert "store_payment_method" in _plugin(tmp_path)[1]


def test_the_scaffold_agrees_with_the_kit_on_which_hooks_a_capability_needs() -> None:
    assert CAPABILITY_HOOKS == conformance.CAPABILITY_HOOKS


def test_the_pyproject_names_the_recommended_http_client(tmp_path: Path) -> None:
    render_plugin("acme", tmp_path)
    assert '"requests>=' in (tmp_path / "pyproject.toml").read_text()


def test_the_command_prints_the_stub_count(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["new-plugin", "acme", "-d", str(tmp_path / "p"), "-c", "webhooks"]
    )
    assert result.exit_code == 0, result.output
    assert "6 hook stub(s) to implement:" in result.output
    assert "paygate_parse_webhook" in result.output

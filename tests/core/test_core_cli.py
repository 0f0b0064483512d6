"""The ``paygate`` command: version, plugins, demo, errors."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from paygate import __version__
from paygate.cli import main


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_version(runner: CliRunner) -> None:
    result = runner.invoke(main, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_plugins_lists_builtins_with_hooks(runner: CliRunner) -> None:
    result = runner.invoke(main, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)["plugins"]}
    assert {"sandbox", "ledger", "routing", "guard"} <= set(rows)
    assert "paygate_authorize" in rows["sandbox"]["hooks"]
    assert rows["sandbox"]["provider"] == "sandbox"
    assert "three_d_secure" in rows["sandbox"]["capabilities"]
    assert rows["ledger"]["provider"] is None
    table = runner.invoke(main, ["plugins"])
    assert table.exit_code == 0 and "sandbox" in table.output


def test_demo_runs_the_story(runner: CliRunner, tmp_path: Path) -> None:
    db = tmp_path / "demo.sqlite3"
    result = runner.invoke(main, ["demo", "--database", str(db)])
    assert result.exit_code == 0, result.output
    for step in (
        "verify",
        "refund",
        "card_declined",
        "requires_action",
        "confirm",
        "charge_recurring",
        "permission_denied",
    ):
        assert step in result.output
    assert str(db) in result.output.replace("\n", "")
    with sqlite3.connect(db) as conn:
        ops = conn.execute("select operation, state from paygate_operations").fetchall()
    assert ("verify", "succeeded") in ops and ("refund", "succeeded") in ops
    assert "4242424242424242" not in result.output


def test_paygate_errors_are_one_line_not_a_traceback(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("rounding = 'ROUND_SIDEWAYS'\n")
    result = runner.invoke(main, ["--config", str(bad), "plugins"])
    assert result.exit_code == 2
    assert "config_error" in result.output and "Traceback" not in result.output

"""``paygate quote`` and ``paygate fees`` via click's runner, pricing rules installed."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner

from paygate.cli.pricing import fees_command, quote_command

CONFIG: dict[str, Any] = {"database_url": "memory"}


def run(command: Any, args: list[str], config: dict[str, Any] | None = None) -> Any:
    obj = {"config": {**CONFIG, **(config or {})}}
    return CliRunner().invoke(command, args, obj=obj, terminal_width=160)


def test_quote_annual_nonprofit_prints_every_line() -> None:
    result = run(
        quote_command,
        ["--plan", "pro=25.00", "--annual", "--nonprofit"],
        {"pricing": {"nonprofit_discount": "0.25"}},
    )
    assert result.exit_code == 0, result.output
    out = result.output
    # 300.00 list, -60.00 annual, -60.00 nonprofit, 180.00 total
    assert "$300.00" in out
    assert out.count("-$60.00") == 2
    assert "Annual billing discount (20 %)" in out
    assert "Nonprofit discount (25 %)" in out
    assert "$180.00" in out


def test_quote_nonprofit_rate_option_and_json() -> None:
    result = run(
        quote_command,
        [
            "--plan",
            "pro=25.00",
            "--addon",
            "rec=5.00x2",
            "--nonprofit",
            "--nonprofit-discount",
            "0.10",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    # monthly: 25.00 + 2 × 5.00 = 35.00; -10 % = -3.50; 31.50
    assert data["total"] == {"amount": "31.50", "currency": "USD"}
    assert [line["code"] for line in data["lines"]] == ["pro", "rec", "nonprofit_discount"]


def test_quote_warns_when_no_nonprofit_rate_is_set() -> None:
    result = run(quote_command, ["--plan", "pro=25.00", "--nonprofit"])
    assert result.exit_code == 0, result.output
    assert "No nonprofit discount applied" in result.output


def test_quote_rejects_a_malformed_item() -> None:
    result = run(quote_command, ["--plan", "pro:25"])
    assert result.exit_code == 2
    assert "SKU=PRICE" in result.output


def test_fees_ticket_on_the_sandbox() -> None:
    result = run(fees_command, ["100.00", "--provider", "sandbox", "--kind", "ticket", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    codes = [line["code"] for line in data["lines"]]
    assert "platform_service_fee" in codes
    assert data["gross"] == {"amount": "100.00", "currency": "USD"}
    table = run(fees_command, ["100.00", "--kind", "ticket"])
    assert table.exit_code == 0, table.output
    assert "Net payout" in table.output
    assert "-$5.00" in table.output


def test_fees_bad_amount_is_a_clean_error() -> None:
    result = run(fees_command, ["12.345"])
    assert result.exit_code == 1
    assert "decimals" in result.output

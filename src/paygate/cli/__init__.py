"""The ``paygate`` command: plugins, demo, quote, fees, reconcile, new-plugin."""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from paygate import __version__
from paygate.errors import PaygateError


def _payments(ctx: click.Context, **overrides: Any) -> Any:
    from paygate.config import Config
    from paygate.payments import Payments

    obj = ctx.obj if isinstance(ctx.obj, dict) else {}
    data = Config.load(obj.get("config")).as_dict()
    data.update(overrides)
    return Payments(data)


class _Group(click.Group):
    """Reports a paygate error as one clear line and exit code 2, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PaygateError as exc:
            Console(stderr=True).print(f"[red]error[/red] ({exc.code.value}): {exc.message}")
            ctx.exit(2)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="paygate")
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False),
    envvar="PAYGATE_CONFIG",
    help="TOML configuration file (default: $PAYGATE_CONFIG).",
)
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """paygate: one payment API, whatever the gateway."""
    ctx.ensure_object(dict)
    ctx.obj["config"] = config_path


@main.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def plugins_command(ctx: click.Context, as_json: bool) -> None:
    """List installed plugins, the hooks they implement and provider capabilities."""
    from paygate.ledger.durability import describe

    payments = _payments(ctx, database_url="memory")
    rows = payments.plugin_manager.plugin_rows()
    skipped = payments.plugin_manager.load_errors
    # The configured level (this command opens no database of its own).
    durability = payments.config.durability
    if as_json:
        out = {
            "plugins": rows,
            "skipped": [m for _, m in skipped],
            "ledger": {"durability": durability, "detail": describe(durability)},
        }
        click.echo(json.dumps(out, indent=2))
        return
    table = Table(title=f"paygate {__version__}: plugins", show_lines=True)
    for column in ("plugin", "distribution", "hooks", "provider capabilities"):
        table.add_column(column)
    for row in rows:
        caps = ""
        if row["provider"]:
            mode = "test" if row["test_mode"] else "live"
            ccy = ", ".join(row["currencies"]) if row["currencies"] else "any currency"
            caps = f"[bold]{row['provider']}[/bold] ({mode}; {ccy})\n" + ", ".join(
                row["capabilities"]
            )
        table.add_row(
            row["name"],
            f"{row['distribution']} {row['version']}",
            "\n".join(row["hooks"]),
            caps,
        )
    console = Console()
    console.print(table)
    colour = "green" if durability == "durable" else "yellow"
    console.print(f"ledger durability: [{colour}]{describe(durability)}[/{colour}]")
    for _, message in skipped:
        console.print(f"[yellow]skipped[/yellow] {message}")


@main.command("demo")
@click.option(
    "--database",
    default="paygate-demo.sqlite3",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="SQLite file for the demo's ledger (replaced on each run).",
)
@click.option(
    "--provider",
    default="sandbox",
    show_default=True,
    help="Provider for the card steps (sandbox, or stripe with STRIPE_API_KEY / api_base).",
)
@click.option(
    "--localstripe",
    is_flag=True,
    help="With --provider stripe: run against localstripe on 127.0.0.1 "
    "(needs paygate-stripe[test]).",
)
@click.pass_context
def demo_command(ctx: click.Context, database: str, provider: str, localstripe: bool) -> None:
    """Run the seed's billing story end to end and print each step."""
    from paygate.cli.demo import run_demo

    obj = ctx.obj if isinstance(ctx.obj, dict) else {}
    if localstripe and provider != "stripe":
        raise click.UsageError("--localstripe goes with --provider stripe")
    code = run_demo(
        database=database,
        provider=provider,
        config_path=obj.get("config"),
        localstripe=localstripe,
    )
    sys.exit(code)


def _add_commands() -> None:
    from paygate.cli.billing import billing_group
    from paygate.cli.invoices import invoices_group
    from paygate.cli.new_plugin import new_plugin_command
    from paygate.cli.pricing import fees_command, quote_command
    from paygate.cli.reconcile import reconcile_command
    from paygate.cli.serve import serve_command

    main.add_command(quote_command, "quote")
    main.add_command(fees_command, "fees")
    main.add_command(reconcile_command, "reconcile")
    main.add_command(new_plugin_command, "new-plugin")
    main.add_command(billing_group, "billing")
    main.add_command(serve_command, "serve")
    main.add_command(invoices_group, "invoices")


_add_commands()

__all__ = ["main"]

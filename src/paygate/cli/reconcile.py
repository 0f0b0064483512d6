"""``paygate reconcile``: settle operations whose outcome is unknown."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table


@click.command("reconcile")
@click.option(
    "--pending-older-than",
    type=click.FloatRange(min=0),
    default=300.0,
    show_default=True,
    metavar="SECONDS",
    help="Also settle operations still pending after this long (their process died). "
    "Keep it above your longest provider call.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def reconcile_command(ctx: click.Context, pending_older_than: float, as_json: bool) -> None:
    """Ask each provider what became of every operation whose answer was lost.

    Exits with status 1 when some operations are still unknown (the provider
    could not be reached): run it again later.
    """
    import json

    from paygate.config import Config
    from paygate.payments import Payments

    obj = ctx.obj if isinstance(ctx.obj, dict) else {}
    with Payments(Config.load(obj.get("config"))) as payments:
        report = payments.reconcile(pending_older_than=pending_older_than)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "checked": report.checked,
                    "settled": report.settled,
                    "succeeded": report.succeeded,
                    "failed": report.failed,
                    "still_unknown": report.still_unknown,
                    "details": report.details,
                },
                indent=2,
            )
        )
    else:
        console = Console()
        if not report.details:
            console.print("Nothing to reconcile: no unknown or stale pending operation.")
        else:
            table = Table(title="paygate reconcile")
            for column in ("transaction", "operation", "idempotency key", "outcome"):
                table.add_column(column)
            colour = {"succeeded": "green", "failed": "yellow", "unknown": "red"}
            for row in report.details:
                outcome = row["outcome"]
                style = colour.get(outcome, "")
                table.add_row(
                    row["transaction_id"],
                    row["operation"],
                    row["idempotency_key"],
                    f"[{style}]{outcome}[/{style}]" if style else outcome,
                )
            console.print(table)
        console.print(
            f"checked {report.checked}: {report.succeeded} succeeded, {report.failed} failed "
            f"(never happened), {report.still_unknown} still unknown"
        )
    if report.still_unknown:
        ctx.exit(1)


__all__ = ["reconcile_command"]

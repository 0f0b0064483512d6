"""``paygate billing``: run renewals, show an account's billing details,
simulate subscriptions through months."""

from __future__ import annotations

import signal
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table


def _billing(ctx: click.Context, catalog: str | None, **kw: Any) -> Any:
    from paygate.billing import Billing, Catalog
    from paygate.config import Config
    from paygate.payments import Payments

    obj = ctx.obj if isinstance(ctx.obj, dict) else {}
    config = Config.load(obj.get("config"))
    path = catalog or config.section("billing").get("catalog")
    cat = Catalog.load(path) if path else None
    return Billing(Payments(config), catalog=cat, **kw)


@click.group("billing")
def billing_group() -> None:
    """Subscriptions and renewals (paygate.billing)."""


@billing_group.command("run")
@click.option("--loop", is_flag=True, help="Keep running, one pass every --interval seconds.")
@click.option("--interval", type=click.FloatRange(min=0.1), default=60.0, show_default=True)
@click.option("--batch", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--lease", type=click.FloatRange(min=1), default=120.0, show_default=True)
@click.option("--worker", default=None, help="A name for this worker (default: random).")
@click.option("--catalog", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--max-runs", type=click.IntRange(min=1), default=None, hidden=True)
@click.pass_context
def run_command(
    ctx: click.Context,
    loop: bool,
    interval: float,
    batch: int,
    lease: float,
    worker: str | None,
    catalog: str | None,
    max_runs: int | None,
) -> None:
    """Renew, retry and end what is due. Schedule it from cron (one pass) or
    run it with --loop; on PostgreSQL start as many as you like."""
    billing = _billing(ctx, catalog)
    console = Console()
    stop = {"now": False}

    def _stop(*_: object) -> None:
        stop["now"] = True

    if loop:
        signal.signal(signal.SIGTERM, _stop)
    runs = 0
    try:
        while True:
            report = billing.run_once(batch=batch, lease_seconds=lease, worker=worker)
            runs += 1
            console.print(
                f"claimed {report.claimed}, renewed {report.renewed}, paid {report.paid}, "
                f"failed {report.failed}, unknown {report.unknown}, canceled {report.canceled}, "
                f"parked {report.parked}, resumed {report.resumed}, "
                f"settled {report.settled}, refunded {report.refunded}"
            )
            if not loop or stop["now"] or (max_runs is not None and runs >= max_runs):
                break
            deadline = time.monotonic() + interval
            while time.monotonic() < deadline and not stop["now"]:
                time.sleep(min(0.2, interval))
            if stop["now"]:
                break
    finally:
        billing.payments.close()


@billing_group.command("details")
@click.argument("account")
@click.option("--actor", required=True, help="The host user asking (the owner sees billing).")
@click.option("--catalog", type=click.Path(exists=True, dir_okay=False), default=None)
@click.pass_context
def details_command(ctx: click.Context, account: str, actor: str, catalog: str | None) -> None:
    """Show ACCOUNT's billing details as its owner sees them."""
    from paygate.billing import Actor

    billing = _billing(ctx, catalog)
    try:
        d = billing.details(Actor.user(actor), account)
    finally:
        billing.payments.close()
    print_details(Console(), d)


@billing_group.command("pay")
@click.argument("invoice")
@click.option("--actor", required=True, help="The host user paying (the account's owner).")
@click.option("--catalog", type=click.Path(exists=True, dir_okay=False), default=None)
@click.pass_context
def pay_command(ctx: click.Context, invoice: str, actor: str, catalog: str | None) -> None:
    """Charge INVOICE (open, or given up on by dunning) now with the account's
    payment method; the subscription is active again once nothing is unpaid."""
    from paygate.billing import Actor

    billing = _billing(ctx, catalog)
    try:
        inv = billing.pay(Actor.user(actor), invoice)
    finally:
        billing.payments.close()
    Console().print(f"invoice {inv.id}: {inv.status} ({inv.total})")


@billing_group.command("release")
@click.argument("subscription")
@click.option("--staff", required=True, help="The billing staff member releasing it.")
@click.option("--catalog", type=click.Path(exists=True, dir_okay=False), default=None)
@click.pass_context
def release_command(ctx: click.Context, subscription: str, staff: str, catalog: str | None) -> None:
    """Take SUBSCRIPTION, parked for review (needs_review), back to active
    after a person looked at why it was parked."""
    from paygate.billing import Actor

    billing = _billing(ctx, catalog)
    try:
        sub = billing.release(Actor.staff_member(staff), subscription)
    finally:
        billing.payments.close()
    Console().print(f"subscription {sub.id}: {sub.status}")


def print_details(console: Console, d: Any) -> None:
    table = Table(title=f"Billing details: {d.account_id}", show_header=False)
    table.add_column("what")
    table.add_column("value")
    size = f" ({d.plan_size} attendees)" if d.plan_size else ""
    table.add_row("Plan", f"{d.plan}{size}")
    table.add_row("Payment schedule", f"{d.cycle} ({d.schedule})")
    table.add_row("Price", str(d.price))
    table.add_row("Status", d.status)
    table.add_row("Renewal date", d.renewal_date.isoformat() if d.renewal_date else "-")
    for metric, (included, used, left) in sorted(d.allowances.items()):
        table.add_row(f"Free {metric}", f"{left} left of {included} ({used} used)")
    table.add_row("Payment method", d.payment_method or "-")
    table.add_row("Add-ons", ", ".join(f"{n} x {q}" for n, q in d.addons) or "-")
    nxt = "; ".join(f"{ln.description}: {ln.amount}" for ln in d.next_charge)
    table.add_row("Next charge", f"{d.next_charge_total}" + (f" ({nxt})" if nxt else ""))
    console.print(table)


def _at(value: str) -> tuple[date, str]:
    day, _, arg = value.partition("=")
    try:
        return date.fromisoformat(day), arg
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: write DATE or DATE=VALUE (2027-03-15=webinar/s100)"
        ) from None


@billing_group.command("demo")
@click.option(
    "--pdf-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the invoice PDFs go (default: a new temporary folder, kept and named).",
)
def demo_command(pdf_dir: Path | None) -> None:
    """The seed's billing story end to end on the sandbox (a simulated year),
    ending with the seed's invoice correction."""
    import sys

    from paygate.billing.demo import run_billing_demo

    out = pdf_dir or Path(tempfile.mkdtemp(prefix="paygate-invoices-"))
    with tempfile.TemporaryDirectory(prefix="paygate-billing-demo-") as tmp:
        code = run_billing_demo(Path(tmp) / "demo.sqlite3", click.echo, pdf_dir=out)
    sys.exit(code)


@billing_group.command("simulate")
@click.option("--from", "start", default="2027-01-31", show_default=True, help="First day.")
@click.option("--months", type=click.IntRange(min=1, max=600), default=14, show_default=True)
@click.option("--plan", default="webinar/s25", show_default=True)
@click.option("--cycle", default="monthly", show_default=True)
@click.option("--currency", default="USD", show_default=True)
@click.option("--timezone", default="Europe/Paris", show_default=True)
@click.option("--subscriptions", "count", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--upgrade", multiple=True, help="DATE=PLAN: upgrade that day (prorated).")
@click.option("--addon", multiple=True, help="DATE=ADDON: buy an add-on that day.")
@click.option("--freeze", multiple=True, help="DATE=DAYS: freeze that day.")
@click.option("--decline", multiple=True, help="DATE: the card starts declining that day.")
@click.option("--new-card", multiple=True, help="DATE: a new card is added that day.")
@click.option("--quiet", is_flag=True, help="Print only the summary.")
@click.option("--catalog", type=click.Path(exists=True, dir_okay=False), default=None)
def simulate_command(
    start: str,
    months: int,
    plan: str,
    cycle: str,
    currency: str,
    timezone: str,
    count: int,
    upgrade: tuple[str, ...],
    addon: tuple[str, ...],
    freeze: tuple[str, ...],
    decline: tuple[str, ...],
    new_card: tuple[str, ...],
    quiet: bool,
    catalog: str | None,
) -> None:
    """Time-travel subscriptions through months on the sandbox and print each
    invoice. The clock jumps from one due date to the next: nothing runs per
    simulated day."""
    from paygate.billing.simulate import Script, simulate

    script = Script(
        upgrades=[_at(v) for v in upgrade],
        addons=[_at(v) for v in addon],
        freezes=[(d, int(a or 30)) for d, a in (_at(v) for v in freeze)],
        declines=[d for d, _ in (_at(v) for v in decline)],
        new_cards=[d for d, _ in (_at(v) for v in new_card)],
    )
    with tempfile.TemporaryDirectory(prefix="paygate-simulate-") as tmp:
        started = time.perf_counter()
        result = simulate(
            database=Path(tmp) / "simulate.sqlite3",
            start=datetime.combine(_at(start)[0], datetime.min.time(), tzinfo=UTC)
            + timedelta(hours=12),
            months=months,
            plan=plan,
            cycle=cycle,
            currency=currency,
            timezone=timezone,
            count=count,
            script=script,
            catalog_path=catalog,
            echo=None if quiet else click.echo,
        )
        took = time.perf_counter() - started
    click.echo(
        f"{result.invoices} invoices ({result.paid} paid, {result.open} open, "
        f"{result.uncollectible} uncollectible) for {count} subscription(s) over {months} "
        f"months, {result.runs} runner passes, {took:.2f} s"
    )

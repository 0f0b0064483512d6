"""``paygate quote`` and ``paygate fees``: price breakdowns as rich tables."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table

from paygate.errors import PaygateError
from paygate.money import Money

if TYPE_CHECKING:
    from paygate.pricing.models import FeeBreakdown, LineItem, Quote

_ITEM = re.compile(r"^(?P<sku>[^=]+)=(?P<price>[0-9]+(?:\.[0-9]+)?)(?:[x×](?P<qty>[0-9]+))?$")


def _config(ctx: click.Context, pricing: dict[str, Any] | None = None) -> dict[str, Any]:
    from paygate.config import Config

    obj = ctx.obj if isinstance(ctx.obj, dict) else {}
    data = Config.load(obj.get("config")).as_dict()
    # A quote writes nothing: do not create a ledger file in the working directory for it.
    data.setdefault("database_url", "memory")
    if pricing:
        data["pricing"] = {**dict(data.get("pricing") or {}), **pricing}
    return data


def _payments(ctx: click.Context, pricing: dict[str, Any] | None = None) -> Any:
    import paygate

    return paygate.Payments(_config(ctx, pricing))


def _items(specs: dict[str, tuple[str, ...]], currency: str) -> list[LineItem]:
    from paygate.pricing.models import LineItem

    items = []
    for kind, values in specs.items():
        for spec in values:
            match = _ITEM.match(spec.strip())
            if not match:
                raise click.BadParameter(
                    f"{spec!r}: expected SKU=PRICE or SKU=PRICExQTY (e.g. pro=25.00, tf=3.99x2)",
                    param_hint=f"--{kind.replace('_', '-')}",
                )
            items.append(
                LineItem(
                    sku=match["sku"],
                    description=match["sku"],
                    unit_price=Money(match["price"], currency),
                    quantity=int(match["qty"] or 1),
                    kind=kind,
                )
            )
    return items


def _fmt(money: Money | None) -> str:
    return "" if money is None else money.format()


def quote_table(quote: Quote) -> Table:
    """The quote as a table: every line, then subtotal and total."""
    table = Table(title=f"Quote ({quote.cycle}, {quote.currency})", show_footer=False)
    table.add_column("Line")
    table.add_column("Kind", style="dim")
    table.add_column("Amount", justify="right")
    for line in quote.lines:
        style = "green" if line.kind == "adjustment" and line.amount.amount < 0 else None
        label = line.label + (" [clamped]" if line.clamped else "")
        table.add_row(label, line.kind, _fmt(line.amount), style=style)
    table.add_section()
    table.add_row("Subtotal (list price)", "", _fmt(quote.subtotal))
    if quote.discounts:
        table.add_row("Discounts", "", _fmt(quote.discounts))
    if quote.surcharges:
        table.add_row("Surcharges", "", _fmt(quote.surcharges))
    if quote.fees:
        table.add_row("Fees", "", _fmt(quote.fees))
    table.add_row("[bold]Total[/bold]", "", f"[bold]{_fmt(quote.total)}[/bold]")
    return table


def fees_table(breakdown: FeeBreakdown) -> Table:
    """The fee breakdown as a table: gross, each fee, net payout."""
    table = Table(title=f"Fees ({breakdown.kind} via {breakdown.provider})")
    table.add_column("Line")
    table.add_column("Paid by", style="dim")
    table.add_column("Amount", justify="right")
    table.add_column("Source", style="dim")
    table.add_row("Gross", "", _fmt(breakdown.gross), "")
    for line in breakdown.lines:
        where = ", ".join(part for part in (line.source, line.table or "") if part)
        # Merchant-paid fees come off the payout; buyer-paid ones are charged on top.
        shown = (
            None
            if line.amount is None
            else (line.amount if line.payer == "buyer" else -line.amount)
        )
        table.add_row(line.label, line.payer, _fmt(shown), where)
    table.add_section()
    table.add_row("Total fees", "", _fmt(breakdown.total_fees), "")
    if breakdown.buyer_fees:
        table.add_row("Buyer is charged", "", _fmt(breakdown.charged), "")
    table.add_row("[bold]Net payout[/bold]", "", f"[bold]{_fmt(breakdown.net)}[/bold]", "")
    return table


def _item_options(f: Any) -> Any:
    for name, kind in reversed(
        [
            ("plan", "plan"),
            ("addon", "add-on"),
            ("toll-free", "toll-free number"),
            ("ticket", "ticket"),
        ]
    ):
        f = click.option(
            f"--{name}",
            f"{name.replace('-', '_')}s",
            multiple=True,
            metavar="SKU=PRICE[xQTY]",
            help=f"A {kind} and its {'monthly ' if name != 'ticket' else ''}price; repeatable.",
        )(f)
    return f


@click.command("quote")
@_item_options
@click.option("--annual/--monthly", default=False, help="Billing cycle (default monthly).")
@click.option("--nonprofit", is_flag=True, help="Quote for a nonprofit customer.")
@click.option(
    "--nonprofit-discount",
    metavar="RATE",
    default=None,
    help="Nonprofit rate for this quote (e.g. 0.25), instead of [pricing] nonprofit_discount.",
)
@click.option("--currency", default="USD", show_default=True, help="ISO 4217 code of the prices.")
@click.option("--json", "as_json", is_flag=True, help="Print the quote as JSON.")
@click.pass_context
def quote_command(
    ctx: click.Context,
    plans: tuple[str, ...],
    addons: tuple[str, ...],
    toll_frees: tuple[str, ...],
    tickets: tuple[str, ...],
    annual: bool,
    nonprofit: bool,
    nonprofit_discount: str | None,
    currency: str,
    as_json: bool,
) -> None:
    """Price plans, add-ons, toll-free numbers and tickets, line by line.

    Example: paygate quote --plan pro=25.00 --annual --nonprofit
    """
    from paygate.models import Customer

    try:
        items = _items(
            {"plan": plans, "addon": addons, "toll_free_number": toll_frees, "ticket": tickets},
            currency,
        )
        if not items:
            raise click.UsageError("give at least one --plan, --addon, --toll-free or --ticket")
        pricing = {"nonprofit_discount": nonprofit_discount} if nonprofit_discount else None
        payments = _payments(ctx, pricing)
        customer = Customer(id="cli", nonprofit=nonprofit)
        quote: Quote = payments.quote(
            items, cycle="annual" if annual else "monthly", customer=customer, currency=currency
        )
    except PaygateError as exc:
        raise click.ClickException(exc.message) from None
    if as_json:
        click.echo(json.dumps(quote.model_dump(mode="json"), indent=2))
        return
    console = Console()
    console.print(quote_table(quote))
    if nonprofit and not any(line.code == "nonprofit_discount" for line in quote.lines):
        console.print(
            "[yellow]No nonprofit discount applied: its rate is 0 until the billing team sets "
            "\\[pricing] nonprofit_discount (or pass --nonprofit-discount).[/yellow]"
        )


@click.command("fees")
@click.argument("amount")
@click.option("--currency", default="USD", show_default=True, help="ISO 4217 code of AMOUNT.")
@click.option("--provider", default="sandbox", show_default=True, help="Payment provider.")
@click.option(
    "--kind",
    default="payment",
    show_default=True,
    help="What is sold: ticket, subscription, payment...",
)
@click.option("--card-country", default=None, metavar="CC", help="Card's country (ISO 3166).")
@click.option("--merchant-country", default=None, metavar="CC", help="Merchant's country.")
@click.option("--currency-conversion", is_flag=True, help="The payment is converted.")
@click.option("--json", "as_json", is_flag=True, help="Print the breakdown as JSON.")
@click.pass_context
def fees_command(
    ctx: click.Context,
    amount: str,
    currency: str,
    provider: str,
    kind: str,
    card_country: str | None,
    merchant_country: str | None,
    currency_conversion: bool,
    as_json: bool,
) -> None:
    """Show the fees on a sale of AMOUNT and the net payout.

    Example: paygate fees 100.00 --provider sandbox --kind ticket
    """
    try:
        payments = _payments(ctx)
        breakdown: FeeBreakdown = payments.fees(
            Money(amount, currency),
            provider=provider,
            kind=kind,
            card_country=card_country,
            merchant_country=merchant_country,
            currency_conversion=currency_conversion,
        )
    except PaygateError as exc:
        raise click.ClickException(exc.message) from None
    if as_json:
        click.echo(json.dumps(breakdown.model_dump(mode="json"), indent=2))
        return
    Console().print(fees_table(breakdown))

"""``paygate invoices``: the legal documents (list, show, pdf), the
integrity check of every series (verify) and the accountant's export."""

from __future__ import annotations

import csv
import io
import sys
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from paygate.cli.billing import _billing

KINDS = {"380": "invoice", "381": "credit note", "384": "corrected invoice"}


@click.group("invoices")
def invoices_group() -> None:
    """Legal documents: invoices, credit notes, corrected invoices."""


def _actor(name: str) -> Any:
    from paygate.billing import Actor

    return Actor.staff_member(name) if name == "staff" else Actor.user(name)


@invoices_group.command("list")
@click.argument("account")
@click.option("--actor", required=True, help="The host user asking (the owner), or 'staff'.")
@click.pass_context
def list_command(ctx: click.Context, account: str, actor: str) -> None:
    """ACCOUNT's documents, oldest first, with their links."""
    billing = _billing(ctx, None)
    try:
        docs = billing.invoices.list(_actor(actor), account)
    finally:
        billing.payments.close()
    numbers = {d.id: d.number_text for d in docs}
    table = Table(title=f"Documents of {account}")
    for col in ("number", "kind", "date", "buyer", "net", "VAT", "total", "links"):
        table.add_column(col)
    for d in docs:
        links = []
        if d.preceding_number:
            links.append(f"amends {d.preceding_number}")
        if d.amended_by:
            links.append("amended by " + ", ".join(numbers.get(i, i) for i in d.amended_by))
        table.add_row(
            d.number_text,
            KINDS[d.type.value],
            d.issue_date.isoformat(),
            d.buyer.legal_name,
            str(d.net),
            str(d.tax),
            str(d.total),
            "; ".join(links),
        )
    Console(width=160).print(table)


@invoices_group.command("show")
@click.argument("document")
@click.option("--actor", required=True, help="The host user asking (the owner), or 'staff'.")
@click.pass_context
def show_command(ctx: click.Context, document: str, actor: str) -> None:
    """One document: parties, lines, VAT, mentions, hash."""
    billing = _billing(ctx, None)
    try:
        d = billing.invoices.show(_actor(actor), document)
    finally:
        billing.payments.close()
    echo = click.echo
    echo(f"{KINDS[d.type.value]} {d.number_text} of {d.issue_date} ({d.type.value})")
    if d.preceding_number:
        echo(f"amends {d.preceding_number} of {d.preceding_date}")
    echo(f"seller: {d.seller.legal_name}, {d.seller.vat_id or '-'}")
    echo(f"buyer:  {d.buyer.legal_name}, {d.buyer.country}, {d.buyer.vat_id or '-'}")
    for ln in d.lines:
        echo(f"  {ln.net!s:>14}  {ln.vat_category} {ln.vat_rate} %  {ln.description}")
    echo(f"net {d.net}  VAT {d.tax}  total {d.total}")
    for m in d.mentions:
        echo(f"  [{m.code}] {m.text}")
    echo(f"sha256 {d.sha256}")


@invoices_group.command("pdf")
@click.argument("document")
@click.option("--actor", required=True, help="The host user asking (the owner), or 'staff'.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.pass_context
def pdf_command(ctx: click.Context, document: str, actor: str, output: Path) -> None:
    """Write DOCUMENT's stored PDF (the bytes whose hash is chained)."""
    billing = _billing(ctx, None)
    try:
        pdf = billing.invoices.pdf(_actor(actor), document)
    finally:
        billing.payments.close()
    output.write_bytes(pdf)
    click.echo(f"{output} ({len(pdf)} bytes)")


@invoices_group.command("issue")
@click.pass_context
def issue_command(ctx: click.Context) -> None:
    """Issue the documents of paid invoices and send what the outbox holds
    (the worker of ``[invoices] issue = "worker"``; safe to run anytime)."""
    billing = _billing(ctx, None)
    try:
        issued = billing.invoices.issue_due()
        sent = billing.invoices.deliver_due()
    finally:
        billing.payments.close()
    click.echo(f"issued {len(issued)} document(s), sent {sent} e-mail(s)")


@invoices_group.command("verify")
@click.pass_context
def verify_command(ctx: click.Context) -> None:
    """Check every series: altered, removed or renumbered documents and gaps.
    Exits 1 when anything is wrong."""
    billing = _billing(ctx, None)
    try:
        problems = billing.invoices.verify()
        count = len(billing.invoices.all_documents())
    finally:
        billing.payments.close()
    for p in problems:
        click.echo(f"PROBLEM {p}")
    click.echo(f"{count} documents checked, {len(problems)} problem(s)")
    sys.exit(1 if problems else 0)


def journal(docs: list[Any]) -> str:
    """The accountant's CSV journal: one row per document."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(
        [
            "number",
            "type",
            "issue_date",
            "buyer",
            "buyer_vat_id",
            "buyer_country",
            "currency",
            "net",
            "vat_category",
            "vat_rate",
            "vat",
            "total",
            "preceding_number",
            "sha256",
        ]
    )
    for d in docs:
        w.writerow(
            [
                d.number_text,
                d.type.value,
                d.issue_date.isoformat(),
                d.buyer.legal_name,
                d.buyer.vat_id or "",
                d.buyer.country,
                d.currency,
                str(d.net.amount),
                ";".join(v.category for v in d.vat),
                ";".join(str(v.rate) for v in d.vat),
                str(d.tax.amount),
                str(d.total.amount),
                d.preceding_number or "",
                d.sha256,
            ]
        )
    return out.getvalue()


@invoices_group.command("export")
@click.option("--from", "since", type=click.DateTime(["%Y-%m-%d"]), required=True)
@click.option("--to", "until", type=click.DateTime(["%Y-%m-%d"]), required=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.pass_context
def export_command(ctx: click.Context, since: Any, until: Any, output: Path) -> None:
    """A zip of the PDFs issued from --from to --to (inclusive) plus journal.csv."""
    first: date = since.date()
    last: date = until.date()
    if last < first:
        raise click.BadParameter("--to is before --from")
    billing = _billing(ctx, None)
    try:
        docs = billing.invoices.all_documents(since=first, until=last)
        with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for d in docs:
                zf.writestr(f"{d.number_text}.pdf", billing.invoices.stored_pdf(d.id))
            zf.writestr("journal.csv", journal(docs))
    finally:
        billing.payments.close()
    click.echo(f"{output}: {len(docs)} documents from {first} to {last}")

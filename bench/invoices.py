"""Documents issued and rendered per second on one core: PDF/A-3b with the
embedded Factur-X XML, through ``Billing.invoices`` (number, mentions, render,
hash chain, store) on SQLite; and a renewal run's throughput with and without
documents.

Run it with ``python -m bench.invoices [--quick]``; ``invoices(settings)``
returns the figure in the shape of ``bench.figures`` for the suite's table.
CPU time (``time.process_time``) is what is
reported: it holds up on a shared machine where wall time does not.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.harness import Figure, skipped

GOAL = 50.0  # documents per second per core (issue 19)
SELLER = {
    "legal_name": "Webinaires Exemple SAS",
    "address": "12 rue de la Paix\n75002 Paris",
    "country": "FR",
    "vat_id": "FR40303265045",
    "siren": "303265045",
    "legal_form": "SAS",
    "share_capital": "50 000 EUR",
    "rcs": "RCS Paris",
}
PROFILE = {
    "legal_name": "Café-Théâtre SARL",
    "address": "5 rue Mercière\n69002 Lyon",
    "country": "FR",
    "vat_id": "FR40303265045",
    "siren": "303265045",
}
START = datetime(2027, 1, 31, 10, tzinfo=UTC)
RENEW = datetime(2027, 2, 28, 10, tzinfo=UTC)


def _billing(url: str, renderer: bool, clock: dict[str, datetime]) -> Any:
    from paygate_pricing.plugin import PricingRules

    import paygate
    from paygate.billing import Billing

    plugins: list[Any] = [PricingRules]
    if renderer:
        from paygate_invoices_typst.plugin import TypstRenderer

        plugins.append(TypstRenderer)
    payments = paygate.Payments(
        {"database_url": url, "invoices": {"seller": SELLER}},
        plugins=plugins,
        load_entrypoints=False,
    )
    return Billing(payments, clock=lambda: clock["t"])


def _accounts(billing: Any, n: int) -> None:
    from paygate import Card
    from paygate.billing import Actor

    owner = Actor.user("bench-owner")
    for i in range(n):
        acct = billing.create_account(owner.ref, currency="EUR", timezone="Europe/Paris").id
        billing.invoices.set_profile(owner, acct, **PROFILE)
        billing.add_payment_method(
            owner, acct, Card("4242424242424242", 12, 2034, "123"), idempotency_key=f"c{i}"
        )
        billing.subscribe(owner, acct, "webinar/s25", idempotency_key=f"s{i}")


def measure(n: int, workdir: Path) -> dict[str, float]:
    """Issue ``n`` documents for paid invoices; then renew the ``n``
    subscriptions with their documents, and the same run without documents."""
    clock = {"t": START}
    billing = _billing(f"sqlite:///{workdir / 'with.sqlite3'}", True, clock)
    billing.invoices.seller = None  # paid first, nothing issued yet
    _accounts(billing, n + 1)
    billing.invoices.configure_seller(**SELLER)
    with billing.store.read() as conn:
        first = billing.store.invoices_of(conn, _first_account(billing))[0]
    billing.invoices.issue_for_invoice(first.id)  # warm-up: Typst's start-up
    t0 = time.process_time()
    issued = len(billing.invoices.issue_due())
    issue_cpu = time.process_time() - t0
    assert issued == n, issued

    clock["t"] = RENEW
    t1 = time.process_time()
    report = billing.run_once(batch=n + 1)  # renewals, then their documents
    run_with = time.process_time() - t1
    assert report.renewed == n + 1, report
    assert len(billing.invoices.all_documents()) == 2 * (n + 1)

    clock2 = {"t": START}
    plain = _billing(f"sqlite:///{workdir / 'without.sqlite3'}", False, clock2)
    plain.invoices.seller = None  # no documents at all
    _accounts(plain, n + 1)
    clock2["t"] = RENEW
    t2 = time.process_time()
    plain.run_once(batch=n + 1)
    run_without = time.process_time() - t2
    return {
        "docs_per_s": issued / issue_cpu,
        "ms_per_doc": 1000 * issue_cpu / issued,
        "run_with_per_s": (n + 1) / run_with,
        "run_without_per_s": (n + 1) / run_without,
    }


def _first_account(billing: Any) -> str:
    from sqlalchemy import select

    from paygate.ledger.billing_schema import accounts

    with billing.store.read() as conn:
        return str(conn.execute(select(accounts.c.id).order_by(accounts.c.created_at)).scalar())


def invoices(settings: Any) -> list[Figure]:
    try:
        import paygate_invoices_typst  # noqa: F401
    except ImportError:
        return [
            skipped(
                "invoices issued+rendered",
                "docs/s/core",
                f">= {GOAL:.0f}",
                "paygate-invoices-typst is not installed",
            )
        ]
    n = 20 if settings.quick else 200
    m = measure(n, settings.workdir)
    rate = m["docs_per_s"]
    return [
        Figure(
            "invoices issued+rendered",
            "docs/s/core",
            rate,
            None,
            None if settings.quick else GOAL / rate,
            f">= {GOAL:.0f}",
            None if settings.quick else rate >= GOAL,
            note=(
                f"{m['ms_per_doc']:.1f} ms CPU per PDF/A-3b + Factur-X document; renewal run "
                f"{m['run_without_per_s']:.0f}/s without documents, "
                f"{m['run_with_per_s']:.0f}/s with them (CPU), n={n}"
            ),
            samples=n,
            extra=m,
        )
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.invoices")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    from bench.figures import Settings

    with tempfile.TemporaryDirectory(prefix="paygate-bench-invoices-") as tmp:
        [fig] = invoices(Settings(quick=args.quick, workdir=Path(tmp)))
    print(f"{fig.name}: {fig.paygate} {fig.unit} (goal {fig.goal}); {fig.note or fig.skipped}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

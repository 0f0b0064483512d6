"""What the durable ledger costs per payment: ``durability = "durable"`` against
``"relaxed"``, side by side, run by hand (docs/performance.md has the figures).

    python tests/reliability/durability_cost.py                  # SQLite, one thread
    python tests/reliability/durability_cost.py --threads 32 --latency-ms 20
    python tests/reliability/durability_cost.py --postgres postgresql://postgres@127.0.0.1:5432/test

The machine may be shared: the settings run in alternating rounds (A B, B A,
A B, ...), each with its own ledger kept across rounds, and every round's
figure is printed, so a change in load shows as a spread, not as a
difference. One thread: ``purchase`` on the sandbox (no latency), time per
payment. ``--threads``: ``charge_recurring`` from that many threads sharing
one ``Payments``, the sandbox answering after ``--latency-ms``; wall time
against the ideal (calls x latency / threads).

PostgreSQL: "durable" is the server's default session (``synchronous_commit
= on``); "relaxed" adds ``-c synchronous_commit=off`` to the URL's options,
since ``relaxed`` alone leaves the server's setting as it is. Each setting
works in a schema of its own, dropped at the end.

Not a test: timing goals do not belong in tests
(``tests/reliability/test_reliability_durability.py`` runs it once, tiny,
to keep it working).
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

VISA = "4242424242424242"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _with_options(url: str, options: str) -> str:
    """``url`` with ``options`` (``-c name=value`` words, URL-encoded) appended."""
    from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query["options"] = (query.get("options", "") + " " + options).strip()
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


@contextmanager
def ledgers(postgres: str | None, workdir: Path) -> Iterator[dict[str, dict[str, Any]]]:
    """Each setting's configuration (a fresh, empty ledger each)."""
    if postgres is None:
        yield {
            name: {
                "database_url": f"sqlite:///{workdir / f'{name}.sqlite3'}",
                "durability": name,
            }
            for name in ("durable", "relaxed")
        }
        return
    import psycopg

    plain = postgres.replace("postgresql+psycopg://", "postgresql://")
    tag = f"{os.getpid()}_{secrets.token_hex(3)}"
    schemas = {name: f"paygate_durcost_{name}_{tag}" for name in ("durable", "relaxed")}
    with psycopg.connect(plain, autocommit=True) as conn:
        for schema in schemas.values():
            conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield {
            "durable": {
                "database_url": _with_options(plain, f"-csearch_path={schemas['durable']}"),
                "durability": "durable",
            },
            "relaxed": {
                "database_url": _with_options(
                    plain, f"-csearch_path={schemas['relaxed']} -csynchronous_commit=off"
                ),
                "durability": "relaxed",
            },
        }
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            for schema in schemas.values():
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def one_thread(payments: Any, calls: int) -> float:
    """Seconds per ``purchase``."""
    from paygate import Card, Money

    card = Card(VISA, 12, 2030, "123")
    amount = Money("19.00", "USD")
    started = time.perf_counter()
    for _ in range(calls):
        payments.purchase(amount, card)
    return (time.perf_counter() - started) / calls


def many_threads(payments: Any, stored: Any, calls: int, threads: int) -> float:
    """Wall seconds for ``calls`` ``charge_recurring`` from ``threads`` threads."""
    from paygate import Money

    amount = Money("19.00", "USD")
    with ThreadPoolExecutor(max_workers=threads) as pool:
        started = time.perf_counter()
        list(pool.map(lambda _: payments.charge_recurring(amount, stored), range(calls)))
        return time.perf_counter() - started


def measure(
    *,
    rounds: int,
    calls: int,
    threads: int,
    latency_ms: float,
    postgres: str | None,
    out: Any = sys.stdout,
) -> dict[str, list[float]]:
    """Run the rounds; each setting's figure per round (µs per payment with
    one thread, else wall seconds), printed as they come."""
    import logging

    from paygate import Card, Payments

    logging.getLogger("paygate.ledger").setLevel(logging.ERROR)  # relaxed's startup warning
    results: dict[str, list[float]] = {"durable": [], "relaxed": []}
    with tempfile.TemporaryDirectory() as tmp, ledgers(postgres, Path(tmp)) as configs:
        opened: dict[str, tuple[Any, Any]] = {}
        for name, config in configs.items():
            payments = Payments(
                {**config, "sandbox": {"latency_ms": latency_ms if threads > 1 else 0}},
                load_entrypoints=False,
            )
            stored = None
            if threads > 1:
                stored = payments.store_payment_method(
                    Card(VISA, 12, 2030, "123"), provider="sandbox"
                )
                many_threads(payments, stored, threads * 2, threads)  # connections, caches
            else:
                one_thread(payments, min(calls, 50))  # warm-up
            opened[name] = (payments, stored)
        try:
            for r in range(rounds):
                order = ["durable", "relaxed"] if r % 2 == 0 else ["relaxed", "durable"]
                line = []
                for name in order:
                    payments, stored = opened[name]
                    if threads > 1:
                        figure = many_threads(payments, stored, calls, threads)
                        line.append(f"{name} {figure:.2f} s")
                    else:
                        figure = one_thread(payments, calls) * 1e6
                        line.append(f"{name} {figure:.0f} µs")
                    results[name].append(figure)
                print(f"round {r + 1}: " + ", ".join(line), file=out, flush=True)
        finally:
            for payments, _ in opened.values():
                payments.close()
    return results


def summary(results: dict[str, list[float]], *, threads: int, calls: int, latency_ms: float) -> str:
    durable, relaxed = results["durable"], results["relaxed"]
    unit = "s" if threads > 1 else "µs per payment"
    lines = []
    for name, values in (("durable", durable), ("relaxed", relaxed)):
        lines.append(
            f"{name}: median {statistics.median(values):.4g} {unit}, "
            f"range {min(values):.4g}-{max(values):.4g}"
        )
    diffs = [d - r for d, r in zip(durable, relaxed, strict=True)]
    lines.append(
        f"durable - relaxed, per round: median {statistics.median(diffs):+.4g}, "
        f"range {min(diffs):+.4g} to {max(diffs):+.4g} ({unit})"
    )
    if threads > 1:
        ideal = calls * latency_ms / 1000 / threads
        lines.append(
            f"ideal {ideal:.2f} s: durable {statistics.median(durable) / ideal:.3f} x, "
            f"relaxed {statistics.median(relaxed) / ideal:.3f} x (medians)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--calls", type=int, default=None, help="payments per round")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--postgres", default=None, help="a PostgreSQL URL instead of SQLite")
    args = parser.parse_args(argv)
    calls = args.calls or (2000 if args.threads > 1 else 500)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"{cpu_name()}, {os.cpu_count()} CPUs, load average {load:.2f} at start; "
        f"{'PostgreSQL' if args.postgres else 'SQLite file'} ledger; "
        + (
            f"{args.threads} threads, sandbox latency {args.latency_ms:g} ms, "
            if args.threads > 1
            else "one thread, sandbox without latency, "
        )
        + f"{calls} payments per round, {args.rounds} rounds"
    )
    results = measure(
        rounds=args.rounds,
        calls=calls,
        threads=args.threads,
        latency_ms=args.latency_ms,
        postgres=args.postgres,
    )
    print(summary(results, threads=args.threads, calls=calls, latency_ms=args.latency_ms))
    return 0


if __name__ == "__main__":
    sys.exit(main())

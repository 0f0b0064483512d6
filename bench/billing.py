"""Billing benchmarks: ``python -m bench.billing [--quick] [--subs N] [--json PATH]``.

(a) Renewals on PostgreSQL: N subscriptions fall due at once; 1, 2 and 4
    worker processes each call ``Billing.run_once()`` against the sandbox at
    20 ms latency. Reported: renewals per second, the cost of one renewal as a
    ratio to one bare ``Payments.charge_recurring`` (same sandbox, same
    database, same run), CPU and SQL statements per renewal. After every run
    the counts are checked exactly: N charges at the gateway and in the
    ledger, N paid renewal invoices, invoice numbers without a gap. A last run
    SIGKILLs one worker in the middle; the next tick (after its leases ran
    out) settles its work, and the same exact checks hold.
(b) ``paygate billing simulate`` (the same function the CLI calls): M
    subscriptions over 36 months on SQLite; the clock jumps between due
    instants, so the number of runner calls is about the number of months,
    not of days.

``--profile`` prints a cProfile of one worker's renewals (no latency) instead.

Set-up is not measured: a few accounts are made through ``Billing`` (card
stored and verified, first period charged), and the remaining subscriptions
are copies of theirs written in SQL (same plan, same state), so that a large
N does not spend minutes subscribing. Workers are forked after the set-up and
share the parent's sandbox memory (its stored cards); each reports what its
sandbox charged. The SIGKILL run shares one file-backed sandbox instead, so
that a charge made by the killed worker is still counted at the gateway.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import multiprocessing
import os
import pstats
import queue
import secrets
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.harness import Figure, machine, skipped

PG_URL = os.environ.get("PAYGATE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
START = datetime(2027, 1, 10, 10, tzinfo=UTC)
PLAN = "webinar/s25"
LATENCY_MS = 20
#: Goals (docs/performance.md): a renewal costs at most twice a bare charge;
#: four workers renew at least three times as fast as one.
RATIO_GOAL = 2.0
SCALING_GOAL = 3.0


# -- databases -----------------------------------------------------------------------
def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_URL, connect_timeout=3, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


@contextmanager
def _database() -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards."""
    name = f"paygate_bench_billing_{os.getpid()}_{secrets.token_hex(3)}"
    _admin(f"CREATE DATABASE {name}")
    try:
        yield f"{PG_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _payments(url: str, **sandbox: Any) -> Any:
    from paygate_pricing.plugin import PricingRules

    import paygate

    return paygate.Payments(
        {"database_url": url, "sandbox": sandbox},
        plugins=[PricingRules],
        load_entrypoints=False,
    )


def _month(run: int) -> datetime:
    """When run ``run`` (0-based) happens: just after the ``run + 1``-th period end."""
    from paygate.billing.periods import add_months

    return datetime.combine(add_months(START.date(), run + 1), START.timetz()) + timedelta(hours=1)


# -- set-up ---------------------------------------------------------------------------
def setup(billing: Any, subs: int, accounts: int) -> None:
    """``accounts`` real accounts (card, first period paid), then ``subs``
    subscriptions in all: the others copied in SQL from the real ones."""
    from sqlalchemy import insert, select

    from paygate import Card
    from paygate.billing import Actor
    from paygate.ledger.billing_schema import items, subscriptions

    owner = Actor.user("bench-owner")
    made: list[str] = []
    for i in range(min(accounts, subs)):
        acct = billing.create_account(owner.ref, currency="USD", timezone="UTC")
        billing.add_payment_method(
            owner, acct.id, Card("4242424242424242", 12, 2034, "123"), idempotency_key="card"
        )
        made.append(billing.subscribe(owner, acct.id, PLAN, idempotency_key=f"s{i}").id)
    with billing.store.write() as conn:
        templates = [
            (
                dict(
                    conn.execute(select(subscriptions).where(subscriptions.c.id == s))
                    .one()
                    ._mapping
                ),
                [
                    dict(r._mapping)
                    for r in conn.execute(select(items).where(items.c.subscription_id == s)).all()
                ],
            )
            for s in made
        ]
        sub_rows, item_rows = [], []
        for n in range(subs - len(made)):
            sub, its = templates[n % len(templates)]
            sid = f"sub_bench{n:07d}"
            sub_rows.append({**sub, "id": sid})
            item_rows += [
                {**i, "id": f"{sid}-{k}", "subscription_id": sid} for k, i in enumerate(its)
            ]
        for at in range(0, len(sub_rows), 1000):
            conn.execute(insert(subscriptions), sub_rows[at : at + 1000])
        for at in range(0, len(item_rows), 1000):
            conn.execute(insert(items), item_rows[at : at + 1000])


# -- checks ---------------------------------------------------------------------------
def check(billing: Any, period_index: int, expected: int, gateway_charges: int) -> dict[str, int]:
    """Exact counts after a run that renewed ``expected`` subscriptions into
    ``period_index``; raises AssertionError on any difference."""
    from sqlalchemy import func, select

    from paygate.ledger.billing_schema import invoices, payment_attempts, subscriptions
    from paygate.ledger.schema import operations

    with billing.store.read() as conn:
        renewal = (invoices.c.reason == "renewal") & (invoices.c.period_index == period_index)
        paid = conn.execute(
            select(func.count()).where(renewal, invoices.c.status == "paid")
        ).scalar_one()
        all_renewals = conn.execute(select(func.count()).where(renewal)).scalar_one()
        attempts = conn.execute(
            select(payment_attempts.c.idempotency_key, payment_attempts.c.status)
            .join(invoices, invoices.c.id == payment_attempts.c.invoice_id)
            .where(renewal)
        ).all()
        keys = [a.idempotency_key for a in attempts]
        ledger = conn.execute(
            select(operations.c.state, func.count())
            .where(operations.c.operation == "charge_recurring")
            .where(operations.c.idempotency_key.in_(keys))
            .group_by(operations.c.state)
        ).all()
        moved = conn.execute(
            select(func.count()).where(subscriptions.c.period_index == period_index)
        ).scalar_one()
        numbers = conn.execute(
            select(invoices.c.series, invoices.c.number)
            .where(invoices.c.number.is_not(None))
            .order_by(invoices.c.series, invoices.c.number)
        ).all()
    ledger_states = {str(s): int(c) for s, c in ledger}
    by_series: dict[str, list[int]] = {}
    for series, number in numbers:
        by_series.setdefault(series, []).append(int(number))
    problems = []
    if paid != expected or all_renewals != expected:
        problems.append(f"{paid} paid of {all_renewals} renewal invoices, expected {expected}")
    if moved != expected:
        problems.append(f"{moved} subscriptions in period {period_index}, expected {expected}")
    if len(keys) != expected or any(a.status != "succeeded" for a in attempts):
        problems.append(f"{len(keys)} attempts ({sorted({a.status for a in attempts})})")
    if sum(ledger_states.values()) != expected or len(ledger_states) != 1:
        problems.append(f"ledger charges {ledger_states}, expected {expected} all settled")
    if gateway_charges != expected:
        problems.append(f"{gateway_charges} charges at the gateway, expected {expected}")
    for series, got in by_series.items():
        if got != list(range(1, len(got) + 1)):
            problems.append(f"series {series} has gaps or repeats")
    if problems:
        raise AssertionError("; ".join(problems))
    return {"paid": paid, "ledger": sum(ledger_states.values()), "gateway": gateway_charges}


# -- workers --------------------------------------------------------------------------
def _count_statements(engine: Any) -> list[int]:
    from sqlalchemy import event

    box = [0]

    def seen(*_: Any) -> None:
        box[0] += 1

    event.listen(engine, "before_cursor_execute", seen)
    return box


def _worker(billing: Any, name: str, when: datetime, lease: float, batch: int, out: Any) -> None:
    """One worker process (forked): ``run_once`` until nothing is due."""
    billing.store.engine.dispose(close=False)  # the parent's connections are not ours
    sandbox = billing.payments.plugin("sandbox")
    before = sandbox.effects.get("charge_recurring", 0)
    statements = _count_statements(billing.store.engine)
    t0, w0, c0 = time.perf_counter(), time.time(), time.process_time()
    billing.clock = lambda: when + timedelta(seconds=time.perf_counter() - t0)
    report = billing.run_once(batch=batch, lease_seconds=lease, worker=name)
    out.put(
        {
            "worker": name,
            "renewed": report.renewed,
            "paid": report.paid,
            "charges": sandbox.effects.get("charge_recurring", 0) - before,
            "start": w0,
            "end": time.time(),
            "cpu": time.process_time() - c0,
            "statements": statements[0],
        }
    )


def _run_workers(
    billing: Any,
    workers: int,
    when: datetime,
    lease: float,
    batch: int,
    kill_after: tuple[int, Path] | None = None,
) -> list[dict[str, Any]]:
    ctx = multiprocessing.get_context("fork")
    out: Any = ctx.Queue()
    billing.store.engine.dispose()
    procs = [
        ctx.Process(target=_worker, args=(billing, f"w{i}", when, lease, batch, out))
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    if kill_after is not None:
        # Once the gateway (its state file) made so many charges, kill a worker.
        charges, state = kill_after
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                done = json.loads(state.read_text())["effects"].get("charge_recurring", 0)
            except (FileNotFoundError, ValueError):
                done = 0
            if done >= charges:
                break
            time.sleep(0.005)
        os.kill(procs[0].pid or 0, signal.SIGKILL)
    killed = procs[0] if kill_after is not None else None
    results: list[dict[str, Any]] = []
    deadline = time.monotonic() + 900
    while len(results) < workers - (killed is not None):
        try:
            results.append(out.get(timeout=1))
        except queue.Empty:
            crashed = [p for p in procs if p is not killed and p.exitcode not in (None, 0)]
            if crashed or time.monotonic() > deadline:
                for p in procs:
                    p.kill()
                raise RuntimeError(f"a worker crashed or hung ({crashed})") from None
    for p in procs:
        p.join(timeout=60)
    return results


def _bare_charges(payments: Any, count: int) -> dict[str, float]:
    """``count`` bare ``charge_recurring`` calls on a stored card, one after
    another (wall and CPU per call, SQL statements per call)."""
    from paygate import Card, Money

    stored = payments.store_payment_method(
        Card("4242424242424242", 12, 2034, "123"), idempotency_key=f"bare-{secrets.token_hex(4)}"
    )
    engine = payments.ledger.engine
    statements = _count_statements(engine)
    s0, t0, c0 = statements[0], time.perf_counter(), time.process_time()
    tag = secrets.token_hex(4)
    for i in range(count):
        payments.charge_recurring(Money("25.00", "USD"), stored, idempotency_key=f"bare-{tag}-{i}")
    return {
        "wall_ms": (time.perf_counter() - t0) * 1000 / count,
        "cpu_ms": (time.process_time() - c0) * 1000 / count,
        "statements": (statements[0] - s0) / count,
    }


# -- (a) renewals ---------------------------------------------------------------------
def renewals(
    quick: bool,
    subs: int,
    accounts: int,
    worker_counts: tuple[int, ...] = (1, 2, 4),
    killed: bool = True,
) -> list[Figure]:
    # Small claims in quick mode: with 40 subscriptions, one claim of 50
    # would leave the other workers nothing.
    batch = 4 if quick else 50
    from paygate.billing import Billing

    names = {w: f"Billing renewals/s, {w} worker{'s' if w > 1 else ''}" for w in (1, 2, 4)}
    try:
        _admin("SELECT 1")
    except Exception as exc:
        why = f"PostgreSQL unreachable at {PG_URL.split('@')[-1]}: {type(exc).__name__}"
        return [
            skipped(n, "renewals/s", "-", why)
            for n in [*names.values(), "Billing renewals, a worker SIGKILLed"]
        ]
    figures: list[Figure] = []
    one: dict[str, float] = {}
    for workers in worker_counts:
        # Each worker count renews the same N subscriptions in a database of
        # its own: run after run in one database, the later (more workers)
        # would renew on tables two and three times as large as the first,
        # and their ratio to one worker would measure the growth too.
        with _database() as url:
            payments = _payments(url)
            billing = Billing(payments, clock=lambda: START)
            t0 = time.perf_counter()
            setup(billing, subs, accounts)
            print(
                f"  set-up ({workers} worker{'s' if workers > 1 else ''}): {subs} subscriptions "
                f"in {time.perf_counter() - t0:.1f} s",
                flush=True,
            )
            sandbox = payments.plugin("sandbox")
            sandbox.latency = LATENCY_MS / 1000  # the gateway's round trip, from here on
            bare = _bare_charges(payments, 20 if quick else 200)
            when = _month(0)
            got = _run_workers(billing, workers, when, lease=120.0, batch=batch)
            wall = max(r["end"] for r in got) - min(r["start"] for r in got)
            counts = check(billing, 1, subs, sum(r["charges"] for r in got))
            payments.close()
        rate = subs / wall
        cpu_ms = sum(r["cpu"] for r in got) * 1000 / subs
        statements = sum(r["statements"] for r in got) / subs
        extra = {
            "subscriptions": subs,
            "workers": workers,
            "wall_s": round(wall, 2),
            "cpu_ms_per_renewal": round(cpu_ms, 2),
            "statements_per_renewal": round(statements, 1),
            "checked": counts,
            "sandbox_latency_ms": LATENCY_MS,
        }
        if workers == 1:
            one = {"rate": rate, "ms": wall * 1000 / subs}
            ratio = one["ms"] / bare["wall_ms"]
            extra["bare_charge"] = {k: round(v, 2) for k, v in bare.items()}
            figures.append(
                Figure(
                    names[1],
                    "renewals/s",
                    rate,
                    1000 / bare["wall_ms"],
                    ratio,
                    f"renewal <= {RATIO_GOAL}x a bare charge",
                    None if quick else ratio <= RATIO_GOAL,
                    note=(
                        f"{one['ms']:.1f} ms/renewal vs {bare['wall_ms']:.1f} ms/bare charge; "
                        f"CPU {cpu_ms:.1f} vs {bare['cpu_ms']:.1f} ms; SQL {statements:.1f} "
                        f"vs {bare['statements']:.1f} statements"
                    ),
                    samples=subs,
                    extra=extra,
                )
            )
        else:
            speedup = rate / one["rate"]
            goal = SCALING_GOAL if workers == 4 else None
            figures.append(
                Figure(
                    names[workers],
                    "renewals/s",
                    rate,
                    one["rate"],
                    None if goal is None else goal / speedup,
                    f">= {SCALING_GOAL}x one worker" if goal else "-",
                    None if quick or goal is None else speedup >= goal,
                    note=f"{speedup:.2f}x one worker; CPU {cpu_ms:.1f} ms/renewal",
                    samples=subs,
                    extra=extra,
                )
            )
        print(f"  {figures[-1].name}: {rate:.1f}/s; {figures[-1].note}", flush=True)
        print(f"    {json.dumps(extra, default=str)}", flush=True)
    if not killed:
        return figures
    figures.append(killed_worker(quick, min(subs, 24 if quick else 400), batch=4 if quick else 10))
    return figures


def killed_worker(quick: bool, subs: int, batch: int) -> Figure:
    """Four workers on a file-backed sandbox; one is SIGKILLed mid-run; the
    next tick (after its leases ran out) settles what it left."""
    from paygate.billing import Billing
    from paygate.billing.collection import UNKNOWN_BACKOFF

    name = "Billing renewals, a worker SIGKILLed"
    lease = 1.0 if quick else 3.0
    with _database() as url, tempfile.TemporaryDirectory(prefix="paygate-bench-") as tmp:
        state = Path(tmp) / "sandbox.json"
        payments = _payments(url, state_file=str(state), max_kept=0)
        billing = Billing(payments, clock=lambda: START)
        setup(billing, subs, accounts=min(subs, 10))
        before = json.loads(state.read_text())["effects"].get("charge_recurring", 0)
        payments.plugin("sandbox").latency = LATENCY_MS / 1000
        when = _month(0)
        t0 = time.perf_counter()
        got = _run_workers(
            billing, 4, when, lease=lease, batch=batch, kill_after=(before + subs // 4, state)
        )
        survivors = sum(r["renewed"] for r in got)
        # The next tick, once the killed worker's leases ran out and a
        # minute later (a survivor that met the killed worker's unanswered
        # charge backed off for UNKNOWN_BACKOFF): it reconciles that charge
        # and renews or settles what the killed worker had claimed.
        time.sleep(lease + 0.5)
        later = UNKNOWN_BACKOFF + timedelta(seconds=1)
        billing.clock = lambda: when + later + timedelta(seconds=time.perf_counter() - t0)
        tick = billing.run_once(reconcile_after=0.0, lease_seconds=lease)
        wall = time.perf_counter() - t0
        after = json.loads(state.read_text())["effects"].get("charge_recurring", 0)
        counts = check(billing, 1, subs, after - before)
        payments.close()
    note = (
        f"{subs} subscriptions; survivors renewed {survivors}, the next tick "
        f"{tick.renewed} (+{tick.paid - tick.renewed} settled); exact counts checked"
    )
    print(f"  {name}: {note}", flush=True)
    return Figure(
        name,
        "renewals/s",
        subs / wall,
        None,
        None,
        "exactly N charges, N paid, gapless",
        True,
        note=note,
        samples=subs,
        extra={"checked": counts, "killed_at_charge": subs // 4},
    )


# -- (b) simulate ---------------------------------------------------------------------
def simulate_figure(quick: bool, subs: int, months: int) -> Figure:
    from paygate.billing.simulate import Script, simulate

    with tempfile.TemporaryDirectory(prefix="paygate-bench-") as tmp:
        t0 = time.perf_counter()
        result = simulate(
            database=Path(tmp) / "sim.sqlite3",
            start=START,
            months=months,
            plan=PLAN,
            cycle="monthly",
            currency="USD",
            timezone="UTC",
            count=subs,
            script=Script(),
        )
        took = time.perf_counter() - t0
    expected = subs * (months + 1)  # the first period, then one renewal a month
    if result.invoices != expected or result.paid != expected:
        raise AssertionError(f"simulate made {result.invoices} invoices, expected {expected}")
    # One runner call per due instant: all subscriptions share their dates,
    # so about one per month; a loop over days would make ~30 times more.
    if result.runs > months + 2:
        raise AssertionError(f"simulate called the runner {result.runs} times for {months} months")
    return Figure(
        f"billing simulate, {subs} subscriptions x {months} months",
        "s",
        took,
        None,
        None,
        "no I/O per simulated day",
        True,
        note=(
            f"{result.invoices} invoices, {result.runs} runner calls, "
            f"{took / expected * 1000:.1f} ms/invoice"
        ),
        samples=expected,
    )


# -- profile --------------------------------------------------------------------------
def profile(subs: int) -> str:
    """cProfile of one in-process ``run_once`` over ``subs`` renewals (no latency)."""
    from paygate.billing import Billing

    with _database() as url:
        payments = _payments(url)
        billing = Billing(payments, clock=lambda: START)
        setup(billing, subs, accounts=min(subs, 20))
        billing.clock = lambda: _month(0)
        statements = _count_statements(billing.store.engine)
        prof = cProfile.Profile()
        c0 = time.process_time()
        prof.enable()
        report = billing.run_once()
        prof.disable()
        cpu = time.process_time() - c0
        check(billing, 1, subs, subs)  # the sandbox is this process's: its count
        payments.close()
    buf = io.StringIO()
    print(
        f"{report.renewed} renewals: {cpu * 1000 / subs:.2f} ms CPU and "
        f"{statements[0] / subs:.1f} SQL statements per renewal (profiler on: CPU inflated)",
        file=buf,
    )
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(25)
    pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(30)
    return buf.getvalue()


def figures(
    quick: bool,
    subs: int,
    accounts: int,
    sim_subs: int,
    months: int,
    worker_counts: tuple[int, ...] = (1, 2, 4),
    only_renewals: bool = False,
) -> list[Figure]:
    found = renewals(quick, subs, accounts, worker_counts, killed=not only_renewals)
    if not only_renewals:
        found.append(simulate_figure(quick, sim_subs, months))
    return found


def main(argv: list[str] | None = None) -> int:
    from bench.cli import table

    parser = argparse.ArgumentParser(prog="python -m bench.billing", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, no judging")
    parser.add_argument("--subs", type=int, help="due subscriptions (default 20,000; quick 24)")
    parser.add_argument("--accounts", type=int, default=100, help="accounts made through Billing")
    parser.add_argument("--sim-subs", type=int, help="simulate: subscriptions (1,000; quick 3)")
    parser.add_argument("--months", type=int, help="simulate: months (36; quick 2)")
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--profile", type=int, metavar="N", help="print a profile of N renewals")
    parser.add_argument(
        "--workers",
        default="1,2,4",
        help="worker counts to run, comma-separated, 1 first (default 1,2,4)",
    )
    parser.add_argument(
        "--renewals-only",
        action="store_true",
        help="only the renewal runs (no SIGKILL run, no simulate)",
    )
    args = parser.parse_args(argv)
    try:
        worker_counts = tuple(int(w) for w in args.workers.split(","))
    except ValueError:
        parser.error("--workers takes worker counts such as 1,4")
    if not worker_counts or worker_counts[0] != 1 or any(w not in (1, 2, 4) for w in worker_counts):
        parser.error("--workers: counts among 1, 2 and 4, starting with 1 (the reference)")
    os.environ.pop("PAYGATE_DATABASE_URL", None)
    os.environ.pop("PAYGATE_CONFIG", None)
    if args.profile:
        print(profile(args.profile))
        return 0
    subs = args.subs or (24 if args.quick else 20_000)
    accounts = min(args.accounts, 4 if args.quick else args.accounts)
    sim_subs = args.sim_subs or (3 if args.quick else 1000)
    months = args.months or (2 if args.quick else 36)
    info = machine()
    print(
        f"billing benchmarks ({'quick' if args.quick else 'full'}), load {info['loadavg_at_start']}"
    )
    got = figures(args.quick, subs, accounts, sim_subs, months, worker_counts, args.renewals_only)
    print()
    print(table(got))
    if args.json:
        data = {"mode": "quick" if args.quick else "full", "machine": info}
        data["figures"] = [f.as_dict() for f in got]
        Path(args.json).write_text(json.dumps(data, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

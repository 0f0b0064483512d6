"""Concurrency: 8 threads, then 2 processes, capturing and refunding the same
transactions at once, on SQLite and PostgreSQL.

Invariant: refunded <= captured <= authorized, in the ledger and at the
provider, and the ledger's reservations refuse an excess *before* any
provider is called (the provider never has to decline one).
"""

from __future__ import annotations

import multiprocessing
import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from reliability_workers import card, make_payments, money_worker

from paygate import Money
from paygate.errors import PaygateError
from paygate.ledger import OperationState

THREADS = 8
ROUNDS = 40
TRANSACTIONS = 4


def _check(payments: Any, tx_ids: list[str]) -> dict[str, int]:
    """The invariants, ledger against provider; returns totals in minor units."""
    sandbox = payments.plugin("sandbox")
    state = sandbox.state()
    totals = {"authorized": 0, "captured": 0, "refunded": 0}
    for tx_id in tx_ids:
        tx = payments.transaction(tx_id)
        assert tx.refunded <= tx.captured <= tx.amount
        seen = state["payments"][state["by_transaction"][tx_id]]
        assert (seen["captured"], seen["refunded"]) == (
            tx.captured.minor_units,
            tx.refunded.minor_units,
        )
        assert seen["refunded"] <= seen["captured"] <= seen["amount"]
        # The ledger agrees with itself: totals are the sum of their parts.
        assert sum((c.amount for c in tx.captures), Money.zero("USD")) == tx.captured
        assert sum((r.amount for r in tx.refunds), Money.zero("USD")) == tx.refunded
        totals["authorized"] += tx.amount.minor_units
        totals["captured"] += tx.captured.minor_units
        totals["refunded"] += tx.refunded.minor_units
    # No excess ever reached the provider: it declined nothing.
    declined = [
        (k, (r.error or {}).get("message"))
        for k, status in state["idempotency"].items()
        if status == "failed" and (r := payments.ledger.find_operation(k)) is not None
    ]
    assert declined == []
    assert payments.ledger.operations(state=OperationState.PENDING) == []
    assert payments.ledger.operations(state=OperationState.UNKNOWN) == []
    return totals


def _authorize(payments: Any, n: int) -> list[str]:
    return [
        payments.authorize(Money("50.00", "USD"), card(), idempotency_key=f"auth-{i}").id
        for i in range(n)
    ]


@pytest.mark.slow
def test_threads_never_exceed_limits(database_url: str, backend: str, figures: Any) -> None:
    payments = make_payments(database_url, latency_ms=2)
    tx_ids = _authorize(payments, TRANSACTIONS)
    counts: dict[str, int] = {}
    lock = threading.Lock()
    errors: list[BaseException] = []
    go = threading.Barrier(THREADS)

    def work(seed: int) -> None:
        rng = random.Random(seed)
        for i in range(ROUNDS):
            if i in (0, ROUNDS // 2):
                go.wait()  # everyone captures together, then everyone refunds together
            tx_id = rng.choice(tx_ids)
            amount = Money.from_minor(rng.randint(300, 1500), "USD")
            try:
                if i < ROUNDS // 2:
                    payments.capture(tx_id, amount, final=False, idempotency_key=f"t{seed}-c{i}")
                    what = "captured"
                else:
                    payments.refund(tx_id, amount, idempotency_key=f"t{seed}-r{i}")
                    what = "refunded"
            except PaygateError as exc:
                what = "in_flight" if "in flight" in exc.message else exc.code.value
            except BaseException as exc:  # surfaced below: only PaygateError is expected
                errors.append(exc)
                return
            with lock:
                counts[what] = counts.get(what, 0) + 1

    started = time.perf_counter()
    threads = [threading.Thread(target=work, args=(s,)) for s in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    elapsed = time.perf_counter() - started
    assert errors == []
    totals = _check(payments, tx_ids)
    assert counts.get("captured", 0) > 0 and counts.get("refunded", 0) > 0
    # The race was real: some requests were refused for want of money.
    assert counts.get("invalid_amount", 0) + counts.get("in_flight", 0) > 0
    figures(
        f"concurrency, {THREADS} threads [{backend}]",
        f"{THREADS * ROUNDS} calls on {TRANSACTIONS} transactions: {counts.get('captured', 0)} "
        f"captures and {counts.get('refunded', 0)} refunds done, "
        f"{counts.get('invalid_amount', 0) + counts.get('in_flight', 0)} refused as exceeding "
        f"before any provider call ({counts.get('in_flight', 0)} of them only because of "
        "amounts reserved by calls still in flight); "
        f"authorized {totals['authorized'] / 100:.2f} >= captured {totals['captured'] / 100:.2f} "
        f">= refunded {totals['refunded'] / 100:.2f} (ledger = provider); {elapsed:.1f} s",
    )
    payments.close()


@pytest.mark.slow
def test_processes_never_exceed_limits(
    database_url: str, backend: str, figures: Any, tmp_path: Path
) -> None:
    state_file = str(tmp_path / "sandbox-state.json")
    payments = make_payments(database_url, state_file=state_file)
    tx_ids = _authorize(payments, TRANSACTIONS)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    results = ctx.Queue()
    procs = [
        ctx.Process(
            target=money_worker,
            args=(database_url, state_file, tx_ids, seed, ROUNDS * 2, barrier, results),
        )
        for seed in (1, 2)
    ]
    started = time.perf_counter()
    for p in procs:
        p.start()
    counts: dict[str, int] = {}
    for _ in procs:
        for k, v in results.get(timeout=180).items():
            counts[k] = counts.get(k, 0) + v
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    elapsed = time.perf_counter() - started
    totals = _check(payments, tx_ids)
    assert counts.get("captured", 0) > 0 and counts.get("refunded", 0) > 0
    assert counts.get("invalid_amount", 0) + counts.get("in_flight", 0) > 0
    figures(
        f"concurrency, 2 processes [{backend}]",
        f"{4 * ROUNDS} calls on {TRANSACTIONS} transactions: {counts.get('captured', 0)} captures "
        f"and {counts.get('refunded', 0)} refunds done, "
        f"{counts.get('invalid_amount', 0) + counts.get('in_flight', 0)} refused as exceeding "
        f"before any provider call ({counts.get('in_flight', 0)} because of the other "
        "process's calls in flight); authorized "
        f"{totals['authorized'] / 100:.2f} >= captured {totals['captured'] / 100:.2f} >= "
        f"refunded {totals['refunded'] / 100:.2f} (ledger = provider); {elapsed:.1f} s "
        "(with process start-up)",
    )
    payments.close()

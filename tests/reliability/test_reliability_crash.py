"""Crash: a child process running payments is killed with SIGKILL at random
points, 20 times. After each restart ``reconcile`` settles what the child
left pending, and the host resumes the interrupted call with its key.

Proves: every operation is done once or not at all, and the ledger says which.
The sandbox keeps its memory in a file (``state_file``) so the "provider"
survives the child, like a real gateway.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from reliability_workers import card, crash_child, make_payments

from paygate import Money
from paygate.errors import PaygateError
from paygate.ledger import OperationState

KILLS = 20


def _resume(payments: Any, key: str, tx_id: str) -> None:
    """The host calls again, with the same key and arguments, what was cut."""
    suffix = key.rsplit("-", 1)[1]
    try:
        if suffix == "a":
            payments.authorize(Money("20.00", "USD"), card(), idempotency_key=key)
        elif suffix == "c":
            payments.capture(tx_id, idempotency_key=key)
        elif suffix == "r1":
            payments.refund(tx_id, Money("5.00", "USD"), idempotency_key=key)
        else:
            payments.refund(tx_id, Money("15.00", "USD"), idempotency_key=key)
    except PaygateError:
        pass  # e.g. the refund after a capture that never happened: refused before sending


def _check(payments: Any) -> dict[str, int]:
    ledger = payments.ledger
    state = payments.plugin("sandbox").state()
    records = {r.idempotency_key: r for r in ledger.operations()}
    assert [
        r for r in records.values() if r.state in (OperationState.PENDING, OperationState.UNKNOWN)
    ] == []
    # Nothing the provider did is missing from the ledger...
    assert [k for k in state["idempotency"] if k not in records] == []
    # ...and "succeeded" in the ledger means done at the provider, "failed" means not.
    for key, rec in records.items():
        done = state["idempotency"].get(key) not in (None, "failed")
        assert done == (rec.state is OperationState.SUCCEEDED), key
    # Each operation at most once: the provider's effects are the ledger's successes.
    succeeded: dict[str, int] = {}
    for rec in records.values():
        if rec.state is OperationState.SUCCEEDED:
            succeeded[rec.operation] = succeeded.get(rec.operation, 0) + 1
    assert state["effects"] == succeeded
    # Money: the ledger's totals are the provider's, transaction by transaction.
    for tx_id in {r.transaction_id for r in records.values()}:
        tx = ledger.get_transaction(tx_id)
        ref = state["by_transaction"].get(tx_id)
        if ref is None:
            assert tx is None or tx.status.value == "failed"
            continue
        seen = state["payments"][ref]
        assert tx is not None
        assert (tx.captured.minor_units, tx.refunded.minor_units) == (
            seen["captured"],
            seen["refunded"],
        )
    return succeeded


def _named(database_url: str, cycle: int) -> tuple[str, str | None]:
    """The child's URL, its PostgreSQL sessions named so they can be found."""
    if not database_url.startswith("postgresql"):
        return database_url, None
    name = f"paygate_crash_{os.getpid()}_{cycle}"
    return f"{database_url}&application_name={name}", name


def _end_sessions(database_url: str, name: str | None) -> None:
    """Wait until the server is done with the killed child's sessions.

    A statement the child sent just before SIGKILL still runs on its backend
    (PostgreSQL notices the dead client only when it answers), and may commit
    a pending record after the restarted host listed what is pending. A host
    reconciles long after a crash; here, right after it, the test ends those
    sessions first, as the server soon would.
    """
    if name is None:
        return
    import psycopg

    plain = database_url.split("?")[0].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (name,),
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            row = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (name,)
            ).fetchone()
            if row is not None and row[0] == 0:
                return
            time.sleep(0.01)
    raise AssertionError(f"the killed child's sessions ({name}) did not end within 10 s")


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_at_random_points(
    database_url: str, backend: str, figures: Any, tmp_path: Path
) -> None:
    state_file = str(tmp_path / "gateway.json")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["paygate", "paygate.ledger.sql", "reliability_workers"])
    rng = random.Random(20)
    landed = {
        "between operations": 0,
        "before the provider acted": 0,
        "after the provider acted, before the ledger knew": 0,
    }
    resumed = {"replayed": 0, "run again": 0}
    started = time.perf_counter()
    for cycle in range(KILLS):
        ready = ctx.Event()
        child_url, sessions = _named(database_url, cycle)
        child = ctx.Process(target=crash_child, args=(child_url, state_file, f"k{cycle}", ready))
        child.start()
        assert ready.wait(60)
        time.sleep(rng.uniform(0.0, 0.35))
        os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
        child.join(10)
        assert child.exitcode == -signal.SIGKILL
        _end_sessions(database_url, sessions)

        payments = make_payments(database_url, state_file=state_file)
        pending = payments.ledger.operations(state=OperationState.PENDING)
        report = payments.reconcile(pending_older_than=0)
        assert report.still_unknown == 0 and report.checked == len(pending)
        for detail in report.details:
            if detail["outcome"] == "succeeded":
                landed["after the provider acted, before the ledger knew"] += 1
            else:
                landed["before the provider acted"] += 1
        if not pending:
            landed["between operations"] += 1
        _check(payments)
        sandbox = payments.plugin("sandbox")
        for rec in pending:
            before = sandbox.call_count
            _resume(payments, rec.idempotency_key, rec.transaction_id)
            resumed["replayed" if sandbox.call_count == before else "run again"] += 1
        totals = _check(payments)
        payments.close()
    elapsed = time.perf_counter() - started
    assert sum(landed.values()) >= KILLS
    figures(
        f"crash [{backend}]",
        f"{KILLS} SIGKILLs; the kill landed: "
        + ", ".join(f"{v} {k}" for k, v in landed.items())
        + f"; after restart + reconcile every operation is done once or not at all "
        f"(operations done: {sum(totals.values())}, by kind {totals}); interrupted calls "
        f"resumed by the host: {resumed['replayed']} replayed from the ledger, "
        f"{resumed['run again']} run again (they had never happened); {elapsed:.1f} s",
    )

"""Exactly one charge per subscription period with several worker processes,
one of them killed with SIGKILL in the middle of the run (PostgreSQL: leases
claimed with FOR UPDATE SKIP LOCKED; SQLite: one runner at a time).

Charges are counted at the sandbox gateway, whose memory is a file shared by
every process (a real gateway outlives the worker that called it)."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from billing_helpers import OWNER, card
from billing_workers import make_payments, renew_worker
from sqlalchemy import select

from paygate.billing import Billing
from paygate.ledger.billing_schema import invoices, runner_locks

START = datetime(2027, 1, 31, 10, tzinfo=UTC)
RENEW = datetime(2027, 3, 1, 10, tzinfo=UTC)
WORKERS = 4


def _effects(state_file: Path) -> int:
    try:
        return int(json.loads(state_file.read_text())["effects"].get("charge_recurring", 0))
    except (FileNotFoundError, ValueError):
        return 0


def _victim(billing: Billing, procs: dict[str, Any], sqlite: bool) -> str:
    """SQLite: the worker holding the runner lock; PostgreSQL: any busy one."""
    if not sqlite:
        return "w0"
    with billing.store.read() as conn:
        row = conn.execute(select(runner_locks.c.owner)).first()
    return str(row[0]) if row is not None and row[0] in procs else "w0"


@pytest.mark.slow
def test_one_charge_per_period_with_workers_and_a_sigkill(db_url: str, tmp_path: Path) -> None:
    subs = 12
    sqlite = db_url.startswith("sqlite")
    state_file = tmp_path / "sandbox.json"
    payments = make_payments(db_url, str(state_file))
    billing = Billing(payments, clock=lambda: START)
    for i in range(subs):
        acct = billing.create_account(OWNER.ref, currency="USD", timezone="Europe/Paris")
        billing.add_payment_method(OWNER, acct.id, card(), idempotency_key=f"c{i}")
        billing.subscribe(OWNER, acct.id, "webinar/s25", idempotency_key=f"s{i}")
    assert _effects(state_file) == subs

    ctx = multiprocessing.get_context("spawn")
    results: Any = ctx.Queue()
    procs = {
        f"w{i}": ctx.Process(
            target=renew_worker,
            args=(db_url, str(state_file), RENEW.isoformat(), f"w{i}", results),
        )
        for i in range(WORKERS)
    }
    for p in procs.values():
        p.start()
    # Kill one worker once renewals are being charged.
    deadline = time.monotonic() + 60
    while _effects(state_file) < subs + 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    victim = _victim(billing, procs, sqlite)
    assert procs[victim].pid is not None
    os.kill(procs[victim].pid, signal.SIGKILL)
    done = [results.get(timeout=90) for _ in range(WORKERS - 1)]
    for p in procs.values():
        p.join(30)
    assert procs[victim].exitcode == -signal.SIGKILL
    if sqlite:
        assert sum(busy for _, _, busy in done) > 0  # the other runners were told so

    # Later, the killed worker's leases have run out: a run settles what it left.
    later = Billing(payments, clock=lambda: RENEW + timedelta(hours=1))
    later.run_once(reconcile_after=0)
    with billing.store.read() as conn:
        rows = conn.execute(
            select(invoices.c.reason, invoices.c.status, invoices.c.number).order_by(
                invoices.c.number
            )
        ).all()
    renewals = [r for r in rows if r.reason == "renewal"]
    assert len(renewals) == subs
    assert {r.status for r in renewals} == {"paid"}
    assert [r.number for r in rows] == list(range(1, 2 * subs + 1))  # gapless, no duplicates
    assert _effects(state_file) == 2 * subs  # one charge per period at the gateway
    charged = [
        op
        for op in payments.ledger.operations()
        if op.operation == "charge_recurring" and op.state.value == "succeeded"
    ]
    assert len(charged) == 2 * subs
    payments.close()

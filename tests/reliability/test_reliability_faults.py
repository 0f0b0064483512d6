"""Fault injection: >= 1,000 operations against a sandbox that times out,
answers 5xx and 429, and drops the connection after charging; the host
retries with its idempotency key; reconcile settles what is left.

Proves: 0 double charges, 0 lost records, every unknown settled.
"""

from __future__ import annotations

import random
import time
from typing import Any

import pytest
from reliability_workers import card, make_payments, retry

from paygate import Money
from paygate.ledger import OperationState

FLOWS = 300
FAULTS = {"timeout": 0.06, "server_error": 0.05, "rate_limit": 0.05, "reset_after_charge": 0.06}


def _flows(payments: Any, stats: dict[str, int], rng: random.Random) -> dict[str, list[str]]:
    """Authorize, capture, refund part, refund the rest: 4 operations a flow.
    Returns the host's operation keys by transaction."""
    ops: dict[str, list[str]] = {}
    for n in range(FLOWS):
        amount = Money.from_minor(rng.randint(500, 50_000), "USD")
        key = f"flow{n}"
        stats["operations"] += 1
        tx = retry(
            payments.authorize,
            amount,
            card(),
            attempts=3,
            stats=stats,
            idempotency_key=f"{key}-auth",
            metadata={"order": key},
        )
        if tx is None:
            continue
        ops[tx.id] = [f"{key}-auth"]
        part = Money.from_minor(rng.randint(1, amount.minor_units - 1), "USD")
        steps = (
            (f"{key}-cap", payments.capture, (tx.id,)),
            (f"{key}-r1", payments.refund, (tx.id, part)),
            (f"{key}-r2", payments.refund, (tx.id, amount - part)),
        )
        for op_key, fn, args in steps:
            stats["operations"] += 1
            ops[tx.id].append(op_key)
            if retry(fn, *args, attempts=3, stats=stats, idempotency_key=op_key) is None:
                break  # the host gives up on this flow; reconcile will tell
    return ops


@pytest.mark.slow
def test_fault_injection_no_double_charge_no_lost_record(
    database_url: str, backend: str, figures: Any
) -> None:
    payments = make_payments(database_url, faults=FAULTS, seed=7)
    sandbox = payments.plugin("sandbox")
    stats: dict[str, int] = {"operations": 0}
    started = time.perf_counter()
    ops = _flows(payments, stats, random.Random(7))
    ledger = payments.ledger
    unknown_before = len(ledger.operations(state=OperationState.UNKNOWN))
    sandbox.set_fault_rates()  # the provider is healthy again for reconcile
    report = payments.reconcile()
    elapsed = time.perf_counter() - started

    assert stats["operations"] >= 1000
    # Every unknown outcome was settled by reconcile; nothing left pending.
    assert report.still_unknown == 0
    assert report.settled == unknown_before
    assert ledger.operations(state=OperationState.UNKNOWN) == []
    assert ledger.operations(state=OperationState.PENDING) == []

    state = sandbox.state()
    records = {r.idempotency_key: r for r in ledger.operations()}
    # 0 lost records: every request the provider carried out is in the ledger.
    lost = [k for k in state["idempotency"] if k not in records]
    assert lost == []
    # ...and the ledger says succeeded exactly for what the provider did.
    mismatched = [
        k
        for k, r in records.items()
        if (r.state is OperationState.SUCCEEDED)
        != (state["idempotency"].get(k) not in (None, "failed"))
    ]
    assert mismatched == []
    # 0 double charges: one provider payment per host payment, and the
    # provider's money equals the ledger's, transaction by transaction.
    payments_by_order: dict[str, int] = {}
    for tx_id in ops:
        tx = ledger.get_transaction(tx_id)
        assert tx is not None
        order = tx.metadata["order"]
        payments_by_order[order] = payments_by_order.get(order, 0) + 1
        ref = state["by_transaction"].get(tx_id)
        seen = state["payments"].get(ref) if ref else None
        if seen is None:
            assert tx.status.value == "failed"
            continue
        assert (tx.captured.minor_units, tx.refunded.minor_units) == (
            seen["captured"],
            seen["refunded"],
        )
        assert tx.refunded <= tx.captured <= tx.amount
    double = sum(1 for n in payments_by_order.values() if n > 1)
    assert double == 0
    assert len(state["payments"]) == len(
        [r for r in records.values() if r.operation == "authorize" and r.state.value == "succeeded"]
    )
    succeeded = {op: 0 for op in ("authorize", "capture", "refund")}
    for r in records.values():
        if r.state is OperationState.SUCCEEDED:
            succeeded[r.operation] += 1
    assert {k: state["effects"].get(k, 0) for k in succeeded} == succeeded

    faults = stats.get("lost_answer", 0) + stats.get("5xx", 0) + stats.get("429", 0)
    figures(
        f"fault injection [{backend}]",
        f"{stats['operations']} operations, {stats['attempts']} attempts, {sandbox.call_count} "
        f"provider calls; faults seen by the host: {faults} (answer lost after the request "
        f"left: {stats.get('lost_answer', 0)}, 5xx: {stats.get('5xx', 0)}, 429: "
        f"{stats.get('429', 0)}); host gave up {stats.get('gave_up', 0)} times; unknown "
        f"before reconcile: {unknown_before}, settled by reconcile: {report.settled} "
        f"({report.succeeded} done, {report.failed} never happened), still unknown: "
        f"{report.still_unknown}; double charges: {double}; lost records: {len(lost)}; "
        f"{elapsed:.1f} s",
    )
    payments.close()

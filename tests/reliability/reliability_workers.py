"""Helpers of the reliability suite, importable by child processes too."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from paygate import Card, Money, Payments
from paygate.errors import OperationInProgress, PaygateError, ProviderUnavailable

VISA = "4242424242424242"


def make_payments(database_url: str, **sandbox: Any) -> Payments:
    """A facade with the built-in plugins only (the suite must not depend on
    which provider plugins happen to be installed)."""
    return Payments({"database_url": database_url, "sandbox": sandbox}, load_entrypoints=False)


def reset_pg(url: str) -> None:
    """Drop the ledger's tables (the test database is ours)."""
    from sqlalchemy import text

    from paygate.ledger.sql import make_engine

    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "DROP TABLE IF EXISTS paygate_webhook_events, paygate_operations, "
                "paygate_transactions, paygate_alembic_version"
            )
        )
    engine.dispose()


def card(number: str = VISA, cvc: str = "739") -> Card:
    return Card(number, 12, 2034, cvc)


def retry(
    fn: Callable[..., Any], *args: Any, attempts: int, stats: dict[str, int], **kwargs: Any
) -> Any:
    """Call ``fn`` like a careful host: on a provider fault, again with the same key."""
    for _ in range(attempts):
        stats["attempts"] = stats.get("attempts", 0) + 1
        try:
            return fn(*args, **kwargs)
        except ProviderUnavailable as exc:
            kind = "429" if exc.status_code == 429 else "5xx" if exc.status_code else "lost_answer"
            stats[kind] = stats.get(kind, 0) + 1
        except OperationInProgress:
            stats["in_progress"] = stats.get("in_progress", 0) + 1
    stats["gave_up"] = stats.get("gave_up", 0) + 1
    return None


def money_worker(
    database_url: str,
    state_file: str,
    tx_ids: list[str],
    seed: int,
    rounds: int,
    barrier: Any,
    results: Any,
) -> None:
    """One process of the cross-process test: capture and refund random
    amounts of the same transactions as the other process, at the same time."""
    payments = make_payments(database_url, state_file=state_file, latency_ms=1)
    rng = random.Random(seed)
    counts: dict[str, int] = {}
    for i in range(rounds):
        if i in (0, rounds // 2):
            barrier.wait(timeout=60)  # both capture together, then both refund together
        tx_id = rng.choice(tx_ids)
        amount = Money.from_minor(rng.randint(300, 1500), "USD")
        try:
            if i < rounds // 2:
                payments.capture(tx_id, amount, final=False, idempotency_key=f"p{seed}-c{i}")
                counts["captured"] = counts.get("captured", 0) + 1
            else:
                payments.refund(tx_id, amount, idempotency_key=f"p{seed}-r{i}")
                counts["refunded"] = counts.get("refunded", 0) + 1
        except PaygateError as exc:
            what = "in_flight" if "in flight" in exc.message else exc.code.value
            counts[what] = counts.get(what, 0) + 1
    payments.close()
    results.put(counts)


def crash_child(database_url: str, state_file: str, prefix: str, ready: Any) -> None:
    """Run payment flows until killed (SIGKILL, by the parent)."""
    payments = make_payments(
        database_url, state_file=state_file, latency_ms=15, answer_latency_ms=15
    )
    ready.set()
    i = 0
    while True:
        key = f"{prefix}-{i}"
        tx = payments.authorize(Money("20.00", "USD"), card(), idempotency_key=f"{key}-a")
        payments.capture(tx.id, idempotency_key=f"{key}-c")
        payments.refund(tx.id, Money("5.00", "USD"), idempotency_key=f"{key}-r1")
        payments.refund(tx.id, Money("15.00", "USD"), idempotency_key=f"{key}-r2")
        i += 1

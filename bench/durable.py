"""paygate-stripe against the hand-wired durable baseline, and at a real
gateway's latency.

A host does not compare paygate with a bare SDK call that records nothing; it
compares it with what it would write by hand for the same guarantee: a row
recorded before the request leaves (so a crash mid-call is found and
reconciled, never charged twice) and its outcome after, each committed. That
is the floor this figure measures paygate against, in the ledger's own
durability settings (read from a live ledger, never copied).
"""

from __future__ import annotations

import os
import secrets

from bench import sides
from bench.harness import Figure, interleaved, median, skipped
from bench.settings import MS, PG_URL, US, Settings, postgres_admin
from bench.stub_stripe import StubStripe

GOAL = 1.15
NAME_SQLITE = "Durable baseline, SQLite ledger"
NAME_PG = "Durable baseline, PostgreSQL ledger"
NAME_SDK_MEMORY = "SDK ratio, memory ledger (reported)"
NAME_SDK_SQLITE = "SDK ratio, SQLite ledger (reported)"
NAME_LATENCY = "At 100 ms gateway latency, SQLite ledger"


def _stripe_missing() -> str | None:
    try:
        import stripe  # noqa: F401
        from paygate_stripe.plugin import StripeProvider  # noqa: F401
    except ImportError as exc:
        return f"paygate-stripe not installed ({exc})"
    return None


def durable(settings: Settings) -> list[Figure]:
    """paygate-stripe (SQLite, PostgreSQL) vs the SDK call between an INSERT
    and an UPDATE of one operation row; the bare SDK ratios, reported."""
    missing = _stripe_missing()
    if missing:
        return [
            skipped(NAME_SQLITE, "ms/call", f"ratio <= {GOAL}", missing),
            skipped(NAME_PG, "ms/call", f"ratio <= {GOAL}", missing),
            skipped(NAME_SDK_MEMORY, "ms/call", "reported", missing),
            skipped(NAME_SDK_SQLITE, "ms/call", "reported", missing),
        ]
    with StubStripe(max_seconds=300 + 4 * settings.ab_seconds) as stub:
        out = _sqlite_side(settings, stub.url)
        out.append(_postgres_side(settings, stub.url))
    return out


def _sqlite_side(settings: Settings, url: str) -> list[Figure]:
    key = sides.api_key()
    ledger = sides.payments_for(url, f"sqlite:///{settings.workdir / 'durable.sqlite3'}", key)
    memory = sides.payments_for(url, "memory", key)
    client = sides.plugin_client(url, key)
    pragmas = sides.sqlite_pragmas(ledger)
    hand = sides.HandWiredSQLite(settings.workdir / "hand.sqlite3", pragmas)
    with_sqlite = sides.paygate_authorize(ledger)
    with_memory = sides.paygate_authorize(memory)
    by_hand = hand.payment(client)
    bare = sides.raw_sdk(client)
    for _ in range(30):
        with_sqlite()
        by_hand()
        bare()
        with_memory()
    t_sqlite, t_hand, t_bare, t_memory = interleaved(
        with_sqlite, by_hand, bare, with_memory, seconds=settings.ab_seconds, batch=10
    )
    ledger.close()
    memory.close()
    hand.close()
    a, h, b, m = median(t_sqlite), median(t_hand), median(t_bare), median(t_memory)
    samples = len(t_sqlite) + len(t_hand) + len(t_bare) + len(t_memory)
    shown = ", ".join(f"{k}={v}" for k, v in pragmas.items())
    return [
        Figure(
            name=NAME_SQLITE,
            unit="ms/call",
            paygate=a * MS,
            baseline=h * MS,
            ratio=a / h,
            goal=f"ratio <= {GOAL}",
            passed=a / h <= GOAL,
            samples=samples,
            note=(
                f"{(a - h) * US:+.0f} µs over the SDK call between an INSERT and an UPDATE "
                f"through sqlite3 ({shown}, read from the ledger); the hand-wired row "
                f"costs {(h - b) * US:+.0f} µs over the bare call ({b * MS:.3f} ms)"
            ),
            extra={"pragmas": pragmas, "bare_ms": b * MS, "added_us": (a - h) * US},
        ),
        Figure(
            name=NAME_SDK_MEMORY,
            unit="ms/call",
            paygate=m * MS,
            baseline=b * MS,
            ratio=m / b,
            goal="reported (was <= 1.05)",
            passed=None,
            samples=samples,
            note=f"{(m - b) * US:+.0f} µs over the bare SDK call, which records nothing",
        ),
        Figure(
            name=NAME_SDK_SQLITE,
            unit="ms/call",
            paygate=a * MS,
            baseline=b * MS,
            ratio=a / b,
            goal="reported (was <= 1.15)",
            passed=None,
            samples=samples,
            note=f"{(a - b) * US:+.0f} µs over the bare SDK call, which records nothing",
        ),
    ]


def _postgres_side(settings: Settings, url: str) -> Figure:
    unit, goal = "ms/call", f"ratio <= {GOAL}"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return skipped(NAME_PG, unit, goal, "psycopg is not installed")
    database = f"paygate_bench_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        postgres_admin(f"CREATE DATABASE {database}")
    except Exception as exc:
        why = f"PostgreSQL unreachable at {PG_URL.split('@')[-1]}: {type(exc).__name__}"
        return skipped(NAME_PG, unit, goal, why)
    try:
        db_url = f"{PG_URL.rsplit('/', 1)[0]}/{database}"
        key = sides.api_key()
        ledger = sides.payments_for(url, db_url, key)
        client = sides.plugin_client(url, key)
        pg_settings = sides.postgres_settings(ledger)
        hand = sides.HandWiredPostgres(db_url, pg_settings)
        with_pg = sides.paygate_authorize(ledger)
        by_hand = hand.payment(client)
        for _ in range(30):
            with_pg()
            by_hand()
        t_pg, t_hand = interleaved(with_pg, by_hand, seconds=settings.ab_seconds, batch=10)
        ledger.close()
        hand.close()
    finally:
        postgres_admin(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    a, h = median(t_pg), median(t_hand)
    shown = ", ".join(f"{k}={v}" for k, v in pg_settings.items())
    return Figure(
        name=NAME_PG,
        unit=unit,
        paygate=a * MS,
        baseline=h * MS,
        ratio=a / h,
        goal=goal,
        passed=a / h <= GOAL,
        samples=len(t_pg) + len(t_hand),
        note=(
            f"{(a - h) * US:+.0f} µs over the SDK call between an INSERT and an UPDATE "
            f"through psycopg in autocommit ({shown}, read from the ledger); "
            f"server {PG_URL.split('@')[-1]}"
        ),
        extra={"settings": pg_settings, "added_us": (a - h) * US},
    )


def latency(settings: Settings) -> list[Figure]:
    """paygate-stripe with SQLite vs the bare SDK call, the stub answering after 100 ms."""
    unit = "ms/call"
    missing = _stripe_missing()
    if missing:
        return [skipped(NAME_LATENCY, unit, "reported", missing)]
    delay_ms = 100.0
    with StubStripe(max_seconds=120, delay_ms=delay_ms) as stub:
        key = sides.api_key()
        ledger = sides.payments_for(
            stub.url, f"sqlite:///{settings.workdir / 'latency.sqlite3'}", key
        )
        client = sides.plugin_client(stub.url, key)
        hand = sides.HandWiredSQLite(
            settings.workdir / "latency-hand.sqlite3", sides.sqlite_pragmas(ledger)
        )
        with_sqlite = sides.paygate_authorize(ledger)
        bare = sides.raw_sdk(client)
        by_hand = hand.payment(client)
        for fn in (with_sqlite, bare, by_hand):
            fn()
        t_a, t_b, t_h = interleaved(
            with_sqlite, bare, by_hand, seconds=0.0, batch=1, min_rounds=settings.latency_rounds
        )
        ledger.close()
        hand.close()
    a, b, h = median(t_a), median(t_b), median(t_h)
    return [
        Figure(
            name=NAME_LATENCY,
            unit=unit,
            paygate=a * MS,
            baseline=b * MS,
            ratio=a / b,
            goal="reported",
            passed=None,
            samples=len(t_a) + len(t_b) + len(t_h),
            note=(
                f"ratio {a / b:.2f}x; {(a - b) * US:+.0f} µs on a {delay_ms:.0f} ms round "
                f"trip; the hand-wired durable baseline {h * MS:.3f} ms ({h / b:.3f}x)"
            ),
            extra={"hand_ms": h * MS},
        )
    ]

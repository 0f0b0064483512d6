"""What every figure shares: run lengths, units and the PostgreSQL server."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

US = 1e6
MS = 1e3
MB = 1024 * 1024

#: The PostgreSQL server of the PostgreSQL figures; each run works in a database
#: of its own (``paygate_bench_<pid>_<random>``, dropped at the end), never in test data.
PG_URL = os.environ.get("PAYGATE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@dataclass
class Settings:
    """How long each figure runs; ``quick`` only checks that nothing rotted."""

    quick: bool
    workdir: Path

    @property
    def ab_seconds(self) -> float:
        return 0.5 if self.quick else 20.0

    @property
    def core_seconds(self) -> float:
        return 1.0 if self.quick else 10.0

    @property
    def quote_seconds(self) -> float:
        return 1.0 if self.quick else 5.0

    @property
    def import_runs(self) -> int:
        return 3 if self.quick else 21

    @property
    def throughput_calls(self) -> int:
        return 640 if self.quick else 10_000

    @property
    def memory_ops(self) -> int:
        return 1_000 if self.quick else 100_000

    @property
    def latency_rounds(self) -> int:
        """Rounds of one call per side at 100 ms a call."""
        return 2 if self.quick else 30

    @property
    def callgrind_payments(self) -> int:
        """Payments counted per side under callgrind (after a warm-up): a
        count does not vary with the load, so a few hundred are plenty."""
        return 200

    @property
    def peer_rows(self) -> tuple[int, ...]:
        return (100, 1_000) if self.quick else (1_000, 100_000)

    @property
    def peer_seconds(self) -> float:
        return 0.5 if self.quick else 12.0


def fresh_env() -> None:
    # The host's ledger override would silently turn every figure into a
    # measure of that database.
    os.environ.pop("PAYGATE_DATABASE_URL", None)
    os.environ.pop("PAYGATE_CONFIG", None)


def postgres_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_URL, connect_timeout=3, autocommit=True) as conn:
        conn.execute(sql)

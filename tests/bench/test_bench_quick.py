"""The benchmark suite still runs: ``python -m bench --quick`` prints every
figure and writes its JSON. The numbers themselves are never judged here
(timing goals do not belong in tests); docs/performance.md has them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

FIGURES = (
    "Durable baseline, SQLite ledger",
    "Durable baseline, PostgreSQL ledger",
    "SDK ratio, memory ledger (reported)",
    "SDK ratio, SQLite ledger (reported)",
    "Instructions per payment, memory ledger",
    "Instructions per payment, SQLite ledger",
    "Peer: added cost vs django-payments, 100 rows",
    "Peer: added cost vs django-payments, 1,000 rows",
    "At 100 ms gateway latency, SQLite ledger",
    "Core overhead per authorize",
    "Quotes per second",
    "import paygate (fresh process)",
    "Throughput, SQLite file ledger",
    "Throughput, PostgreSQL ledger",
    "Memory growth, 100k sandbox operations",
    "Billing renewals/s, 1 worker",
    "Billing renewals/s, 2 workers",
    "Billing renewals/s, 4 workers",
    "Billing renewals, a worker SIGKILLed",
    "billing simulate, 3 subscriptions x 2 months",
    "invoices issued+rendered",
)
#: Figures measured but never judged (no goal of their own).
REPORTED = {
    "SDK ratio, memory ledger (reported)",
    "SDK ratio, SQLite ledger (reported)",
    "At 100 ms gateway latency, SQLite ledger",
}
#: Judged in a full run, never in quick mode (too few renewals or documents
#: to say anything).
QUICK_UNJUDGED = {
    "Billing renewals/s, 1 worker",
    "Billing renewals/s, 2 workers",
    "Billing renewals/s, 4 workers",
    "invoices issued+rendered",
}
#: What may be skipped, and the words its reason must contain.
MAY_SKIP = {
    "Durable baseline, PostgreSQL ledger": "PostgreSQL",
    "Throughput, PostgreSQL ledger": "PostgreSQL",
    # Quick mode counts a callgrind self-test, not the payments (the imports
    # alone take ~20 s under valgrind); without valgrind it says so.
    "Instructions per payment, memory ledger": "callgrind",
    "Instructions per payment, SQLite ledger": "callgrind",
    "Peer: added cost vs django-payments, 100 rows": "django-payments",
    "Peer: added cost vs django-payments, 1,000 rows": "django-payments",
    "Billing renewals/s, 1 worker": "PostgreSQL",
    "Billing renewals/s, 2 workers": "PostgreSQL",
    "Billing renewals/s, 4 workers": "PostgreSQL",
    "Billing renewals, a worker SIGKILLed": "PostgreSQL",
    "invoices issued+rendered": "not installed",
}


@pytest.mark.slow
@pytest.mark.localserver
def test_quick_mode_prints_every_figure_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items() if k != "PAYGATE_DATABASE_URL"}
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    table = done.stdout.split("\nfigure ", 1)[1]
    for name in FIGURES:
        assert name in table, f"{name!r} missing from the table"
    data = json.loads(out.read_text())
    assert data["mode"] == "quick"
    assert data["crashed"] == []
    rows = {row["name"]: row for row in data["figures"]}
    assert set(rows) == set(FIGURES)
    for name, row in rows.items():
        if row["skipped"]:
            assert name in MAY_SKIP, f"{name} skipped: {row['skipped']}"
            assert MAY_SKIP[name] in row["skipped"] or "not installed" in row["skipped"], row
            continue
        assert isinstance(row["paygate"], float) and row["paygate"] > 0, name
        assert row["goal"], name
        if name in REPORTED or name in QUICK_UNJUDGED:
            assert row["passed"] is None, name
        else:
            assert isinstance(row["passed"], bool), name
    # The hand-wired baseline runs in the settings read from a live ledger.
    pragmas = rows["Durable baseline, SQLite ledger"]["extra"]["pragmas"]
    assert pragmas["journal_mode"] == "wal"
    assert pragmas["synchronous"] in (1, 2, 3)

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
    "SDK overhead, memory ledger",
    "SDK overhead, SQLite file ledger",
    "Core overhead per authorize",
    "Quotes per second",
    "import paygate (fresh process)",
    "Throughput, SQLite file ledger",
    "Throughput, PostgreSQL ledger",
    "Memory growth, 100k sandbox operations",
)


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
            # Only PostgreSQL may be missing, and it says why.
            assert name == "Throughput, PostgreSQL ledger" and row["skipped"].strip()
            continue
        assert isinstance(row["paygate"], float) and row["paygate"] > 0, name
        assert row["goal"] and isinstance(row["passed"], bool), name

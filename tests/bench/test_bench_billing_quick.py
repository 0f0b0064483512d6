"""``python -m bench.billing --quick`` still runs, and its exact checks hold:
every renewal run charged each due subscription once (gateway and ledger),
paid each renewal invoice, and numbered invoices without a gap. The timings
are never judged here (docs/performance.md has them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_billing_bench_quick_mode_runs_and_checks_its_counts(tmp_path: Path) -> None:
    out = tmp_path / "billing.json"
    env = {k: v for k, v in os.environ.items() if k != "PAYGATE_DATABASE_URL"}
    done = subprocess.run(
        [sys.executable, "-m", "bench.billing", "--quick", "--json", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = {row["name"]: row for row in json.loads(out.read_text())["figures"]}
    renewal_rows = [r for name, r in rows.items() if name.startswith("Billing renewals/s")]
    assert len(renewal_rows) == 3
    if all(r["skipped"] for r in renewal_rows):
        assert "PostgreSQL unreachable" in renewal_rows[0]["skipped"]
    else:
        for row in renewal_rows:
            subs = row["extra"]["subscriptions"]
            assert row["extra"]["checked"] == {"paid": subs, "ledger": subs, "gateway": subs}
            assert row["paygate"] > 0
        killed = rows["Billing renewals, a worker SIGKILLed"]
        assert killed["passed"] is True and killed["extra"]["checked"]["paid"] > 0
    [sim] = [r for name, r in rows.items() if name.startswith("billing simulate")]
    assert sim["passed"] is True and sim["samples"] > 0

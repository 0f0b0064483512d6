"""Child processes of the multi-process billing tests (importable by spawn)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from paygate_pricing.plugin import PricingRules

import paygate
from paygate.billing import Billing, RunnerBusy


def make_payments(url: str, state_file: str, latency_ms: int = 0) -> paygate.Payments:
    return paygate.Payments(
        {
            "database_url": url,
            "sandbox": {"state_file": state_file, "latency_ms": latency_ms},
        },
        plugins=[PricingRules],
        load_entrypoints=False,
    )


def renew_worker(url: str, state_file: str, when: str, name: str, results: Any) -> None:
    """Run renewals until nothing is due, as one worker process of many."""
    # The clock starts at ``when`` and runs: a killed worker's leases (3 s)
    # run out while the others are still at work, and they take over.
    instant, t0 = datetime.fromisoformat(when), time.monotonic()
    payments = make_payments(url, state_file, latency_ms=20)
    billing = Billing(payments, clock=lambda: instant + timedelta(seconds=time.monotonic() - t0))
    renewed = busy = 0
    deadline = time.monotonic() + 45
    idle = 0
    while time.monotonic() < deadline and idle < 3:
        try:
            report = billing.run_once(batch=2, lease_seconds=3, worker=name)
        except RunnerBusy:
            busy += 1
            time.sleep(0.05)
            continue
        renewed += report.renewed
        idle = idle + 1 if report.claimed == 0 else 0
        time.sleep(0.02)
    payments.close()
    results.put((name, renewed, busy))

"""Child processes of the multi-process invoices tests (importable by spawn)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from invoices_helpers import FastRenderer, make_payments

from paygate.billing import Billing


def issue_worker(url: str, when: str, results: Any) -> None:
    """Issue every due document, as one worker process of several."""
    instant = datetime.fromisoformat(when)
    payments = make_payments(url, renderer=FastRenderer)
    billing = Billing(payments, clock=lambda: instant)
    issued = 0
    for _ in range(3):
        issued += len(billing.invoices.issue_due())
    results.put(issued)
    payments.close()

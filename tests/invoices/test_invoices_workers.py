"""Several processes issuing documents in one series at once: no duplicate
number, no gap, one document per invoice, and an unbroken chain."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime

import pytest
from invoices_helpers import OWNER, customer, make_payments
from invoices_workers import issue_worker

from paygate.billing import Billing

START = datetime(2027, 1, 31, 10, tzinfo=UTC)
WORKERS = 4
INVOICES = 12


@pytest.mark.slow
def test_workers_issue_each_invoice_once_without_gaps(db_url: str) -> None:
    # Invoices are paid first with no renderer installed: nothing is issued yet.
    payments = make_payments(db_url, renderer=None)
    billing = Billing(payments, clock=lambda: START)
    accounts = []
    for i in range(INVOICES):
        acct = customer(billing)
        billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key=f"s{i}")
        accounts.append(acct)
    assert billing.invoices.all_documents() == []
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    procs = [
        ctx.Process(target=issue_worker, args=(db_url, START.isoformat(), results))
        for _ in range(WORKERS)
    ]
    for p in procs:
        p.start()
    counts = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    docs = billing.invoices.all_documents()
    assert sum(counts) == INVOICES  # each issued by exactly one worker
    assert sorted(d.number for d in docs) == list(range(1, INVOICES + 1))
    assert len({d.invoice_id for d in docs}) == INVOICES
    assert billing.invoices.verify() == []
    payments.close()

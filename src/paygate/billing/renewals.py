"""Renewals: the next period's lines and ``run_once`` (the runner itself is in
:mod:`paygate.billing.runner`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from paygate.billing.core import BillingCore
from paygate.billing.models import (
    Account,
    DraftLine,
    Subscription,
)
from paygate.billing.periods import Period, period
from paygate.billing.planner import (
    Entry,
    overage_items,
    price_period,
)


@dataclass
class RunReport:
    """What one :meth:`Billing.run_once` did."""

    claimed: int = 0
    renewed: int = 0
    paid: int = 0
    failed: int = 0
    unknown: int = 0
    canceled: int = 0
    parked: int = 0
    resumed: int = 0
    conflicts: int = 0
    #: cancel refunds finished by this run (a crash or no answer before)
    refunded: int = 0
    #: parked subscriptions whose charge had gone through: invoice settled as paid
    settled: int = 0
    invoices: list[str] = field(default_factory=list)


class Renewals(BillingCore):
    """``run_once`` and the renewal lines it charges."""

    def _metered(self, sub: Subscription) -> bool:
        """Whether usage can add a line to the renewal of ``sub``: only an
        item whose offer has an overage rate in some price version bills
        usage (:func:`overage_items`), so for the others it is not read."""
        return any(price.overage for e in self._entries(sub) for price in e.offer.prices)

    def _renewal_lines(
        self, acct: Account, sub: Subscription, usage: dict[str, int]
    ) -> tuple[list[DraftLine], Any]:
        """The next period's invoice lines (pending changes applied, overage of
        the period that ends): what ``run_once`` will charge."""
        pending = sub.pending or {}
        old_cycle = self.catalog.cycle(sub.cycle)
        new_cycle = self.catalog.cycle(pending.get("cycle", sub.cycle))
        removed = set(pending.get("remove", []))
        entries_now = self._entries(sub)
        entries = [
            Entry(
                e.item_id,
                self.catalog.offer(pending["offer"])
                if e.offer.kind == "plan" and "offer" in pending
                else e.offer,
                e.quantity,
            )
            for e in entries_now
            if e.item_id not in removed
        ]
        if new_cycle.code != old_cycle.code:
            anchor, anchor_index = sub.period_end, sub.period_index + 1
        else:
            anchor, anchor_index = sub.anchor, sub.anchor_index
        nxt = period(anchor, new_cycle.interval, sub.period_index + 1 - anchor_index)
        nxt = Period(sub.period_index + 1, nxt.start, nxt.end)
        extra = overage_items(
            entries_now, old_cycle, usage, acct.currency, sub.period_start, self.rounding
        )
        lines, _ = price_period(self.payments.quote, acct, entries, new_cycle, nxt, extra)
        lines += self._taxes(acct, lines)
        return lines, (nxt, anchor, anchor_index, new_cycle, entries, removed)

    def run_once(
        self,
        *,
        batch: int = 50,
        lease_seconds: float = 120.0,
        worker: str | None = None,
        reconcile_after: float | None = 300.0,
    ) -> RunReport:
        """Renew, retry and end what is due, once. Safe to run from many
        processes at once (PostgreSQL: ``FOR UPDATE SKIP LOCKED`` leases);
        on SQLite a second concurrent runner gets :class:`RunnerBusy`.

        :param reconcile_after: charges left pending by a killed worker are
            reconciled with the gateway (``Payments.reconcile``) once this
            many seconds old; ``None``: never here.
        """
        from paygate.billing.runner import run_once

        return run_once(
            self._whole(),
            batch=batch,
            lease_seconds=lease_seconds,
            worker=worker,
            reconcile_after=reconcile_after,
        )


__all__ = ["Renewals", "RunReport"]

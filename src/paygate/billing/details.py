"""What the owner reads: billing details (the next charge previewed with the
renewal's own code), invoices, and the events outbox for hosts that poll.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from paygate.billing.accounts import _method_text
from paygate.billing.errors import (
    InvalidTransition,
)
from paygate.billing.models import (
    Action,
    Actor,
    BillingEvent,
    BillingState,
    DraftLine,
)
from paygate.billing.periods import period
from paygate.billing.planner import (
    price_period,
)
from paygate.billing.reactions import Dispute, Reactions
from paygate.billing.renewals import Renewals
from paygate.money import Money


@dataclass(frozen=True, slots=True)
class Details:
    """What the owner's billing-details page shows."""

    account_id: str
    status: str
    plan: str
    plan_size: int | None
    cycle: str
    schedule: str
    price: Money
    renewal_date: date | None
    payment_method: str | None
    addons: tuple[tuple[str, int], ...]
    allowances: dict[str, tuple[int, int, int]]
    next_charge: tuple[DraftLine, ...]
    next_charge_total: Money
    subscription_id: str
    #: Disputes (chargebacks) still open on the account's charges.
    open_disputes: tuple[Dispute, ...] = ()


class Reading(Renewals, Reactions):
    """``details``, ``invoices`` and ``events``."""

    def details(self, actor: Actor, account: str) -> Details:
        """The owner's billing details: plan size, schedule, price after
        discounts, renewal date, free-minutes balance, payment method, add-ons,
        status and the next charge, previewed with the renewal's own code."""
        with self.store.read() as conn:
            acct = self.store.account(conn, account)
            self._authorize(actor, Action.VIEW, acct)
            subs = self.store.subscriptions_of(conn, acct.id)
            if not subs:
                raise InvalidTransition(f"account {acct.id} has no subscription", param="account")
            live = [s for s in subs if s.billing_state is not BillingState.CANCELED]
            sub = (live or subs)[-1]
            usage = self.store.usage(conn, sub.id, sub.period_index)
            open_disputes = tuple(d for d in self._disputes(conn, acct.id) if d.status == "open")
        offer = self.catalog.offer(sub.offer)
        cyc = self.catalog.cycle(sub.cycle)
        entries = self._entries(sub)
        nxt = period(sub.anchor, cyc.interval, sub.period_index + 1 - sub.anchor_index)
        lines, _ = self._renewal_lines(acct, sub, usage)
        total = sum((ln.amount for ln in lines), Money.zero(acct.currency))
        plan_lines, _ = price_period(self.payments.quote, acct, entries, cyc, nxt)
        price = sum((ln.amount for ln in plan_lines), Money.zero(acct.currency))
        allowances: dict[str, tuple[int, int, int]] = {}
        for e in entries:
            for metric, units in e.offer.allowances.items():
                inc = (
                    allowances.get(metric, (0, 0, 0))[0] + units * e.quantity * cyc.allowance_months
                )
                used = usage.get(metric, 0)
                allowances[metric] = (inc, used, max(inc - used, 0))
        addons = tuple(
            (self.catalog.offer(i.offer).name, i.quantity)
            for i in sub.active_items()
            if i.kind != "plan"
        )
        running = sub.billing_state is BillingState.ACTIVE and not sub.cancel_at_period_end
        return Details(
            account_id=acct.id,
            status=sub.status,
            plan=offer.name,
            plan_size=offer.attendees,
            cycle=cyc.code,
            schedule=f"every {cyc.interval}",
            price=price,
            renewal_date=sub.period_end if running else None,
            payment_method=_method_text(acct.payment_method),
            addons=addons,
            allowances=allowances,
            next_charge=tuple(lines) if running else (),
            next_charge_total=total if running else Money.zero(acct.currency),
            subscription_id=sub.id,
            open_disputes=open_disputes,
        )

    def events(self, *, after: int = 0, limit: int = 1000) -> list[BillingEvent]:
        """The events outbox, in order (``seq``), for hosts that poll."""
        with self.store.read() as conn:
            return self.store.events(conn, after=after, limit=limit)


__all__ = ["Details", "Reading"]

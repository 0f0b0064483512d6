"""``paygate billing simulate``: subscriptions time-travelled through months.

The clock jumps from one due instant to the next (a renewal, a retry, the end
of a freeze, a scripted change): the runner is called once per due instant,
never once per simulated day, so 36 months of 1,000 subscriptions cost about
36,000 renewals of work and no more.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from paygate.billing.catalog import Catalog
from paygate.billing.errors import PaymentFailed
from paygate.billing.models import Actor
from paygate.billing.periods import add_months, zone
from paygate.billing.service import Billing
from paygate.ledger.billing_schema import invoices, subscriptions
from paygate.models import Card

OWNER = Actor.user("simulated-owner")
_CARDS = ("4242424242424242", "5555555555554444")


@dataclass
class Script:
    """Scripted events, each on a date (at noon UTC)."""

    upgrades: list[tuple[date, str]] = field(default_factory=list)
    addons: list[tuple[date, str]] = field(default_factory=list)
    freezes: list[tuple[date, int]] = field(default_factory=list)
    declines: list[date] = field(default_factory=list)
    new_cards: list[date] = field(default_factory=list)

    def events(self) -> list[tuple[datetime, str, Any]]:
        found: list[tuple[datetime, str, Any]] = []
        for d, plan in self.upgrades:
            found.append((_noon(d), "upgrade", plan))
        for d, addon in self.addons:
            found.append((_noon(d), "addon", addon))
        for d, days in self.freezes:
            found.append((_noon(d), "freeze", days))
        for d in self.declines:
            found.append((_noon(d), "decline", None))
        for d in self.new_cards:
            found.append((_noon(d), "new_card", None))
        return sorted(found, key=lambda e: e[0])


@dataclass
class SimResult:
    invoices: int = 0
    paid: int = 0
    open: int = 0
    uncollectible: int = 0
    runs: int = 0


def _noon(d: date) -> datetime:
    return datetime.combine(d, time(12), tzinfo=UTC)


def simulate(
    *,
    database: Path,
    start: datetime,
    months: int,
    plan: str,
    cycle: str,
    currency: str,
    timezone: str,
    count: int,
    script: Script,
    catalog_path: str | None = None,
    echo: Callable[[str], object] | None = None,
) -> SimResult:
    from paygate.payments import Payments

    clock = {"now": start}
    payments = Payments(
        {"database_url": f"sqlite:///{database}", "default_provider": "sandbox"},
    )
    catalog = Catalog.load(catalog_path) if catalog_path else None
    billing = Billing(payments, catalog=catalog, clock=lambda: clock["now"])
    end = datetime.combine(add_months(start.date(), months), start.timetz())
    result = SimResult()
    seen: dict[str, str] = {}
    tz = zone(timezone)
    accounts: list[str] = []
    subs: list[str] = []
    cards = 0

    def report() -> None:
        # One cheap scan of (id, status); only new or changed invoices are loaded.
        with billing.store.read() as conn:
            changed = [
                r.id
                for r in conn.execute(
                    select(invoices.c.id, invoices.c.status).order_by(invoices.c.created_at)
                ).all()
                if r.status != "draft" and seen.get(r.id) != r.status
            ]
            loaded = [billing.store.invoice(conn, i) for i in changed]
        for inv in loaded:
            before = seen.get(inv.id)
            seen[inv.id] = inv.status
            if before is None:
                result.invoices += 1
            for status, change in ((before, -1), (inv.status, 1)):
                if status == "paid":
                    result.paid += change
                elif status == "open":
                    result.open += change
                elif status == "uncollectible":
                    result.uncollectible += change
            if echo is not None:
                at = (inv.closed_at or inv.finalized_at or inv.created_at).astimezone(tz)
                when = at.date().isoformat()
                lines = "; ".join(f"{ln.description}: {ln.amount}" for ln in inv.lines)
                echo(
                    f"{when}  {inv.series}-{inv.number:06d}  {inv.reason:<9} "
                    f"{inv.status:<13} {inv.total}  [{lines}]"
                )

    def sandbox_declines(flag: bool) -> None:
        sandbox = payments.plugin("sandbox")
        for acct in accounts:
            method = billing.account(OWNER, acct).payment_method
            if method is not None and method.provider == "sandbox":
                sandbox.set_stored_outcome(method.token, "decline_on_charge" if flag else "ok")

    try:
        for i in range(count):
            acct = billing.create_account(OWNER.ref, currency=currency, timezone=timezone)
            billing.add_payment_method(
                OWNER, acct.id, Card(_CARDS[0], 12, 2034, "123"), idempotency_key="card-0"
            )
            subs.append(
                billing.subscribe(OWNER, acct.id, plan, cycle=cycle, idempotency_key=f"sim-{i}").id
            )
            accounts.append(acct.id)
        report()
        events = script.events()
        while True:
            with billing.store.read() as conn:
                due = conn.execute(select(func.min(subscriptions.c.next_action_at))).scalar()
            if due is not None and due.tzinfo is None:
                due = due.replace(tzinfo=UTC)
            upcoming = events[0][0] if events else None
            candidates = [t for t in (due, upcoming) if t is not None]
            if not candidates or min(candidates) > end:
                break
            clock["now"] = max(clock["now"], min(candidates))
            if upcoming is not None and upcoming <= clock["now"]:
                _, kind, arg = events.pop(0)
                for sub_id, account_id in zip(subs, accounts, strict=True):
                    try:
                        if kind == "upgrade":
                            billing.apply(OWNER, billing.preview_change(OWNER, sub_id, plan=arg))
                        elif kind == "addon":
                            billing.apply(OWNER, billing.preview_add_addon(OWNER, sub_id, arg))
                        elif kind == "freeze":
                            billing.freeze(OWNER, sub_id, days=arg)
                        elif kind == "new_card":
                            cards += 1
                            billing.add_payment_method(
                                OWNER,
                                account_id,
                                Card(_CARDS[cards % 2], 12, 2034, "123"),
                                idempotency_key=f"card-{cards}",
                            )
                    except PaymentFailed as exc:
                        if echo is not None:
                            echo(f"{clock['now'].date()}  {kind} refused: {exc.message}")
                if kind == "decline":
                    sandbox_declines(True)
                if echo is not None:
                    echo(f"{clock['now'].date()}  -- {kind} {arg if arg is not None else ''}")
            else:
                billing.run_once(reconcile_after=None)
                result.runs += 1
            report()
    finally:
        payments.close()
    return result


__all__ = ["Script", "SimResult", "simulate"]

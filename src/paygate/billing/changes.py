"""Changes to a subscription: previews and their application.

``plan_change`` is the one function both ``Billing.preview_*`` and
``Billing.apply`` call, with the same instant source: what a preview shows is
what applying it does, and a preview whose fingerprint no longer matches (the
subscription changed, the day moved on, a price version started) is refused.

Timing: an upgrade or a new add-on applies now and is prorated (credits from
what each line actually charged, a debit at the new price for what is left);
a downgrade, a cycle switch and removing an add-on apply at the period end,
with nothing prorated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, select

from paygate.billing.errors import CurrencyMismatch, InvalidTransition, UnknownPrice
from paygate.billing.models import Account, BillingState, DraftLine, InvoiceLine, Subscription
from paygate.billing.periods import Period, local_date, zone
from paygate.billing.planner import Entry, fingerprint, lines_digest, price_period, proration_lines
from paygate.billing.proration import ProrationPolicy
from paygate.billing.store import DRAFT, VOID
from paygate.errors import InvalidRequest
from paygate.ledger.billing_schema import invoice_lines, invoices
from paygate.money import Money

if TYPE_CHECKING:
    from paygate.billing.service import Billing, Preview

KINDS = ("change_plan", "add_addon", "remove_addon")


@dataclass(frozen=True, slots=True)
class Planned:
    kind: str
    timing: str
    policy: ProrationPolicy
    lines: tuple[DraftLine, ...]
    pending: dict[str, Any]
    on_paid: dict[str, Any]


def check_changeable(sub: Subscription) -> None:
    if sub.billing_state is BillingState.FROZEN:
        raise InvalidTransition(f"subscription {sub.id} is frozen: unfreeze it first")
    if sub.billing_state is not BillingState.ACTIVE:
        raise InvalidTransition(f"subscription {sub.id} is {sub.billing_state.value}")
    if sub.cancel_at_period_end:
        raise InvalidTransition(
            f"subscription {sub.id} ends at the period end: reactivate it before changing it"
        )
    if (sub.pending or {}).get("on_paid"):
        # A change whose charge has no answer yet: it is applied when paid.
        raise InvalidTransition(
            f"subscription {sub.id} has a change waiting for its payment: try again shortly"
        )


def _charged_lines(conn: Connection, sub: Subscription, item_id: str) -> list[InvoiceLine]:
    """The lines that charged ``item_id`` for (part of) the current period."""
    from paygate.billing.service import _line_from_row

    rows = conn.execute(
        select(invoice_lines)
        .join(invoices, invoices.c.id == invoice_lines.c.invoice_id)
        .where(
            and_(
                invoice_lines.c.item_id == item_id,
                invoice_lines.c.kind.in_(("recurring", "proration_debit")),
                invoice_lines.c.period_end == sub.period_end,
                invoices.c.status.notin_((DRAFT, VOID)),
                invoices.c.subscription_id == sub.id,
            )
        )
        .order_by(invoice_lines.c.id)
    ).all()
    return [_line_from_row(r, r_currency(conn, r.invoice_id)) for r in rows]


def r_currency(conn: Connection, invoice_id: str) -> str:
    return str(
        conn.execute(select(invoices.c.currency).where(invoices.c.id == invoice_id)).scalar_one()
    )


def plan_change(
    billing: Billing,
    conn: Connection,
    acct: Account,
    sub: Subscription,
    kind: str,
    params: dict[str, Any],
    now: datetime,
) -> Planned:
    check_changeable(sub)
    cat = billing.catalog
    tz = zone(acct.timezone)
    cycle = cat.cycle(sub.cycle)
    current = Period(sub.period_index, sub.period_start, sub.period_end)
    today = local_date(now, tz)
    if now >= current.end_at(tz):
        # The period is over and its renewal has not run yet: a change now
        # would prorate a period that no longer runs.
        raise InvalidTransition(
            f"subscription {sub.id} is due for renewal: change it once the renewal has run"
        )
    pending = dict(sub.pending or {})
    pending.pop("on_paid", None)
    if kind == "change_plan":
        new_offer = cat.offer(params.get("plan", sub.offer))
        new_cycle = cat.cycle(params.get("cycle", sub.cycle), new_offer)
        if new_offer.kind != "plan":
            raise InvalidRequest(f"{new_offer.code} is not a plan", param="plan")
        if acct.currency not in new_offer.currencies():
            raise CurrencyMismatch(
                f"{new_offer.code} is not priced in {acct.currency}", param="plan"
            )
        old_offer = cat.offer(sub.offer)
        if new_offer.code == old_offer.code and new_cycle.code == cycle.code:
            raise InvalidTransition("that is the current plan and cycle")
        old_price = old_offer.price(acct.currency, sub.period_start).amount
        new_price = new_offer.price(acct.currency, sub.period_start).amount
        upgrade = new_cycle.code == cycle.code and new_price > old_price
        if not upgrade:
            pending["offer"] = new_offer.code
            pending["cycle"] = new_cycle.code
            return Planned(kind, "period_end", ProrationPolicy.NONE, (), pending, {})
        plan_item = next(i for i in sub.active_items() if i.kind == "plan")
        policy = billing._policy(acct, sub, "upgrade")
        entries = [Entry(plan_item.id, new_offer, plan_item.quantity)]
        full, versions = price_period(billing.payments.quote, acct, entries, cycle, current)
        net = sum((ln.net for ln in full if ln.net is not None), Money.zero(acct.currency))
        charged = _charged_lines(conn, sub, plan_item.id)
        lines = proration_lines(
            policy=policy,
            tz=tz,
            at=now,
            period=current,
            charged=charged,
            credited=billing.store.credited(conn, [c.id for c in charged]),
            new_net=net,
            new_offer=new_offer,
            new_item_id=plan_item.id,
            new_version=versions[plan_item.id],
        )
        pending.pop("offer", None)
        pending.pop("cycle", None)
        return Planned(
            kind,
            "now",
            policy,
            tuple(lines),
            pending,
            {"set_offer": [plan_item.id, new_offer.code]},
        )
    if kind == "add_addon":
        offer = cat.offer(params.get("addon"))
        qty = params.get("quantity", 1)
        if offer.kind == "plan":
            raise InvalidRequest(f"{offer.code} is a plan, not an add-on", param="addon")
        if isinstance(qty, bool) or not isinstance(qty, int) or not 1 <= qty <= 10_000:
            raise InvalidRequest("quantity must be an integer from 1 to 10000", param="quantity")
        cat.cycle(sub.cycle, offer)
        if acct.currency not in offer.currencies():
            raise CurrencyMismatch(f"{offer.code} is not priced in {acct.currency}", param="addon")
        try:
            offer.price(acct.currency, sub.period_start)
        except UnknownPrice:
            raise
        item_id = f"{sub.id}-add-{fingerprint(sub.version, offer.code, qty, today)[:10]}"
        policy = billing._policy(acct, sub, "add_item")
        full, versions = price_period(
            billing.payments.quote, acct, [Entry(item_id, offer, qty)], cycle, current
        )
        net = sum((ln.net for ln in full if ln.net is not None), Money.zero(acct.currency))
        lines = proration_lines(
            policy=policy,
            tz=tz,
            at=now,
            period=current,
            charged=[],
            credited={},
            new_net=net,
            new_offer=offer,
            new_item_id=item_id,
            new_version=versions[item_id],
            quantity=qty,
        )
        return Planned(
            kind, "now", policy, tuple(lines), pending, {"add_item": [item_id, offer.code, qty]}
        )
    if kind == "remove_addon":
        item_id = str(params.get("item"))
        found = [i for i in sub.active_items() if i.id == item_id and i.kind != "plan"]
        if not found:
            raise InvalidRequest(f"no add-on item {item_id!r:.80} on {sub.id}", param="item")
        pending["remove"] = sorted({*pending.get("remove", []), str(item_id)})
        return Planned(kind, "period_end", ProrationPolicy.NONE, (), pending, {})
    raise InvalidRequest(f"unknown change {kind!r}")


def to_preview(
    billing: Billing,
    acct: Account,
    sub: Subscription,
    kind: str,
    params: dict[str, Any],
    p: Planned,
    now: datetime,
) -> Preview:
    from paygate.billing.service import Preview

    total = sum((ln.amount for ln in p.lines), Money.zero(acct.currency))
    effective = local_date(now, zone(acct.timezone)) if p.timing == "now" else sub.period_end
    fp = fingerprint(
        kind,
        sub.id,
        sub.version,
        params,
        p.timing,
        p.policy.value,
        lines_digest(p.lines),
        p.pending,
    )
    return Preview(
        kind=kind,
        subscription_id=sub.id,
        timing=p.timing,
        policy=p.policy.value,
        lines=p.lines,
        total=total,
        effective=effective,
        params=dict(params),
        fingerprint=fp,
    )


__all__ = ["KINDS", "Planned", "check_changeable", "plan_change", "to_preview"]

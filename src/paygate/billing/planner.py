"""The pure part of billing: what an invoice for a period, or a change in the
middle of one, contains. No database and no clock of its own: the caller
hands in the state, the instant, and the pricing function (``Payments.quote``,
which only runs plugins' pure pricing hooks). Previews and the real change
call the same functions, so a preview is exactly what will be charged.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

from paygate.billing.catalog import Catalog, Cycle, Offer, PriceVersion
from paygate.billing.models import Account, DraftLine, InvoiceLine
from paygate.billing.periods import Period
from paygate.billing.proration import ProrationPolicy, credit, prorate, unused_fraction
from paygate.models import Customer
from paygate.money import Money
from paygate.pricing.models import LineItem, Quote

QuoteFn = Callable[..., Quote]


@dataclass(frozen=True, slots=True)
class Entry:
    """One thing billed for a period: an item id, its offer and quantity."""

    item_id: str
    offer: Offer
    quantity: int


def customer_of(account: Account) -> Customer:
    return Customer(id=account.id, nonprofit=account.nonprofit)


def _span(start: date, end: date) -> str:
    return f"{start.isoformat()} to {end.isoformat()}"


def price_period(
    quote: QuoteFn,
    account: Account,
    entries: Sequence[Entry],
    cycle: Cycle,
    period: Period,
    extra: Sequence[LineItem] = (),
) -> tuple[list[DraftLine], dict[str, PriceVersion]]:
    """The lines of a full period for ``entries`` (plus one-off ``extra``
    items such as overage), priced through ``Payments.quote``: list prices of
    the version in force on the period's first day, then the pricing plugins'
    discounts. The lines add up to the quote's total."""
    versions = {e.item_id: e.offer.price(account.currency, period.start) for e in entries}
    line_items = [
        LineItem(
            sku=e.item_id,
            description=e.offer.name,
            unit_price=versions[e.item_id].amount,
            quantity=e.quantity,
            kind=e.offer.kind,
        )
        for e in entries
    ] + list(extra)
    if not line_items:
        return [], versions
    q = quote(
        line_items,
        cycle=cycle.bills_as,
        customer=customer_of(account),
        currency=account.currency,
    )
    by_sku = {e.item_id: e for e in entries}
    lines: list[DraftLine] = []
    for ql in q.lines:
        entry = by_sku.get(ql.code) if ql.kind == "item" else None
        if entry is not None:
            lines.append(
                DraftLine(
                    kind="recurring",
                    description=(
                        f"{entry.offer.name} x {entry.quantity}, {_span(period.start, period.end)}"
                    ),
                    amount=ql.amount,
                    quantity=entry.quantity,
                    offer=entry.offer.code,
                    price_version=versions[entry.item_id].id,
                    item_id=entry.item_id,
                    net=ql.net,
                    period_start=period.start,
                    period_end=period.end,
                )
            )
        elif ql.kind == "item":
            lines.append(
                DraftLine(
                    kind="usage", description=ql.label, amount=ql.amount, quantity=ql.quantity
                )
            )
        else:
            kind = (
                "fee" if ql.kind == "fee" else ("discount" if ql.amount.amount < 0 else "surcharge")
            )
            lines.append(DraftLine(kind=kind, description=ql.label, amount=ql.amount))
    return lines, versions


def overage_items(
    entries: Sequence[Entry],
    cycle: Cycle,
    usage: dict[str, int],
    currency: str,
    on: date,
    rounding: str,
) -> list[LineItem]:
    """One ``usage`` line item per metric used past the allowance of the period."""
    out = []
    for metric in sorted(usage):
        allowance = sum(
            e.offer.allowances.get(metric, 0) * e.quantity * cycle.allowance_months for e in entries
        )
        over = usage[metric] - allowance
        rate: Decimal | None = None
        for e in entries:
            r = e.offer.price(currency, on).overage.get(metric)
            if r is not None:
                rate = r
                break
        if over <= 0 or rate is None:
            continue
        amount = Money.rounded(rate * over, currency, rounding)
        if not amount:
            continue
        out.append(
            LineItem(
                sku=f"overage-{metric}",
                description=f"{metric}: {over} past the {allowance} included, at {rate} each",
                unit_price=amount,
                quantity=1,
                kind="usage",
            )
        )
    return out


def proration_lines(
    *,
    policy: ProrationPolicy,
    tz: ZoneInfo,
    at: datetime,
    period: Period,
    charged: Sequence[InvoiceLine],
    credited: dict[str, int],
    new_net: Money | None,
    new_offer: Offer | None,
    new_item_id: str | None,
    new_version: PriceVersion | None,
    quantity: int = 1,
) -> list[DraftLine]:
    """Credits for the unused part of what ``charged`` lines charged for this
    period (each from its own stored net, never today's price), and a debit for
    the unused part of ``new_net``, the new item's price for a whole period."""
    lines: list[DraftLine] = []
    for line in charged:
        if line.net is None or line.period_start is None or line.period_end is None:
            continue
        own = Period(period.index, line.period_start, line.period_end)
        f = unused_fraction(policy, own, at, tz)
        amount = credit(line.net.minor_units, credited.get(line.id, 0), f)
        if amount:
            lines.append(
                DraftLine(
                    kind="proration_credit",
                    description=f"Unused {_fraction(f)} of {line.description}",
                    amount=Money.from_minor(-amount, line.net.currency),
                    item_id=line.item_id,
                    offer=line.offer,
                    credits_line_id=line.id,
                    proration=f"{policy.value} {f.numerator}/{f.denominator}",
                )
            )
    if new_net is not None and new_offer is not None:
        f = unused_fraction(policy, period, at, tz)
        start = max(period.start, at.astimezone(tz).date())
        debit = prorate(new_net.minor_units, f)
        lines.append(
            DraftLine(
                kind="proration_debit",
                description=(
                    f"{new_offer.name} x {quantity}, {_fraction(f)} of "
                    f"{_span(period.start, period.end)} ({policy.value}, after discounts)"
                ),
                amount=Money.from_minor(debit, new_net.currency),
                quantity=quantity,
                offer=new_offer.code,
                price_version=new_version.id if new_version else None,
                item_id=new_item_id,
                net=Money.from_minor(debit, new_net.currency),
                period_start=start,
                period_end=period.end,
                proration=f"{policy.value} {f.numerator}/{f.denominator}",
            )
        )
    return lines


def _fraction(f: Fraction) -> str:
    return f"{f.numerator}/{f.denominator}"


def fingerprint(*parts: object) -> str:
    """A digest of what a preview showed; apply refuses a preview whose
    digest no longer matches what it would do now."""
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def lines_digest(lines: Sequence[DraftLine]) -> list[object]:
    return [
        (ln.kind, ln.description, str(ln.amount), ln.item_id, ln.credits_line_id, ln.proration)
        for ln in lines
    ]


__all__ = [
    "Entry",
    "customer_of",
    "fingerprint",
    "lines_digest",
    "overage_items",
    "price_period",
    "proration_lines",
]


def entries_for(catalog: Catalog, item_rows: Sequence[tuple[str, str, int]]) -> list[Entry]:
    return [Entry(item_id, catalog.offer(offer), qty) for item_id, offer, qty in item_rows]

"""Starting a subscription (charged in advance for its first period) and reading one."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from paygate.billing.collection import Collection
from paygate.billing.core import check_key
from paygate.billing.errors import (
    CurrencyMismatch,
    InvalidTransition,
)
from paygate.billing.models import (
    Action,
    Actor,
    BillingState,
    CollectionState,
    Entitlement,
    Invoice,
    Subscription,
)
from paygate.billing.periods import local_date, period, zone
from paygate.billing.planner import (
    fingerprint,
    price_period,
)
from paygate.errors import (
    InvalidRequest,
)
from paygate.ledger.billing_schema import (
    items,
    subscriptions,
)


class Subscribing(Collection):
    """``subscribe`` and ``subscription``."""

    def subscription(self, actor: Actor, subscription_id: str) -> Subscription:
        with self.store.read() as conn:
            sub = self.store.subscription(conn, subscription_id)
            acct = self.store.account(conn, sub.account_id)
        self._authorize(actor, Action.VIEW, acct)
        return sub

    def subscribe(
        self,
        actor: Actor,
        account_id: str,
        plan: str,
        *,
        cycle: str = "monthly",
        addons: Sequence[tuple[str, int]] = (),
        idempotency_key: str,
    ) -> Subscription:
        """Start a subscription, charged in advance for its first period with
        the account's stored method. The same ``idempotency_key`` returns the
        same subscription and never charges twice."""
        check_key(idempotency_key)
        offer = self.catalog.offer(plan)
        if offer.kind != "plan":
            raise InvalidRequest(f"{plan} is an add-on, not a plan", param="plan")
        cyc = self.catalog.cycle(cycle, offer)
        extras = [(self.catalog.offer(code), int(qty)) for code, qty in addons]
        for extra, qty in extras:
            self.catalog.cycle(cycle, extra)
            if extra.kind == "plan" or qty < 1:
                raise InvalidRequest(
                    f"{extra.code} x {qty} is not an add-on purchase", param="addons"
                )
        now = self.now()
        sub_id = "sub_" + fingerprint(account_id, idempotency_key)[:24]

        def start() -> Invoice:
            with self.store.write() as conn:
                acct = self.store.account(conn, account_id)
                self._authorize(actor, Action.BUY, acct)
                existing = conn.execute(
                    select(subscriptions.c.id).where(subscriptions.c.id == sub_id)
                ).first()
                if existing is None:
                    for o in [offer, *(e for e, _ in extras)]:
                        if acct.currency not in o.currencies():
                            raise CurrencyMismatch(
                                f"{o.code} is not priced in the account's currency {acct.currency}",
                                param="plan",
                            )
                        o.price(acct.currency, local_date(now, zone(acct.timezone)))
                    if acct.payment_method is None:
                        raise InvalidTransition(
                            "add a payment method first (subscriptions are charged in advance)",
                            param="payment_method",
                        )
                    tz = zone(acct.timezone)
                    anchor = local_date(now, tz)
                    first = period(anchor, cyc.interval, 0)
                    conn.execute(
                        insert(subscriptions).values(
                            id=sub_id,
                            account_id=account_id,
                            offer=offer.code,
                            cycle=cyc.code,
                            anchor=anchor,
                            anchor_index=0,
                            period_index=0,
                            period_start=first.start,
                            period_end=first.end,
                            entitlement=Entitlement.ACTIVE.value,
                            billing_state=BillingState.ACTIVE.value,
                            collection_state=CollectionState.CURRENT.value,
                            cancel_at_period_end=False,
                            next_action_at=first.end_at(tz),
                            version=1,
                            created_at=now,
                            updated_at=now,
                        )
                    )
                    rows = [(f"{sub_id}-plan", offer, 1)] + [
                        (f"{sub_id}-add{i}", o, q) for i, (o, q) in enumerate(extras, start=1)
                    ]
                    conn.execute(
                        insert(items),
                        [
                            {
                                "id": item_id,
                                "subscription_id": sub_id,
                                "kind": o.kind,
                                "offer": o.code,
                                "quantity": q,
                                "added_at": now,
                            }
                            for item_id, o, q in rows
                        ],
                    )
                    sub = self.store.subscription(conn, sub_id)
                    lines, _ = price_period(
                        self.payments.quote, acct, self._entries(sub), cyc, first
                    )
                    lines += self._taxes(acct, lines)
                    invoice = self.store.create_draft(
                        conn,
                        dedupe_key=f"{sub_id}:start",
                        account_id=account_id,
                        subscription_id=sub_id,
                        reason="subscribe",
                        currency=acct.currency,
                        lines=lines,
                        now=now,
                        period=(0, first.start, first.end),
                    )
                    self._emit(
                        conn,
                        "subscription.created",
                        account_id,
                        f"{sub_id}:created",
                        subscription_id=sub_id,
                    )
                else:
                    found = self.store.invoice_by_key(conn, f"{sub_id}:start")
                    assert found is not None  # made with the subscription, in one transaction
                    invoice = found
            return invoice

        try:
            invoice = start()
        except IntegrityError:
            # The same key at the same moment from another process: it made
            # the subscription; this call returns it (and its first charge).
            invoice = start()
        settled = self._collect(invoice.id)
        self._deliver()
        self._raise_if_aborted(settled)
        with self.store.read() as conn:
            return self.store.subscription(conn, sub_id)


__all__ = ["Subscribing"]

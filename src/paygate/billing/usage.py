"""Metered usage, recorded once per event id."""

from __future__ import annotations

from datetime import datetime

from paygate.billing.core import BillingCore
from paygate.billing.models import (
    Action,
    Actor,
)
from paygate.billing.periods import local_midnight, zone
from paygate.errors import (
    InvalidRequest,
)


class Usage(BillingCore):
    """``record_usage``."""

    def record_usage(
        self,
        actor: Actor,
        subscription_id: str,
        *,
        event_id: str,
        metric: str,
        quantity: int,
        at: datetime | None = None,
    ) -> bool:
        """Record usage once per ``event_id`` (a repeat is ignored: ``False``)."""
        if not isinstance(event_id, str) or not 1 <= len(event_id) <= 255:
            raise InvalidRequest("event_id is a 1-255 character string", param="event_id")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
            raise InvalidRequest("quantity must be a non-negative integer", param="quantity")
        when = at or self.now()
        if when.tzinfo is None:
            raise InvalidRequest("at must be timezone-aware", param="at")
        with self.store.write() as conn:
            sub = self.store.subscription(conn, subscription_id)
            acct = self.store.account(conn, sub.account_id)
            self._authorize(actor, Action.RECORD_USAGE, acct)
            if not any(
                metric in self.catalog.offer(i.offer).allowances
                or any(metric in p.overage for p in self.catalog.offer(i.offer).prices)
                for i in sub.active_items()
            ):
                raise InvalidRequest(f"nothing on {sub.id} meters {metric!r:.40}", param="metric")
            tz = zone(acct.timezone)
            index = sub.period_index
            if when >= local_midnight(sub.period_end, tz):
                index += 1  # after the period end, before the renewal ran: the next period
            return self.store.record_usage(
                conn,
                event_id=event_id,
                subscription_id=sub.id,
                metric=metric,
                quantity=quantity,
                occurred_at=when,
                period_index=index,
            )


__all__ = ["Usage"]

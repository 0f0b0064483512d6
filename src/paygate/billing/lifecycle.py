"""A subscription's lifecycle: cancel (see :mod:`~paygate.billing.cancellation`),
reactivate, freeze and unfreeze, and the staff's release of a parked one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection

from paygate.billing.cancellation import Cancellation
from paygate.billing.errors import (
    InvalidTransition,
)
from paygate.billing.models import (
    Account,
    Action,
    Actor,
    BillingState,
    Entitlement,
    Subscription,
)
from paygate.billing.periods import Period, local_date, local_midnight, zone

#: Longest freeze the default policy allows (the seed: 60 or 90 days).
MAX_FREEZE_DAYS = 90


class Lifecycle(Cancellation):
    """Cancel (inherited), reactivate, freeze, unfreeze and release."""

    def release(self, actor: Actor, subscription_id: str) -> Subscription:
        """Take a subscription parked for review (``needs_review``: the
        renewal safety bound, a billing error) back to active: billing staff
        only (``Action.RELEASE``). Its next action is its period end, or an
        open invoice's retry, computed as the runner does."""
        from paygate.billing.runner import _next_action

        now = self.now()
        with self.store.write() as conn:
            sub = self.store.subscription(conn, subscription_id, lock=True)
            acct = self.store.account(conn, sub.account_id)
            self._authorize(actor, Action.RELEASE, acct)
            if sub.billing_state is not BillingState.NEEDS_REVIEW:
                raise InvalidTransition(f"subscription {sub.id} is not parked for review")
            why = sub.review_reason
            self.store.update_subscription(
                conn,
                sub,
                now,
                billing_state=BillingState.ACTIVE.value,
                review_reason=None,
                lease_owner=None,
                lease_until=None,
            )
            self.store.update_subscription(
                conn,
                self.store.subscription(conn, sub.id),
                now,
                next_action_at=_next_action(self._whole(), conn, sub.id, zone(acct.timezone)),
            )
            self._emit(
                conn,
                "subscription.released",
                acct.id,
                f"{sub.id}:released:{sub.version}",
                subscription_id=sub.id,
                payload={"by": actor.ref, "was": (why or "")[:500]},
            )
        self._deliver()
        return self._get(subscription_id)

    def reactivate(self, actor: Actor, subscription_id: str) -> Subscription:
        """Take back a cancel-at-period-end before the period ends."""
        now = self.now()
        with self.store.write() as conn:
            sub = self.store.subscription(conn, subscription_id, lock=True)
            acct = self.store.account(conn, sub.account_id)
            self._authorize(actor, Action.BUY, acct)
            if sub.billing_state is not BillingState.ACTIVE or not sub.cancel_at_period_end:
                raise InvalidTransition(f"subscription {sub.id} is not cancelling")
            self.store.update_subscription(conn, sub, now, cancel_at_period_end=False)
            self._emit(
                conn,
                "subscription.reactivated",
                acct.id,
                f"{sub.id}:reactivated:{sub.version}",
                subscription_id=sub.id,
            )
        self._deliver()
        return self._get(subscription_id)

    def freeze(self, actor: Actor, subscription_id: str, *, days: int) -> Subscription:
        """Freeze for ``days`` (at most the policy's 90): no access, no charge,
        no renewal; the unused part of the period is kept for the resume."""
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_FREEZE_DAYS:
            raise InvalidTransition(
                f"a freeze lasts 1 to {MAX_FREEZE_DAYS} days, not {days!r:.20}", param="days"
            )
        now = self.now()
        with self.store.write() as conn:
            sub = self.store.subscription(conn, subscription_id, lock=True)
            acct = self.store.account(conn, sub.account_id)
            self._authorize(actor, Action.FREEZE, acct)
            from paygate.billing.changes import check_changeable

            check_changeable(sub)
            tz = zone(acct.timezone)
            today = local_date(now, tz)
            until = today + timedelta(days=days)
            self.store.update_subscription(
                conn,
                sub,
                now,
                billing_state=BillingState.FROZEN.value,
                entitlement=Entitlement.NONE.value,
                frozen_on=today,
                frozen_until=until,
                next_action_at=local_midnight(until, tz),
            )
            self._emit(
                conn,
                "subscription.frozen",
                acct.id,
                f"{sub.id}:frozen:{sub.version}",
                subscription_id=sub.id,
                payload={"until": until.isoformat()},
            )
        self._deliver()
        return self._get(subscription_id)

    def unfreeze(self, actor: Actor, subscription_id: str) -> Subscription:
        """Resume now: the period moves by the days spent frozen."""
        now = self.now()
        with self.store.write() as conn:
            sub = self.store.subscription(conn, subscription_id, lock=True)
            acct = self.store.account(conn, sub.account_id)
            self._authorize(actor, Action.FREEZE, acct)
            self._resume(conn, sub, acct, now)
        self._deliver()
        return self._get(subscription_id)

    def _resume(self, conn: Connection, sub: Subscription, acct: Account, now: datetime) -> None:
        if sub.billing_state is not BillingState.FROZEN or sub.frozen_on is None:
            raise InvalidTransition(f"subscription {sub.id} is not frozen")
        tz = zone(acct.timezone)
        today = min(local_date(now, tz), sub.frozen_until or local_date(now, tz))
        # The current period ends later by the days spent frozen (what was
        # paid for and not used is kept); later periods count from that end.
        shift = timedelta(days=max((today - sub.frozen_on).days, 0))
        moved = Period(sub.period_index, sub.period_start + shift, sub.period_end + shift)
        self.store.update_subscription(
            conn,
            sub,
            now,
            billing_state=BillingState.ACTIVE.value,
            entitlement=Entitlement.ACTIVE.value,
            anchor=moved.end,
            anchor_index=sub.period_index + 1,
            period_start=moved.start,
            period_end=moved.end,
            frozen_on=None,
            frozen_until=None,
            next_action_at=moved.end_at(tz),
        )
        self._emit(
            conn,
            "subscription.unfrozen",
            acct.id,
            f"{sub.id}:unfrozen:{sub.version}",
            subscription_id=sub.id,
            payload={"period_end": moved.end.isoformat()},
        )


__all__ = ["MAX_FREEZE_DAYS", "Lifecycle"]

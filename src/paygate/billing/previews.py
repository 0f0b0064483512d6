"""Changes, as the owner sees them: ``preview_*`` returns a :class:`Preview` and
``apply`` does what it showed (the planning itself is in
:mod:`paygate.billing.changes`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from paygate.billing.collection import Collection
from paygate.billing.errors import (
    StalePreview,
)
from paygate.billing.models import (
    Action,
    Actor,
    DraftLine,
    Subscription,
)
from paygate.billing.store import line_from_row
from paygate.errors import (
    InvalidRequest,
)
from paygate.money import Money


@dataclass(frozen=True, slots=True)
class Preview:
    """What a change will do, line by line; hand it back to :meth:`Billing.apply`."""

    kind: str
    subscription_id: str
    timing: str  # "now" or "period_end"
    policy: str
    lines: tuple[DraftLine, ...]
    total: Money
    effective: date
    params: dict[str, Any]
    fingerprint: str


#: The permission each change asks for.
_ACTION_OF: dict[str, Action] = {
    "change_plan": Action.BUY,
    "add_addon": Action.BUY,
    "remove_addon": Action.CHANGE,
}


#: Kept under its old name: ``paygate.billing.service`` exports it.
_line_from_row = line_from_row


class Previews(Collection):
    """``preview_change``, ``preview_add_addon``, ``preview_remove_addon`` and ``apply``."""

    def _preview(
        self, actor: Actor, subscription_id: str, kind: str, params: dict[str, Any]
    ) -> Preview:
        from paygate.billing.changes import plan_change, to_preview

        now = self.now()
        with self.store.read() as conn:
            sub = self.store.subscription(conn, subscription_id)
            acct = self.store.account(conn, sub.account_id)
            self._authorize(actor, _ACTION_OF[kind], acct)
            planned = plan_change(self._whole(), conn, acct, sub, kind, params, now)
            return to_preview(self._whole(), acct, sub, kind, params, planned, now)

    def preview_change(
        self,
        actor: Actor,
        subscription_id: str,
        *,
        plan: str | None = None,
        cycle: str | None = None,
    ) -> Preview:
        """Upgrade (now, prorated), downgrade or switch cycle (at the period end)."""
        params: dict[str, Any] = {}
        if plan is not None:
            params["plan"] = plan
        if cycle is not None:
            params["cycle"] = cycle
        if not params:
            raise InvalidRequest("name a plan or a cycle to change to", param="plan")
        return self._preview(actor, subscription_id, "change_plan", params)

    def preview_add_addon(
        self, actor: Actor, subscription_id: str, addon: str, *, quantity: int = 1
    ) -> Preview:
        """Buy an add-on or a toll-free number now, prorated to the period end."""
        return self._preview(
            actor, subscription_id, "add_addon", {"addon": addon, "quantity": quantity}
        )

    def preview_remove_addon(self, actor: Actor, subscription_id: str, item_id: str) -> Preview:
        """Drop an add-on at the period end (nothing is prorated)."""
        return self._preview(actor, subscription_id, "remove_addon", {"item": item_id})

    def apply(self, actor: Actor, preview: Preview) -> Subscription:
        """Do what ``preview`` showed, or refuse with :class:`StalePreview` if it
        would now do anything else."""
        from paygate.billing.changes import plan_change, to_preview

        if not isinstance(preview, Preview):
            raise InvalidRequest("apply takes a Preview from a preview_* call", param="preview")
        if preview.kind == "cancel":  # preview_cancel (paygate.billing.lifecycle)
            return self._whole()._apply_cancel(actor, preview)
        now = self.now()
        with self.store.write() as conn:
            sub = self.store.subscription(conn, preview.subscription_id, lock=True)
            acct = self.store.account(conn, sub.account_id)
            self._authorize(actor, _ACTION_OF[preview.kind], acct)
            planned = plan_change(self._whole(), conn, acct, sub, preview.kind, preview.params, now)
            fresh = to_preview(self._whole(), acct, sub, preview.kind, preview.params, planned, now)
            if fresh.fingerprint != preview.fingerprint:
                raise StalePreview(
                    f"this preview of {preview.kind} is stale (the subscription, the date or "
                    "a price changed since): preview again"
                )
            if planned.timing == "period_end":
                self.store.update_subscription(conn, sub, now, pending=planned.pending or None)
                self._emit(
                    conn,
                    "subscription.change_scheduled",
                    acct.id,
                    f"{sub.id}:scheduled:{fresh.fingerprint}",
                    subscription_id=sub.id,
                    payload={"at": sub.period_end.isoformat(), **preview.params},
                )
                invoice = None
            else:
                invoice = self.store.create_draft(
                    conn,
                    dedupe_key=f"{sub.id}:change:{fresh.fingerprint}",
                    account_id=acct.id,
                    subscription_id=sub.id,
                    reason="change",
                    currency=acct.currency,
                    lines=list(planned.lines) + self._taxes(acct, planned.lines),
                    now=now,
                    period=(sub.period_index, sub.period_start, sub.period_end),
                )
                pending = dict(planned.pending)
                pending["on_paid"] = {"invoice": invoice.id, **planned.on_paid}
                self.store.update_subscription(conn, sub, now, pending=pending)
        if invoice is not None:
            settled = self._collect(invoice.id)
            self._raise_if_aborted(settled)
        self._deliver()
        with self.store.read() as conn:
            return self.store.subscription(conn, preview.subscription_id)


__all__ = ["Preview", "Previews"]

"""The plumbing every part of :class:`~paygate.billing.Billing` shares: construction,
the clock, the hooks it asks (permission, proration, number series, taxes) and
the events outbox.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib import resources
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Connection, Engine

from paygate.billing.catalog import Catalog
from paygate.billing.errors import (
    BillingPermissionDenied,
    CurrencyMismatch,
)
from paygate.billing.models import (
    Account,
    Action,
    Actor,
    DraftLine,
    Invoice,
    ProrationContext,
    Subscription,
    TaxContext,
)
from paygate.billing.periods import Period
from paygate.billing.planner import (
    Entry,
)
from paygate.billing.proration import ProrationPolicy
from paygate.billing.store import Store
from paygate.errors import (
    ConfigurationError,
    InvalidRequest,
)

if TYPE_CHECKING:
    from paygate.billing.service import Billing
    from paygate.payments import Payments


Clock = Callable[[], datetime]
#: Renewal invoices one subscription may get in 24 hours before it is parked.
SAFETY_BOUND = 15


def seed_catalog() -> Catalog:
    """The catalog shipped for the demo and the docs (the seed's plans)."""
    text = resources.files("paygate.billing").joinpath("seed_catalog.toml").read_text("utf-8")
    return Catalog.loads(text, source="paygate/billing/seed_catalog.toml")


def check_key(idempotency_key: object) -> None:
    """A caller's idempotency key: a 1-200 character string."""
    if not isinstance(idempotency_key, str) or not 1 <= len(idempotency_key) <= 200:
        raise InvalidRequest("idempotency_key is a 1-200 character string", param="idempotency_key")


class BillingCore:
    """State and helpers shared by the billing mixins (see :class:`~paygate.billing.Billing`)."""

    def __init__(
        self,
        payments: Payments,
        *,
        catalog: Catalog | None = None,
        database_url: str | None = None,
        clock: Clock | None = None,
        safety_bound: int = SAFETY_BOUND,
    ) -> None:
        self.payments = payments
        self.catalog = catalog if catalog is not None else seed_catalog()
        if database_url is not None:
            from paygate.ledger.migrations import upgrade
            from paygate.ledger.sql import make_engine

            engine: Engine | None = make_engine(database_url)
            assert engine is not None
            upgrade(engine)
        else:
            engine = getattr(payments.ledger, "engine", None)
            if not isinstance(engine, Engine):
                raise ConfigurationError(
                    "billing needs an SQL database: use an SQL ledger "
                    "(database_url = 'sqlite:///...') or pass Billing(database_url=...)"
                )
        self.store = Store(engine)
        self.clock: Clock = clock or (lambda: datetime.now(UTC))
        self.safety_bound = safety_bound
        self.rounding = payments.rounding
        # Legal documents, history, PDF, corrections (paygate.billing.documents);
        # billing.invoices(actor, account) still lists the billing records.
        from paygate.billing.documents.service import Invoices

        self.invoices = Invoices(self)

    # -- helpers -----------------------------------------------------------------
    def now(self) -> datetime:
        now = self.clock()
        if now.tzinfo is None:
            raise ConfigurationError("the billing clock must return aware datetimes (UTC)")
        return now.astimezone(UTC)

    @property
    def hook(self) -> Any:
        return self.payments.hook

    def _authorize(self, actor: object, action: Action, account: Account) -> None:
        if not isinstance(actor, Actor):
            raise InvalidRequest("actor must be a paygate.billing.Actor", param="actor")
        allowed = self.hook.paygate_billing_authorize(
            actor=actor, action=action.value, account=account
        )
        if allowed is not True:
            raise BillingPermissionDenied(
                f"{actor.ref!r} may not {action.value} on account {account.id}"
                + (
                    " (a sub-account: billing belongs to the main account)"
                    if account.parent_id
                    else ""
                )
            )

    def _policy(self, account: Account, sub: Subscription, change: str) -> ProrationPolicy:
        found = self.hook.paygate_billing_proration(
            context=ProrationContext(account=account, subscription=sub, change=change)
        )
        return ProrationPolicy.parse(found or ProrationPolicy.ACTUAL_DAYS.value)

    def _series(self, invoice: Invoice) -> str:
        found = self.hook.paygate_billing_number_series(invoice=invoice)
        if not isinstance(found, str) or not 1 <= len(found) <= 64:
            raise ConfigurationError("paygate_billing_number_series must name a 1-64 char series")
        return found

    def _emit(
        self, conn: Connection, event_type: str, account_id: str, key: str, **kw: Any
    ) -> None:
        self.store.add_event(
            conn, type=event_type, account_id=account_id, dedupe_key=key, now=self.now(), **kw
        )

    def _deliver(self) -> None:
        """Hand undelivered outbox events to ``paygate_billing_event``, in order,
        then mark them delivered (at least once: a crash in between, or two
        processes at once, may deliver an event twice; ``seq`` tells)."""
        with self.store.read() as conn:
            found = self.store.events(conn, undelivered=True)
        for event in found:
            self.hook.paygate_billing_event(event=event)
        if found:
            with self.store.write() as conn:
                self.store.mark_delivered(conn, [e.seq for e in found], self.now())
        self.invoices.after_billing()

    def _entries(self, sub: Subscription) -> list[Entry]:
        return [Entry(i.id, self.catalog.offer(i.offer), i.quantity) for i in sub.active_items()]

    def _period(self, sub: Subscription) -> Period:
        return Period(sub.period_index, sub.period_start, sub.period_end)

    def _taxes(self, account: Account, lines: Sequence[DraftLine]) -> list[DraftLine]:
        found = self.hook.paygate_billing_tax_lines(
            context=TaxContext(account=account, currency=account.currency, lines=tuple(lines))
        )
        out = []
        for group in found or ():
            for tax in group or ():
                if tax.amount.currency != account.currency:
                    raise CurrencyMismatch(
                        f"a tax line in {tax.amount.currency} on a {account.currency} invoice"
                    )
                out.append(DraftLine(kind="tax", description=tax.label, amount=tax.amount))
        return out

    def _whole(self) -> Billing:
        """This part as the whole :class:`Billing` it only ever runs in (the
        planner and the runner take a ``Billing``: they use several parts)."""
        return cast("Billing", self)

    def _get(self, subscription_id: str) -> Subscription:
        with self.store.read() as conn:
            return self.store.subscription(conn, subscription_id)


__all__ = ["SAFETY_BOUND", "BillingCore", "Clock", "seed_catalog"]

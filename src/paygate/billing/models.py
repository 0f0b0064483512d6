"""Billing values handed to hosts and to billing hooks (immutable)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from paygate.errors import InvalidRequest
from paygate.models import StoredPaymentMethod
from paygate.money import Money


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks: a user of the host (``ref`` is the host's user id) or the
    billing staff (``staff=True``), who act for the billing service itself."""

    ref: str
    staff: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.ref, str) or not 1 <= len(self.ref) <= 255:
            raise InvalidRequest("an actor's ref is a 1-255 character string", param="actor")

    @classmethod
    def user(cls, ref: str) -> Actor:
        return cls(ref)

    @classmethod
    def staff_member(cls, ref: str) -> Actor:
        return cls(ref, staff=True)


class Action(StrEnum):
    """What an actor asks to do, handed to ``paygate_billing_authorize``."""

    VIEW = "view"  # billing details, invoices
    PAY = "pay"  # add a payment method, pay an open invoice
    BUY = "buy"  # subscribe, add-ons, toll-free numbers, upgrades
    CHANGE = "change"  # downgrade, switch cycle, remove an add-on
    FREEZE = "freeze"
    CANCEL = "cancel"
    GRANT_DISCOUNT = "grant_discount"  # the nonprofit discount: staff only
    RECORD_USAGE = "record_usage"  # the host's metering: staff (service) actors
    RELEASE = "release"  # take a parked subscription back to active: staff only


#: Actions the billing staff may take on any account by default.
STAFF_ACTIONS: frozenset[Action] = frozenset(
    {
        Action.VIEW,
        Action.GRANT_DISCOUNT,
        Action.RECORD_USAGE,
        Action.FREEZE,
        Action.CANCEL,
        Action.RELEASE,
    }
)


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    owner_ref: str
    parent_id: str | None
    currency: str
    timezone: str
    nonprofit: bool
    payment_method: StoredPaymentMethod | None
    members: tuple[tuple[str, str], ...] = ()

    def role_of(self, actor: Actor) -> str | None:
        """``owner``, ``multi_user``, ``staff`` or ``None`` (a stranger)."""
        if actor.staff:
            return "staff"
        if actor.ref == self.owner_ref:
            return "owner"
        return dict(self.members).get(actor.ref)


class Entitlement(StrEnum):
    ACTIVE = "active"
    NONE = "none"


class BillingState(StrEnum):
    ACTIVE = "active"
    FROZEN = "frozen"
    CANCELED = "canceled"
    NEEDS_REVIEW = "needs_review"


class CollectionState(StrEnum):
    CURRENT = "current"
    RETRYING = "retrying"
    PAST_DUE = "past_due"


@dataclass(frozen=True, slots=True)
class SubscriptionItem:
    id: str
    kind: str
    offer: str
    quantity: int
    added_at: datetime
    removed_at: datetime | None


@dataclass(frozen=True, slots=True)
class Subscription:
    id: str
    account_id: str
    offer: str
    cycle: str
    anchor: date
    anchor_index: int
    period_index: int
    period_start: date
    period_end: date
    entitlement: Entitlement
    billing_state: BillingState
    collection_state: CollectionState
    cancel_at_period_end: bool
    frozen_on: date | None
    frozen_until: date | None
    pending: dict[str, Any] | None
    next_action_at: datetime | None
    version: int
    items: tuple[SubscriptionItem, ...] = ()
    review_reason: str | None = None

    @property
    def status(self) -> str:
        """One word for people: active, frozen, past_due, cancelling, canceled, needs_review."""
        if self.billing_state is BillingState.ACTIVE:
            if self.collection_state is CollectionState.PAST_DUE:
                return "past_due"
            return "cancelling" if self.cancel_at_period_end else "active"
        return self.billing_state.value

    def active_items(self) -> tuple[SubscriptionItem, ...]:
        return tuple(i for i in self.items if i.removed_at is None)


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    id: str
    position: int
    kind: str
    description: str
    amount: Money
    quantity: int = 1
    offer: str | None = None
    price_version: str | None = None
    item_id: str | None = None
    net: Money | None = None
    period_start: date | None = None
    period_end: date | None = None
    credits_line_id: str | None = None
    proration: str | None = None


@dataclass(frozen=True, slots=True)
class Invoice:
    id: str
    account_id: str
    subscription_id: str | None
    reason: str
    status: str
    series: str | None
    number: int | None
    currency: str
    total: Money
    amount_paid: Money
    period_index: int | None
    period_start: date | None
    period_end: date | None
    attempt_count: int
    next_attempt_at: datetime | None
    transaction_id: str | None
    created_at: datetime
    finalized_at: datetime | None
    closed_at: datetime | None
    lines: tuple[InvoiceLine, ...] = ()


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """What the retry-schedule hook decides: wait ``retry_in``, or stop (``None``)."""

    retry_in: timedelta | None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ProrationContext:
    """A change that may be prorated, handed to ``paygate_billing_proration``."""

    account: Account
    subscription: Subscription
    change: str  # upgrade, add_item, remove_item, switch_cycle, cancel (an immediate cancel)


#: What a subscription becomes when dunning gives up (``paygate_billing_dunning_end``).
DUNNING_ENDS: tuple[str, ...] = ("cancel", "past_due", "unpaid", "freeze")


@dataclass(frozen=True, slots=True)
class DunningContext:
    """An invoice whose last retry failed, handed to ``paygate_billing_dunning_end``."""

    account: Account
    subscription: Subscription
    invoice: Invoice
    error: str


@dataclass(frozen=True, slots=True)
class DraftLine:
    """A line before it is stored (what the planner proposes)."""

    kind: str
    description: str
    amount: Money
    quantity: int = 1
    offer: str | None = None
    price_version: str | None = None
    item_id: str | None = None
    net: Money | None = None
    period_start: date | None = None
    period_end: date | None = None
    credits_line_id: str | None = None
    proration: str | None = None


@dataclass(frozen=True, slots=True)
class TaxContext:
    """An invoice being built, handed to ``paygate_billing_tax_lines``."""

    account: Account
    currency: str
    lines: tuple[DraftLine, ...]


@dataclass(frozen=True, slots=True)
class TaxLine:
    label: str
    amount: Money
    rate: str | None = None


@dataclass(frozen=True, slots=True)
class BillingEvent:
    """One entry of the events outbox (``seq`` orders them)."""

    seq: int
    type: str
    account_id: str
    subscription_id: str | None
    invoice_id: str | None
    payload: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None


__all__ = [
    "DUNNING_ENDS",
    "STAFF_ACTIONS",
    "Account",
    "Action",
    "Actor",
    "BillingEvent",
    "BillingState",
    "CollectionState",
    "DraftLine",
    "DunningContext",
    "Entitlement",
    "Invoice",
    "InvoiceLine",
    "ProrationContext",
    "RetryDecision",
    "Subscription",
    "SubscriptionItem",
    "TaxContext",
    "TaxLine",
]

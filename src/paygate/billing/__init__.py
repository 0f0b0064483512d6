"""Billing: plans, subscriptions, renewals and dunning, built on :class:`paygate.Payments`."""

from __future__ import annotations

from paygate.billing.catalog import Catalog, Cycle, Offer, PriceVersion
from paygate.billing.errors import (
    BillingNotFound,
    BillingPermissionDenied,
    CatalogError,
    CurrencyMismatch,
    ImmutableInvoice,
    InvalidTransition,
    PaymentFailed,
    RunnerBusy,
    StalePreview,
    UnknownPrice,
)
from paygate.billing.models import (
    Account,
    Action,
    Actor,
    BillingEvent,
    DunningContext,
    Invoice,
    InvoiceLine,
    ProrationContext,
    RetryDecision,
    Subscription,
    TaxContext,
    TaxLine,
)
from paygate.billing.periods import Interval, Period
from paygate.billing.proration import ProrationPolicy
from paygate.billing.service import (
    Billing,
    Details,
    Dispute,
    Preview,
    Reaction,
    RunReport,
    WebhookReaction,
    seed_catalog,
)

__all__ = [
    "Account",
    "Action",
    "Actor",
    "Billing",
    "BillingEvent",
    "BillingNotFound",
    "BillingPermissionDenied",
    "Catalog",
    "CatalogError",
    "CurrencyMismatch",
    "Cycle",
    "Details",
    "Dispute",
    "DunningContext",
    "ImmutableInvoice",
    "Interval",
    "InvalidTransition",
    "Invoice",
    "InvoiceLine",
    "Offer",
    "PaymentFailed",
    "Period",
    "Preview",
    "PriceVersion",
    "ProrationContext",
    "ProrationPolicy",
    "Reaction",
    "RetryDecision",
    "RunReport",
    "RunnerBusy",
    "StalePreview",
    "Subscription",
    "TaxContext",
    "TaxLine",
    "UnknownPrice",
    "WebhookReaction",
    "seed_catalog",
]

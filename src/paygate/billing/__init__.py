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
    RunnerBusy,
    StalePreview,
    UnknownPrice,
)
from paygate.billing.periods import Interval, Period
from paygate.billing.proration import ProrationPolicy

__all__ = [
    "BillingNotFound",
    "BillingPermissionDenied",
    "Catalog",
    "CatalogError",
    "CurrencyMismatch",
    "Cycle",
    "ImmutableInvoice",
    "Interval",
    "InvalidTransition",
    "Offer",
    "Period",
    "PriceVersion",
    "ProrationPolicy",
    "RunnerBusy",
    "StalePreview",
    "UnknownPrice",
]

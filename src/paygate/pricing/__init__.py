"""Pricing: quotes with discounts and surcharges, and fee breakdowns.

The engine (:mod:`paygate.pricing.engine`) is pure: the facade collects
adjustments and fee lines from the plugins and passes them in.
"""

from paygate.pricing.engine import (
    RECURRING_KINDS,
    ROUNDING_MODES,
    build_fee_breakdown,
    build_quote,
    months_billed,
)
from paygate.pricing.models import (
    Adjustment,
    Cycle,
    FeeBreakdown,
    FeeContext,
    FeeLine,
    LineItem,
    PricingContext,
    Quote,
    QuoteLine,
)

__all__ = [
    "RECURRING_KINDS",
    "ROUNDING_MODES",
    "Adjustment",
    "Cycle",
    "FeeBreakdown",
    "FeeContext",
    "FeeLine",
    "LineItem",
    "PricingContext",
    "Quote",
    "QuoteLine",
    "build_fee_breakdown",
    "build_quote",
    "months_billed",
]

"""paygate-pricing: the seed's plan pricing rules as a paygate plugin."""

from paygate_pricing.plugin import DEFAULTS, PricingRules, PricingSettings

__all__ = ["DEFAULTS", "PricingRules", "PricingSettings"]

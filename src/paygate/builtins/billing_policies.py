"""Built-in plugin ``billing_policies``: the default proration policy, retry
schedule and invoice number series, read from the ``[billing]`` config table::

    [billing]
    proration = "actual_days"     # actual_days | days_30 | by_second | none
    retry_days = [1, 3, 5, 7]     # days after the first failure, then stop
    series = "INV"                # the invoice number series
    dunning_end = "cancel"        # cancel | past_due | unpaid | freeze

Each hook answers last (``trylast``): a host plugin answering first wins.
Hard declines and a missing payment method are never retried (lesson 9 of
the billing research): retrying them only annoys the bank and the customer.
"""

from __future__ import annotations

from datetime import timedelta

from paygate._markers import hookimpl
from paygate.billing.models import (
    DUNNING_ENDS,
    DunningContext,
    Invoice,
    ProrationContext,
    RetryDecision,
)
from paygate.billing.proration import ProrationPolicy
from paygate.config import Config
from paygate.errors import ConfigurationError

DEFAULT_RETRY_DAYS: tuple[int, ...] = (1, 3, 5, 7)
#: Decline codes a new try of the same card cannot fix.
HARD_DECLINES: frozenset[str] = frozenset(
    {
        "no_payment_method",
        "expired_card",
        "incorrect_number",
        "invalid_number",
        "invalid_expiry_date",
        "pickup_card",
        "fraudulent",
        "authentication_required",
        "test_mode_live_card",
        "invalid_request",
    }
)
_KEYS = frozenset({"proration", "retry_days", "series", "catalog", "dunning_end"})


class BillingPolicies:
    def __init__(self) -> None:
        self.proration = ProrationPolicy.ACTUAL_DAYS
        self.retry_days = DEFAULT_RETRY_DAYS
        self.series = "INV"
        self.dunning_end = "cancel"

    @hookimpl
    def paygate_configure(self, config: Config) -> None:
        section = config.section("billing")
        unknown = sorted(set(section) - _KEYS)
        if unknown:
            raise ConfigurationError(
                f"[billing] has unknown keys {unknown}; known: {sorted(_KEYS)}"
            )
        if "proration" in section:
            try:
                self.proration = ProrationPolicy(section["proration"])
            except ValueError:
                raise ConfigurationError(
                    f"[billing] proration must be one of {[p.value for p in ProrationPolicy]}"
                ) from None
        if "retry_days" in section:
            days = section["retry_days"]
            if not isinstance(days, list) or not all(
                isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in days
            ):
                raise ConfigurationError("[billing] retry_days must be a list of positive integers")
            if days != sorted(days):
                raise ConfigurationError("[billing] retry_days must be increasing")
            self.retry_days = tuple(days)
        if "series" in section:
            series = section["series"]
            if not isinstance(series, str) or not 1 <= len(series) <= 64:
                raise ConfigurationError("[billing] series must be a 1-64 character string")
            self.series = series
        if "dunning_end" in section:
            if section["dunning_end"] not in DUNNING_ENDS:
                raise ConfigurationError(
                    f"[billing] dunning_end must be one of {list(DUNNING_ENDS)}"
                )
            self.dunning_end = str(section["dunning_end"])

    @hookimpl(trylast=True)
    def paygate_billing_proration(self, context: ProrationContext) -> str:
        return self.proration.value

    @hookimpl(trylast=True)
    def paygate_billing_retry_schedule(
        self, invoice: Invoice, attempt: int, error: str | None
    ) -> RetryDecision:
        if error in HARD_DECLINES:
            return RetryDecision(None, f"{error}: not retried")
        if attempt > len(self.retry_days):
            return RetryDecision(None, f"gave up after {attempt} tries")
        # Days counted from the first failure: 1, 3, 5, 7 -> waits of 1, 2, 2, 2.
        previous = self.retry_days[attempt - 2] if attempt >= 2 else 0
        wait = self.retry_days[attempt - 1] - previous
        return RetryDecision(timedelta(days=wait), f"retry {attempt} of {len(self.retry_days)}")

    @hookimpl(trylast=True)
    def paygate_billing_dunning_end(self, context: DunningContext) -> str:
        return self.dunning_end

    @hookimpl(trylast=True)
    def paygate_billing_number_series(self, invoice: Invoice) -> str:
        return self.series

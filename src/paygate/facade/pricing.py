"""Pricing through the facade: quotes and fee breakdowns.

The pricing plugin and the providers' fee tables do the work; this checks
the host's values and routes fee hooks to the provider's own table.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from paygate.errors import ErrorCode, InvalidRequest
from paygate.facade.engine import Engine
from paygate.models import Customer, construct
from paygate.money import Money
from paygate.validation import check_amount as _check_amount

if TYPE_CHECKING:
    from paygate.pricing.models import FeeBreakdown, LineItem, Quote


class Pricing:
    """Quotes and fees, with the host's pricing settings."""

    def __init__(
        self, engine: Engine, settings: dict[str, Any], rounding: str, default_provider: str
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.rounding = rounding
        self.default_provider = default_provider

    def quote(
        self,
        items: Iterable[LineItem],
        *,
        cycle: str = "monthly",
        customer: Customer | None = None,
        currency: str | None = None,
    ) -> Quote:
        """Price ``items`` with every plugin's adjustments and buyer fees.

        Every line is shown; lines add up exactly to the total.
        """
        from paygate.pricing.models import LineItem, PricingContext

        lines = (
            list(items)
            if isinstance(items, Iterable) and not isinstance(items, (str, bytes))
            else None
        )
        if not lines or not all(isinstance(i, LineItem) for i in lines):
            raise InvalidRequest(
                "items must be a non-empty list of paygate.LineItem", param="items"
            )
        if cycle not in ("monthly", "annual"):
            raise InvalidRequest("cycle must be 'monthly' or 'annual'", param="cycle")
        if customer is not None and not isinstance(customer, Customer):
            raise InvalidRequest("customer must be paygate.Customer", param="customer")
        currencies = {i.unit_price.currency for i in lines}
        if len(currencies) > 1:
            raise InvalidRequest(
                f"all items must share one currency, got {sorted(currencies)}",
                code=ErrorCode.INVALID_CURRENCY,
                param="currency",
            )
        ccy = currencies.pop()
        if currency is not None and currency != ccy:
            raise InvalidRequest(
                f"items are priced in {ccy}, not {currency}",
                code=ErrorCode.INVALID_CURRENCY,
                param="currency",
            )
        context = construct(
            PricingContext,
            items=tuple(lines),
            cycle="annual" if cycle == "annual" else "monthly",
            customer=customer,
            currency=ccy,
            config=self.settings,
        )
        adjustments = [
            adj
            for found in self.engine.call_plugins("paygate_price_adjustments", context=context)
            if found
            for adj in found
        ]
        from paygate.pricing.engine import build_quote

        return build_quote(context, adjustments, rounding=self.rounding)

    def fees(
        self,
        amount: Money,
        *,
        provider: str | None = None,
        kind: str = "payment",
        card_country: str | None = None,
        merchant_country: str | None = None,
        currency_conversion: bool = False,
        method_kind: str = "card",
    ) -> FeeBreakdown:
        """What a payment of ``amount`` costs and what the merchant receives.

        Fee lines come from every non-provider plugin (platform service fee)
        and from the chosen provider only (its processing fee).
        """
        from paygate.pricing.engine import build_fee_breakdown
        from paygate.pricing.models import FeeContext

        money = _check_amount(amount)
        name = provider or self.default_provider
        if not isinstance(name, str):
            raise InvalidRequest("provider must be a provider name", param="provider")
        self.engine.plugin_manager.provider_info(name)
        context = construct(
            FeeContext,
            amount=money,
            provider=name,
            kind=str(kind),
            card_country=card_country,
            merchant_country=merchant_country,
            currency_conversion=bool(currency_conversion),
            method_kind=method_kind,
            config=self.settings,
        )
        caller = self.engine.plugin_manager.routed("paygate_calculate_fees", name)
        lines = [
            line
            for found in self.engine.call_plugins("paygate_calculate_fees", caller, context=context)
            if found
            for line in found
        ]
        return build_fee_breakdown(context, lines, rounding=self.rounding)


__all__ = ["Pricing"]

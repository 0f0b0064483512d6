"""What a payment is checked against before any provider is called.

Its payment method (the type, the texts in it, every validator plugin's
rules: :func:`validate_method`) and its provider (named, stored with the
method, or chosen by the routing hook; then the currency, method kind and
card brand it takes: :func:`choose_provider`). The host's own values
(amounts, keys, texts) are checked by :mod:`paygate.validation`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from paygate.errors import ErrorCode, InvalidRequest, PaygateError, PluginError, UnsupportedFeature
from paygate.models import (
    Card,
    Customer,
    PayPalWallet,
    ProviderInfo,
    StoredPaymentMethod,
    construct,
)
from paygate.money import Money
from paygate.operations import Operation, RoutingRequest, ValidationContext
from paygate.validation import check_method_texts

if TYPE_CHECKING:
    from paygate.facade.engine import Engine

PaymentMethodType = Card | PayPalWallet | StoredPaymentMethod


def method_kind(method: PaymentMethodType) -> str:
    return method.kind


def validate_method(
    engine: Engine,
    method: object,
    operation: Operation,
    amount: Money | None,
    customer: Customer | None,
    provider: str | None,
) -> PaymentMethodType:
    if not isinstance(method, (Card, PayPalWallet, StoredPaymentMethod)):
        raise InvalidRequest(
            "method must be paygate.Card, paygate.PayPalWallet or "
            f"paygate.StoredPaymentMethod, not {type(method).__name__}",
            param="method",
        )
    check_method_texts(method)
    if not engine.plugin_manager.implemented("paygate_validate_payment_method"):
        # No validator installed: no context to build, no hook to call.
        return method
    context = construct(
        ValidationContext,
        operation=operation,
        amount=amount,
        customer=customer,
        provider=provider,
        now=datetime.now(UTC),
        config={},
        facts={},
    )
    problems: list[InvalidRequest] = []
    for found in engine.call_plugins(
        "paygate_validate_payment_method", method=method, context=context
    ):
        if found:
            problems.extend(found)
    if problems:
        first = problems[0]
        if not isinstance(first, PaygateError):
            raise PluginError("a validator returned a non-PaygateError problem", plugin="unknown")
        raise first
    brand = context.facts.get("brand")
    if isinstance(method, Card) and brand and method.brand != brand:
        method = method.model_copy(update={"brand": brand})
    return method


def choose_provider(
    engine: Engine,
    provider: object,
    operation: Operation,
    amount: Money | None,
    method: PaymentMethodType,
    customer: Customer | None,
) -> ProviderInfo:
    pm = engine.plugin_manager
    if isinstance(method, StoredPaymentMethod):
        if provider is not None and provider != method.provider:
            raise InvalidRequest(
                f"this stored method belongs to {method.provider!r}, not {provider!r}",
                param="provider",
            )
        provider = method.provider
    if provider is not None:
        if not isinstance(provider, str):
            raise InvalidRequest("provider must be a provider name", param="provider")
        info = pm.provider_info(provider)
    else:
        kind = method_kind(method)
        candidates = pm.candidates(kind, amount.currency if amount else None)
        chosen = engine.call_plugins(
            "paygate_select_provider",
            request=construct(
                RoutingRequest,
                operation=operation,
                amount=amount,
                method_kind=kind,
                card_brand=getattr(method, "brand", None),
                customer=customer,
                config={},
            ),
            candidates=candidates,
        )
        if chosen is None:
            what = f"{amount.currency} " if amount else ""
            raise UnsupportedFeature(
                f"no installed provider takes {what}{kind} payments; installed: "
                f"{', '.join(sorted(pm.providers())) or 'none'}",
                param="provider",
            )
        info = pm.provider_info(chosen)
    if amount is not None and not info.supports_currency(amount.currency):
        raise UnsupportedFeature(
            f"provider {info.name!r} does not take {amount.currency}",
            code=ErrorCode.INVALID_CURRENCY,
            param="currency",
        )
    if method_kind(method) not in info.payment_methods:
        raise UnsupportedFeature(
            f"provider {info.name!r} does not take {method_kind(method)} payments",
            param="method",
        )
    brand = getattr(method, "brand", None)
    narrowed = info.card_brands is not None and isinstance(method, Card)
    if narrowed and brand and brand not in (info.card_brands or ()):
        raise InvalidRequest(
            f"{info.name} does not accept {brand} cards; it accepts "
            f"{', '.join(sorted(info.card_brands or ()))}",
            code=ErrorCode.UNSUPPORTED_BRAND,
            param="number",
        )
    return info


__all__ = ["PaymentMethodType", "choose_provider", "method_kind", "validate_method"]

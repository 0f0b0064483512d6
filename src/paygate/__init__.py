"""paygate: one payment API, whatever the gateway.

>>> import paygate
>>> payments = paygate.Payments({"database_url": "memory"})
>>> card = paygate.Card("4242424242424242", 12, 2030, "123")
>>> tx = payments.purchase(paygate.Money("25.00", "USD"), card)
>>> tx.status
<TransactionStatus.CAPTURED: 'captured'>

Names are loaded on first use, so ``import paygate`` stays fast and provider
SDKs load only when a provider is used.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from paygate import errors
from paygate._markers import hookimpl, hookspec
from paygate.money import Money

__version__ = "0.1.0"

if TYPE_CHECKING:
    from paygate.config import Config
    from paygate.models import (
        Capabilities,
        Card,
        Customer,
        NextAction,
        PayPalWallet,
        ProviderInfo,
        Refund,
        StoredPaymentMethod,
        Transaction,
        TransactionStatus,
        WebhookEvent,
    )
    from paygate.payments import Payments, ReconcileReport
    from paygate.pricing.models import (
        Adjustment,
        FeeBreakdown,
        FeeContext,
        FeeLine,
        LineItem,
        PricingContext,
        Quote,
        QuoteLine,
    )

_LAZY: dict[str, str] = {
    "Payments": "paygate.payments",
    "ReconcileReport": "paygate.payments",
    "Config": "paygate.config",
    "Capabilities": "paygate.models",
    "Card": "paygate.models",
    "Customer": "paygate.models",
    "NextAction": "paygate.models",
    "PayPalWallet": "paygate.models",
    "ProviderInfo": "paygate.models",
    "Refund": "paygate.models",
    "StoredPaymentMethod": "paygate.models",
    "Transaction": "paygate.models",
    "TransactionStatus": "paygate.models",
    "WebhookEvent": "paygate.models",
    "Adjustment": "paygate.pricing.models",
    "FeeBreakdown": "paygate.pricing.models",
    "FeeLine": "paygate.pricing.models",
    "LineItem": "paygate.pricing.models",
    "Quote": "paygate.pricing.models",
    "QuoteLine": "paygate.pricing.models",
    "PricingContext": "paygate.pricing.models",
    "FeeContext": "paygate.pricing.models",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'paygate' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "Adjustment",
    "Capabilities",
    "Card",
    "Config",
    "Customer",
    "FeeBreakdown",
    "FeeContext",
    "FeeLine",
    "LineItem",
    "Money",
    "NextAction",
    "PayPalWallet",
    "Payments",
    "PricingContext",
    "ProviderInfo",
    "Quote",
    "QuoteLine",
    "ReconcileReport",
    "Refund",
    "StoredPaymentMethod",
    "Transaction",
    "TransactionStatus",
    "WebhookEvent",
    "__version__",
    "errors",
    "hookimpl",
    "hookspec",
]

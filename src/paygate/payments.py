"""The facade: ``paygate.Payments``. One API, whatever the gateway.

Every call validates its input first (nothing invalid reaches a provider),
routes to exactly one provider, and goes through the plugin hooks so that the
ledger, redaction and any host wrapper see it. ``Payments`` is safe to share
between threads.

This class only names the API and hands each call to the part of
:mod:`paygate.facade` that holds its concept: payment operations
(:mod:`~paygate.facade.paying`), follow-ups (:mod:`~paygate.facade.follow_ups`),
stored methods (:mod:`~paygate.facade.stored`), webhooks and reconcile
(:mod:`~paygate.facade.reconcile`), quotes and fees
(:mod:`~paygate.facade.pricing`), all running through one
:class:`~paygate.facade.engine.Engine`; the host's values are checked by
:mod:`paygate.validation` and :mod:`paygate.facade.checks`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paygate.config import Config
from paygate.errors import NotFound
from paygate.facade.checks import PaymentMethodType
from paygate.facade.engine import Engine
from paygate.facade.follow_ups import FollowUps
from paygate.facade.paying import PaymentOperations
from paygate.facade.pricing import Pricing
from paygate.facade.reconcile import ReconcileReport, WebhooksAndReconcile
from paygate.facade.stored import StoredMethods
from paygate.ledger import LedgerStore
from paygate.manager import PaygatePluginManager, make_plugin_manager
from paygate.models import (
    Card,
    Customer,
    PayPalWallet,
    ProviderInfo,
    StoredPaymentMethod,
    Transaction,
    WebhookEvent,
)
from paygate.money import Money
from paygate.operations import Operation

if TYPE_CHECKING:
    from paygate.builtins.ledger import LedgerPlugin
    from paygate.pricing.models import FeeBreakdown, LineItem, Quote


class Payments:
    """Take payments through one API.

    :param config: a mapping, a :class:`~paygate.config.Config`, or the path
        of a TOML file. ``None``: ``PAYGATE_CONFIG`` if set, else defaults
        (the sandbox provider and an SQLite file ledger).
    :param plugins: extra plugin objects or classes to register.
    :param ledger: a host-provided :class:`~paygate.ledger.LedgerStore`.
    :param load_entrypoints: load installed plugins (entry-point group ``paygate``).
    """

    def __init__(
        self,
        config: Config | Mapping[str, Any] | str | Path | None = None,
        *,
        plugins: Iterable[object] | None = None,
        ledger: LedgerStore | None = None,
        load_entrypoints: bool = True,
    ) -> None:
        self.config = Config.load(config)
        self.plugin_manager: PaygatePluginManager = make_plugin_manager(
            self.config, plugins=plugins or (), load_entrypoints=load_entrypoints
        )
        ledger_plugin: LedgerPlugin | None = self.plugin_manager.get_plugin("ledger")
        assert ledger_plugin is not None  # essential built-in, cannot be disabled
        self._ledger_plugin = ledger_plugin
        if ledger is not None:
            self._ledger_plugin.use_store(ledger)
        self.rounding = self.config.rounding
        # Handed to pricing and fee hooks; built once, not per call.
        self._settings = self.config.as_dict()
        engine = Engine(self.plugin_manager, ledger_plugin)
        self._follow_ups = FollowUps(engine)
        self._paying = PaymentOperations(engine, self._follow_ups)
        self._stored = StoredMethods(engine)
        self._events = WebhooksAndReconcile(engine)
        self._pricing = Pricing(engine, self._settings, self.rounding, self.config.default_provider)

    # -- introspection -----------------------------------------------------------
    @property
    def ledger(self) -> LedgerStore:
        store = self._ledger_plugin.store
        assert store is not None
        return store

    @property
    def hook(self) -> Any:
        return self.plugin_manager.hook

    def providers(self) -> list[ProviderInfo]:
        """Every installed provider's manifest."""
        return [info for _, info in self.plugin_manager.providers().values()]

    def provider(self, name: str) -> ProviderInfo:
        return self.plugin_manager.provider_info(name)

    def plugin(self, name: str) -> Any:
        """The registered plugin object called ``name`` (``payments.plugin("sandbox")``)."""
        plugin = self.plugin_manager.get_plugin(name)
        if plugin is None:
            raise NotFound(f"no plugin named {name!r}")
        return plugin

    def close(self) -> None:
        self.ledger.close()

    def __enter__(self) -> Payments:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Payments(providers={sorted(self.plugin_manager.providers())})"

    # -- payments ----------------------------------------------------------------
    def authorize(
        self,
        amount: Money,
        method: PaymentMethodType,
        *,
        customer: Customer | None = None,
        provider: str | None = None,
        description: str | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        return_url: str | None = None,
    ) -> Transaction:
        """Hold ``amount`` on the payment method; capture it later.

        :returns: the transaction, ``authorized`` or ``requires_action``.
        :raises CardDeclined: the issuer refused (``.code``, ``.transaction``).
        """
        return self._paying.pay(
            Operation.AUTHORIZE,
            amount,
            method,
            customer=customer,
            provider=provider,
            description=description,
            metadata=metadata,
            idempotency_key=idempotency_key,
            return_url=return_url,
        )

    def purchase(
        self,
        amount: Money,
        method: PaymentMethodType,
        *,
        customer: Customer | None = None,
        provider: str | None = None,
        description: str | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        return_url: str | None = None,
    ) -> Transaction:
        """Authorize and capture at once.

        :returns: the transaction, ``captured`` or ``requires_action``.
        """
        return self._paying.pay(
            Operation.PURCHASE,
            amount,
            method,
            customer=customer,
            provider=provider,
            description=description,
            metadata=metadata,
            idempotency_key=idempotency_key,
            return_url=return_url,
        )

    def charge_recurring(
        self,
        amount: Money,
        stored_method: StoredPaymentMethod,
        *,
        customer: Customer | None = None,
        description: str | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Transaction:
        """Charge a stored method without the payer present (renewals)."""
        return self._paying.pay(
            Operation.CHARGE_RECURRING,
            amount,
            stored_method,
            customer=customer,
            description=description,
            metadata=metadata,
            idempotency_key=idempotency_key,
        )

    def verify(
        self,
        method: PaymentMethodType,
        *,
        currency: str = "USD",
        customer: Customer | None = None,
        provider: str | None = None,
        idempotency_key: str | None = None,
    ) -> Transaction:
        """The card check: authorize a small amount in ``currency`` and void it at once.

        The amount is the provider's ``ProviderInfo.verify_amounts[currency]``,
        else 1 unit of the currency (1.00 USD).

        :returns: the voided transaction (or ``requires_action`` when the
            issuer wants 3-D Secure first: confirm, then void it).
        """
        return self._paying.verify(
            method,
            currency=currency,
            customer=customer,
            provider=provider,
            idempotency_key=idempotency_key,
        )

    # -- follow-up operations ----------------------------------------------------
    def transaction(self, transaction_id: str) -> Transaction:
        """The transaction as the ledger has it."""
        return self._follow_ups.load(transaction_id)

    def capture(
        self,
        transaction_id: str,
        amount: Money | None = None,
        *,
        final: bool = True,
        idempotency_key: str | None = None,
    ) -> Transaction:
        """Capture all (``amount=None``) or part of an authorization.

        ``final=False`` keeps the rest capturable (providers with
        ``multiple_captures``); otherwise the rest is released.
        """
        return self._follow_ups.capture(
            transaction_id, amount, final=final, idempotency_key=idempotency_key
        )

    def void(self, transaction_id: str, *, idempotency_key: str | None = None) -> Transaction:
        """Cancel an authorization (or release what a partial capture left)."""
        return self._follow_ups.void(transaction_id, idempotency_key=idempotency_key)

    def refund(
        self,
        transaction_id: str,
        amount: Money | None = None,
        *,
        reason: str | None = None,
        idempotency_key: str | None = None,
    ) -> Transaction:
        """Give back all that is left (``amount=None``) or part of a capture.

        Several partial refunds may follow one another up to the captured
        amount; more is ``InvalidRequest`` with code ``invalid_amount``.
        """
        return self._follow_ups.refund(
            transaction_id, amount, reason=reason, idempotency_key=idempotency_key
        )

    def confirm(
        self,
        transaction_id: str,
        *,
        params: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Transaction:
        """Finish a ``requires_action`` transaction once the payer is back
        (3-D Secure done, PayPal order approved)."""
        return self._follow_ups.confirm(
            transaction_id, params=params, idempotency_key=idempotency_key
        )

    # -- stored payment methods --------------------------------------------------
    def store_payment_method(
        self,
        method: Card | PayPalWallet | StoredPaymentMethod,
        *,
        customer: Customer | None = None,
        provider: str | None = None,
        idempotency_key: str | None = None,
    ) -> StoredPaymentMethod:
        """Save a card or wallet at the provider for later ``charge_recurring``.

        ``method`` may also be a token the payer's browser made at the
        provider (``StoredPaymentMethod(provider="stripe", token="pm_...")``
        from Stripe.js): the provider keeps it for ``customer``, and card
        numbers never reach the host."""
        return self._stored.store_payment_method(
            method, customer=customer, provider=provider, idempotency_key=idempotency_key
        )

    def confirm_payment_method(
        self,
        pending: StoredPaymentMethod,
        *,
        params: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> StoredPaymentMethod:
        """Finish saving a method once the payer approved it (PayPal vault).

        :param pending: what :meth:`store_payment_method` returned with
            ``status="requires_action"``.
        :returns: the saved, ``active`` method for :meth:`charge_recurring`.
        """
        return self._stored.confirm_payment_method(
            pending, params=params, idempotency_key=idempotency_key
        )

    # -- webhooks and reconciliation ---------------------------------------------
    def parse_webhook(
        self, provider: str, headers: Mapping[str, str], body: bytes | str
    ) -> WebhookEvent:
        """Verify a webhook delivery and return it as a neutral event.

        A delivery seen before comes back with ``duplicate=True``: acknowledge
        it, do not apply it again. A new event is applied to the stored
        transaction it names only when it moves it forward and needs no money
        paygate did not move itself (see docs/reliability.md): a late
        ``payment.authorized`` after the capture changes nothing.

        :raises SignatureVerificationError: bad, missing or stale signature.
        """
        return self._events.parse_webhook(provider, headers, body)

    def reconcile(self, *, pending_older_than: float = 300.0) -> ReconcileReport:
        """Settle every operation whose outcome is unknown by asking its provider.

        Operations still ``pending`` after ``pending_older_than`` seconds (their
        process died mid-call) are treated as unknown too.
        """
        return self._events.reconcile(pending_older_than=pending_older_than)

    # -- pricing -----------------------------------------------------------------
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
        return self._pricing.quote(items, cycle=cycle, customer=customer, currency=currency)

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
        return self._pricing.fees(
            amount,
            provider=provider,
            kind=kind,
            card_country=card_country,
            merchant_country=merchant_country,
            currency_conversion=currency_conversion,
            method_kind=method_kind,
        )


__all__ = ["Payments", "ReconcileReport"]

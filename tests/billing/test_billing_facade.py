"""``Billing`` is a facade over one module per concept: its public surface is
exactly what it was when it was one class in ``service.py``."""

from __future__ import annotations

import inspect

import paygate.billing
import paygate.billing.service
from paygate.billing import Billing

#: The public methods and their signatures, as the single-class ``Billing``
#: (before the split into modules) had them, plus what was added since (marked).
PUBLIC: dict[str, str] = {
    "__init__": "(self, payments: 'Payments', *, catalog: 'Catalog | None' = None, "
    "database_url: 'str | None' = None, clock: 'Clock | None' = None, "
    "safety_bound: 'int' = 15) -> 'None'",
    "account": "(self, actor: 'Actor', account_id: 'str') -> 'Account'",
    "add_member": "(self, account_id: 'str', user: 'str', role: 'str' = 'multi_user') -> 'None'",
    # issue 20: a token made by Stripe.js in the browser (StoredPaymentMethod) too
    "add_payment_method": "(self, actor: 'Actor', account_id: 'str', "
    "method: 'Card | PayPalWallet | StoredPaymentMethod', *, idempotency_key: 'str') "
    "-> 'StoredPaymentMethod'",
    "apply": "(self, actor: 'Actor', preview: 'Preview') -> 'Subscription'",
    # issue 18: an immediate cancel refunds the unused part unless refund="none"
    "cancel": "(self, actor: 'Actor', subscription_id: 'str', *, at: 'str' = 'period_end', "
    "refund: 'str' = 'prorated') -> 'Subscription'",
    "create_account": "(self, owner: 'str', *, currency: 'str', timezone: 'str' = 'UTC', "
    "nonprofit: 'bool' = False, parent_id: 'str | None' = None, "
    "account_id: 'str | None' = None) -> 'Account'",
    "details": "(self, actor: 'Actor', account: 'str') -> 'Details'",
    # Added since the split: billing's reaction to provider webhooks.
    "disputes": "(self, actor: 'Actor', account: 'str') -> 'list[Dispute]'",
    "events": "(self, *, after: 'int' = 0, limit: 'int' = 1000) -> 'list[BillingEvent]'",
    "freeze": "(self, actor: 'Actor', subscription_id: 'str', *, days: 'int') -> 'Subscription'",
    "grant_nonprofit": "(self, actor: 'Actor', account_id: 'str', granted: 'bool' = True) "
    "-> 'Account'",
    "now": "(self) -> 'datetime'",
    "on_webhook": "(self, event: 'WebhookEvent') -> 'WebhookReaction'",
    # issue 18: settle an open or uncollectible invoice now
    "pay": "(self, actor: 'Actor', invoice_id: 'str') -> 'Invoice'",
    "preview_add_addon": "(self, actor: 'Actor', subscription_id: 'str', addon: 'str', *, "
    "quantity: 'int' = 1) -> 'Preview'",
    "preview_change": "(self, actor: 'Actor', subscription_id: 'str', *, "
    "plan: 'str | None' = None, cycle: 'str | None' = None) -> 'Preview'",
    "preview_cancel": "(self, actor: 'Actor', subscription_id: 'str') -> 'Preview'",
    "preview_remove_addon": "(self, actor: 'Actor', subscription_id: 'str', item_id: 'str') "
    "-> 'Preview'",
    "reactivate": "(self, actor: 'Actor', subscription_id: 'str') -> 'Subscription'",
    "record_usage": "(self, actor: 'Actor', subscription_id: 'str', *, event_id: 'str', "
    "metric: 'str', quantity: 'int', at: 'datetime | None' = None) -> 'bool'",
    # issue 18: staff take a parked subscription back to active
    "release": "(self, actor: 'Actor', subscription_id: 'str') -> 'Subscription'",
    "remove_payment_method": "(self, actor: 'Actor', account_id: 'str') -> 'None'",
    "run_once": "(self, *, batch: 'int' = 50, lease_seconds: 'float' = 120.0, "
    "worker: 'str | None' = None, reconcile_after: 'float | None' = 300.0) -> 'RunReport'",
    "subscribe": "(self, actor: 'Actor', account_id: 'str', plan: 'str', *, "
    "cycle: 'str' = 'monthly', addons: 'Sequence[tuple[str, int]]' = (), "
    "idempotency_key: 'str') -> 'Subscription'",
    "subscription": "(self, actor: 'Actor', subscription_id: 'str') -> 'Subscription'",
    "unfreeze": "(self, actor: 'Actor', subscription_id: 'str') -> 'Subscription'",
}


def test_the_public_methods_and_signatures_are_unchanged() -> None:
    found = {
        name: str(inspect.signature(getattr(Billing, name)))
        for name in dir(Billing)
        if (not name.startswith("_") or name == "__init__")
        and inspect.isfunction(getattr(Billing, name))
    }
    assert found == PUBLIC
    assert isinstance(inspect.getattr_static(Billing, "hook"), property)


def test_the_old_import_paths_still_work() -> None:
    assert paygate.billing.service.Billing is Billing
    for name in ("Details", "Preview", "RunReport", "seed_catalog"):
        assert getattr(paygate.billing.service, name) is getattr(paygate.billing, name)


def test_invoices_is_the_documents_api_and_still_lists_the_records() -> None:
    # ``Billing.invoices`` became the documents API (list, pdf, corrections,
    # profiles); called like the former method it lists the billing records.
    from paygate.billing.documents import Invoices

    assert str(inspect.signature(Invoices.__call__)) == (
        "(self, actor: 'Actor', account: 'str') -> 'list[Invoice]'"
    )
    assert str(inspect.signature(Invoices.list)) == (
        "(self, actor: 'Actor', account: 'str') -> 'list[Document]'"
    )
    assert str(inspect.signature(Invoices.pdf)) == (
        "(self, actor: 'Actor', document_id: 'str') -> 'bytes'"
    )

"""``paygate.billing.Billing``: accounts, subscriptions, invoices and renewals,
built on the public :class:`paygate.Payments` facade.

Money moves only through ``Payments.charge_recurring`` / ``verify`` /
``store_payment_method``, each with a deterministic idempotency key, and every
price comes from ``Payments.quote``. A charge is never made inside a database
transaction: a short transaction writes the draft invoice and the payment
attempt (with its key), the charge runs, and a second short transaction
records the outcome. A crash in between is settled by the next run, which
charges again *with the same key* (the ledger and the provider answer with
the first result): one charge per invoice attempt whatever happens.
"""

from __future__ import annotations

from paygate.billing.accounts import Accounts, _method_text
from paygate.billing.collection import _UNKNOWN_BACKOFF
from paygate.billing.core import SAFETY_BOUND, Clock, seed_catalog
from paygate.billing.details import Details, Reading
from paygate.billing.lifecycle import MAX_FREEZE_DAYS, Lifecycle
from paygate.billing.previews import _ACTION_OF, Preview, Previews, _line_from_row
from paygate.billing.reactions import Dispute, Reaction, WebhookReaction
from paygate.billing.renewals import RunReport
from paygate.billing.subscribing import Subscribing
from paygate.billing.usage import Usage


class Billing(Accounts, Lifecycle, Subscribing, Previews, Usage, Reading):
    """Plans, subscriptions, invoices and renewals for one host.

    :param payments: the :class:`paygate.Payments` every charge goes through.
    :param catalog: the :class:`~paygate.billing.Catalog` (default: the seed's).
    :param database_url: where billing rows live; default: the ledger's own
        database (an SQL ledger is needed: ``"memory"`` has no tables).
    :param clock: returns the current instant (aware, UTC); tests and
        ``paygate billing simulate`` travel in time with it.
    :param safety_bound: renewal invoices per subscription per 24 h before
        the subscription is parked for review instead of charged.

    Each concept lives in its own module; this class only puts them together:

    - accounts and payment methods (:mod:`~paygate.billing.accounts`):
      ``create_account``, ``add_member``, ``account``, ``grant_nonprofit``,
      ``add_payment_method``, ``remove_payment_method``, ``pay``;
    - subscribing (:mod:`~paygate.billing.subscribing`): ``subscribe``,
      ``subscription``;
    - changes (:mod:`~paygate.billing.previews`, planned by
      :mod:`~paygate.billing.changes`): ``preview_change``,
      ``preview_add_addon``, ``preview_remove_addon``, ``apply``;
    - cancelling (:mod:`~paygate.billing.cancellation`): ``cancel`` (now,
      with its prorated refund, or at the period end), ``preview_cancel``;
    - lifecycle (:mod:`~paygate.billing.lifecycle`): ``reactivate``,
      ``freeze``, ``unfreeze``, and staff's ``release`` of a parked one;
    - usage (:mod:`~paygate.billing.usage`): ``record_usage``;
    - reading (:mod:`~paygate.billing.details`): ``details``, ``events``;
    - legal documents (:mod:`~paygate.billing.documents`): ``invoices``
      (``invoices.list``, ``invoices.pdf``, corrections, profiles);
    - provider webhooks (:mod:`~paygate.billing.reactions`): ``on_webhook``
      (refunds credited, disputes recorded), ``disputes``;
    - renewals (:mod:`~paygate.billing.renewals`, run by
      :mod:`~paygate.billing.runner`): ``run_once``;
    - charging (:mod:`~paygate.billing.collection`), the one place money
      moves, and the shared plumbing (:mod:`~paygate.billing.core`:
      ``now``, ``hook``, the events outbox) underneath them all.
    """


__all__ = [
    "MAX_FREEZE_DAYS",
    "SAFETY_BOUND",
    "_ACTION_OF",
    "_UNKNOWN_BACKOFF",
    "Billing",
    "Clock",
    "Details",
    "Dispute",
    "Preview",
    "Reaction",
    "RunReport",
    "WebhookReaction",
    "_line_from_row",
    "_method_text",
    "seed_catalog",
]

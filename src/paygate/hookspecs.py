"""Every hook of paygate, grouped by the phase in which it is called.

Plugins implement these with the one marker :data:`paygate.hookimpl`::

    import paygate

    class MyGateway:
        @paygate.hookimpl
        def paygate_provider_info(self):
            return paygate.ProviderInfo(name="mygateway", ...)

        @paygate.hookimpl
        def paygate_authorize(self, request):
            ...

**Routing.** Operation hooks (``paygate_authorize`` ... ``paygate_parse_webhook``)
stop at the first non-``None`` result, and the core calls them on exactly one
provider: the plugin whose :class:`~paygate.ProviderInfo` has the chosen name.
A provider implementation never checks "is this call mine?". Every other
plugin's ``wrapper=True`` implementations still wrap the call: that is how the
ledger, redaction and tracing see every operation.

**Errors.** A hook raises a :class:`~paygate.errors.PaygateError` subclass for
expected failures. Anything else is reported to the host as
:class:`~paygate.errors.PluginError` naming the plugin, never as a decline.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from paygate._markers import hookspec

if TYPE_CHECKING:
    from paygate.config import Config
    from paygate.errors import InvalidRequest
    from paygate.models import (
        Card,
        PayPalWallet,
        ProviderInfo,
        StoredPaymentMethod,
        WebhookEvent,
    )
    from paygate.operations import (
        CaptureRequest,
        ConfirmRequest,
        FetchRequest,
        PaymentRequest,
        ProviderResult,
        RefundRequest,
        RoutingRequest,
        StoreRequest,
        ValidationContext,
        VoidRequest,
        WebhookRequest,
    )
    from paygate.pricing.models import Adjustment, FeeContext, FeeLine, PricingContext


# ---------------------------------------------------------------------------
# Phase 1: set-up
# ---------------------------------------------------------------------------


@hookspec(historic=True)
def paygate_configure(config: Config) -> None:
    """Read this plugin's settings. Called once per :class:`~paygate.Payments`.

    Historic: a plugin registered later still receives the call.

    :param config: the whole configuration; a plugin reads its own table,
        ``config.section("stripe")``, and may raise
        :class:`~paygate.errors.ConfigurationError` for bad settings.
    :returns: nothing.
    """


@hookspec
def paygate_provider_info() -> ProviderInfo | None:
    """Describe the gateway this plugin provides. Only provider plugins implement it.

    Called on every plugin (collected). The ``name`` is how hosts choose the
    provider (``provider="stripe"``) and how the core routes operation hooks.

    :returns: a :class:`~paygate.ProviderInfo`: name, currencies, countries,
        payment-method kinds, card brands, capabilities, test or live mode.
    """


@hookspec
def paygate_secret_patterns() -> list[str | re.Pattern[str]] | None:
    """Name the shapes of this plugin's secrets, so the core scrubs them.

    Called on every plugin (collected) after ``paygate_configure``. The core
    scrubs text matching any pattern from exceptions, logs and the ledger's
    free text and transcripts, like it scrubs card numbers. Configured values
    under keys containing ``key``, ``secret``, ``token`` or ``password`` are
    scrubbed as themselves without any pattern. Identifiers (references,
    ``provider_data``) are never scrubbed: a pattern must not match the
    plugin's own ids.

    :returns: regular expressions (``str`` or compiled) for credential shapes,
        e.g. ``r"acme_(test|live)_[A-Za-z0-9]{8,}"``; a pattern that does not
        compile or matches the empty string is a plugin error.
    """


# ---------------------------------------------------------------------------
# Phase 2: before any provider is called
# ---------------------------------------------------------------------------


@hookspec
def paygate_validate_payment_method(
    method: Card | PayPalWallet | StoredPaymentMethod, context: ValidationContext
) -> list[InvalidRequest] | None:
    """Find what is wrong with a payment method, before any network call.

    Called on every plugin (collected); the core raises the first problem
    found. A validator may record what it learned in ``context.facts`` (the
    card-rules plugin sets ``facts["brand"]``).

    :param method: the card, wallet or stored method the host passed.
    :param context: the operation, amount, customer, chosen provider (if
        named), time and configuration.
    :returns: a list of :class:`~paygate.errors.InvalidRequest` (each with a
        standard ``code`` and the ``param`` it is about), or ``None``/``[]``.
    """


@hookspec(firstresult=True)
def paygate_select_provider(request: RoutingRequest, candidates: list[ProviderInfo]) -> str | None:
    """Choose the provider for an operation the host did not route itself.

    Stops at the first non-``None`` result. The core's default (the
    configured ``default_provider``) runs last (``trylast``).

    :param request: operation, amount, method kind, card brand, customer.
    :param candidates: installed providers that take this currency and
        payment-method kind, in registration order.
    :returns: a provider name, or ``None`` to let the next plugin decide.
    """


# ---------------------------------------------------------------------------
# Phase 3: operations, routed to the one chosen provider (firstresult)
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def paygate_authorize(request: PaymentRequest) -> ProviderResult | None:
    """Authorize (``request.capture`` False) or purchase (True) ``request.amount``.

    Routed to one provider. Send ``request.idempotency_key`` as the provider's
    idempotency header.

    :param request: amount, payment method, customer, description, metadata.
    :returns: a :class:`~paygate.operations.ProviderResult` with status
        ``authorized``, ``captured``, ``requires_action`` (with
        ``next_action``) or ``failed`` (with a standard ``error.code``).
    """


@hookspec(firstresult=True)
def paygate_capture(request: CaptureRequest) -> ProviderResult | None:
    """Capture ``request.amount`` of an authorization (full or partial).

    Routed to one provider. The core has already checked the amount against
    what is left to capture.

    :param request: the amount, the authorized and captured totals, ``final``.
    :returns: a result with status ``captured`` or ``partially_captured``.
    """


@hookspec(firstresult=True)
def paygate_void(request: VoidRequest) -> ProviderResult | None:
    """Cancel an authorization that was not captured.

    Routed to one provider.

    :param request: the transaction's references.
    :returns: a result with status ``voided``.
    """


@hookspec(firstresult=True)
def paygate_refund(request: RefundRequest) -> ProviderResult | None:
    """Give back ``request.amount`` of what was captured (full or partial).

    Routed to one provider. The core has already checked (under a ledger
    lock) that refunds never exceed the captured amount.

    :param request: the amount, the captured and already refunded totals.
    :returns: a result with status ``refunded`` or ``partially_refunded`` and
        the refund's own id in ``operation_reference``.
    """


@hookspec(firstresult=True)
def paygate_confirm(request: ConfirmRequest) -> ProviderResult | None:
    """Finish a ``requires_action`` payment once the payer is back.

    Routed to one provider: after 3-D Secure, or after PayPal approval.

    :param request: the transaction's references and the return parameters.
    :returns: a result with the payment's new status.
    """


@hookspec(firstresult=True)
def paygate_charge_recurring(request: PaymentRequest) -> ProviderResult | None:
    """Charge a stored payment method without the payer present (off-session).

    Routed to one provider.

    :param request: amount and a :class:`~paygate.StoredPaymentMethod`.
    :returns: a result with status ``captured``, or ``failed`` with code
        ``authentication_required`` when the issuer wants the payer back.
    """


@hookspec(firstresult=True)
def paygate_store_payment_method(request: StoreRequest) -> ProviderResult | None:
    """Save a payment method at the provider for later charges.

    Routed to one provider.

    :param request: the card or wallet and the customer.
    :returns: a result whose ``stored_method`` is the saved
        :class:`~paygate.StoredPaymentMethod`.
    """


@hookspec(firstresult=True)
def paygate_fetch_transaction(request: FetchRequest) -> ProviderResult | None:
    """Tell what the provider knows of an operation, for reconciling.

    Routed to one provider. Used when an answer was lost: look the payment
    up by reference, or by idempotency key / ``transaction_id`` metadata.

    :param request: the references known and which operation is asked about.
    :returns: the provider's view as a result, or ``None`` if the provider has
        no trace of it (the operation never happened).
    """


@hookspec(firstresult=True)
def paygate_parse_webhook(request: WebhookRequest) -> WebhookEvent | None:
    """Verify a webhook delivery and translate it into a neutral event.

    Routed to one provider (the host says which endpoint it came to).

    :param request: headers and raw body, exactly as received.
    :returns: a :class:`~paygate.WebhookEvent`.
    :raises SignatureVerificationError: bad, missing or stale signature.
    """


# ---------------------------------------------------------------------------
# Phase 4: pricing and fees (collected from every plugin)
# ---------------------------------------------------------------------------


@hookspec
def paygate_calculate_fees(context: FeeContext) -> list[FeeLine] | None:
    """Contribute fee lines for a payment (gateway, platform service, FX...).

    Collected from every non-provider plugin plus the chosen provider only.

    :param context: gross amount, provider, kind (``ticket``,
        ``subscription``...), card and merchant country, conversion.
    :returns: a list of :class:`~paygate.FeeLine`, or ``None``.
    """


@hookspec
def paygate_price_adjustments(context: PricingContext) -> list[Adjustment] | None:
    """Contribute discounts and surcharges to a quote.

    Collected from every plugin; the engine applies them by ``priority``.

    :param context: the items, billing cycle, customer and currency.
    :returns: a list of :class:`~paygate.Adjustment`, or ``None``.
    """


#: Operation hooks, routed to one provider.
OPERATION_HOOKS: tuple[str, ...] = (
    "paygate_authorize",
    "paygate_capture",
    "paygate_void",
    "paygate_refund",
    "paygate_confirm",
    "paygate_charge_recurring",
    "paygate_store_payment_method",
    "paygate_fetch_transaction",
    "paygate_parse_webhook",
)

#: Collecting hooks whose provider-specific part comes from the chosen provider only.
ROUTED_COLLECT_HOOKS: tuple[str, ...] = ("paygate_calculate_fees",)


def _all_hooks() -> dict[str, Any]:
    return {name: obj for name, obj in globals().items() if name.startswith("paygate_")}


# ---------------------------------------------------------------------------
# Phase 5: billing (called by paygate.billing, never by Payments)
# ---------------------------------------------------------------------------

if TYPE_CHECKING:
    from paygate.billing.models import (
        Account,
        Actor,
        BillingEvent,
        DunningContext,
        Invoice,
        ProrationContext,
        RetryDecision,
        TaxContext,
        TaxLine,
    )


@hookspec(firstresult=True)
def paygate_billing_authorize(actor: Actor, action: str, account: Account) -> bool | None:
    """Say whether ``actor`` may do ``action`` on ``account``'s billing.

    The built-in ``billing_permissions`` plugin answers last: the owner may do
    everything on a main account; multi-users, sub-accounts and strangers
    nothing; staff actors the staff actions. A host plugin answers first to
    widen or narrow that.

    :param actor: a :class:`paygate.billing.Actor` (user or staff).
    :param action: a :class:`paygate.billing.Action` value (``view``, ``pay``...).
    :param account: the :class:`paygate.billing.Account` acted on.
    :returns: ``True`` (allowed), ``False`` (denied) or ``None`` (no opinion).
    """


@hookspec(firstresult=True)
def paygate_billing_proration(context: ProrationContext) -> str | None:
    """Choose the proration policy of a change in the middle of a period.

    :param context: the account, the subscription and the kind of change.
    :returns: ``actual_days``, ``days_30``, ``by_second`` or ``none``.
    """


@hookspec(firstresult=True)
def paygate_billing_retry_schedule(
    invoice: Invoice, attempt: int, error: str | None
) -> RetryDecision | None:
    """Decide when a failed renewal charge is tried again, or that it is not.

    :param invoice: the open invoice.
    :param attempt: how many charges were tried (1 after the first failure).
    :param error: the decline code (``insufficient_funds``...) or ``no_payment_method``.
    :returns: a :class:`paygate.billing.RetryDecision`; ``retry_in=None`` stops.
    """


@hookspec(firstresult=True)
def paygate_billing_dunning_end(context: DunningContext) -> str | None:
    """Choose what a subscription becomes when its invoice's last retry failed.

    The invoice is ``uncollectible`` whatever the answer. The built-in
    ``billing_policies`` plugin answers last with ``[billing] dunning_end``
    (default ``cancel``, what billing always did).

    :param context: the account, the subscription, the invoice given up on
        and the last decline code.
    :returns: ``cancel`` (canceled, access cut), ``past_due`` (stays active
        and past due, access kept, renewals go on), ``unpaid`` (the same with
        access cut until it is paid) or ``freeze`` (frozen, no access, no
        renewal until it is paid); paying the invoice (a new payment method,
        or ``Billing.pay``) takes the last three back to active.
    """


@hookspec(firstresult=True)
def paygate_billing_number_series(invoice: Invoice) -> str | None:
    """Name the numbering series an invoice takes its number from when finalized.

    :param invoice: the draft being finalized.
    :returns: a series name (``INV``, ``F-2027``, ``TEST``), 1-64 characters.
    """


@hookspec
def paygate_billing_tax_lines(context: TaxContext) -> list[TaxLine] | None:
    """Contribute tax lines (VAT per customer country...) to an invoice being built.

    :param context: the account, the currency and the invoice's lines so far.
    :returns: a list of :class:`paygate.billing.TaxLine`, or ``None``.
    """


@hookspec
def paygate_billing_event(event: BillingEvent) -> None:
    """Hear a billing event once it is committed (subscription, invoice, payment).

    Every event is also kept in the outbox (``Billing.events``) in order, so a
    host that missed a call can read it there.

    :param event: the :class:`paygate.billing.BillingEvent`.
    :returns: nothing.
    """


# -- invoices: legal documents built on billing invoices (paygate.billing.documents) --

if TYPE_CHECKING:
    from paygate.billing.documents.models import (
        Document,
        Mention,
        MentionProblem,
        VatContext,
        VatTreatment,
    )


@hookspec(firstresult=True)
def paygate_billing_document_series(document: Document) -> str | None:
    """Name the gapless series a legal document takes its number from.

    Called in the issuing transaction, before the number is taken (the
    ``document`` has ``number == 0``). The built-in answers last with one
    series per year and document kind: ``F-2027`` (invoices and corrected
    invoices), ``AV-2027`` (credit notes), prefixed ``TEST-`` in test mode.

    :param document: the document being issued (type, issue date, test mode).
    :returns: a series name of 1-64 characters.
    """


@hookspec(firstresult=True)
def paygate_billing_vat(context: VatContext) -> VatTreatment | None:
    """Decide the VAT of a document's lines from the seller and the buyer.

    The built-in answers last: domestic rate when both are in one country,
    reverse charge for an EU business buyer with a VAT number, the buyer's
    country rate for an EU consumer (OSS), and no VAT for a buyer outside the
    EU, each with its mention.

    :param context: seller and buyer snapshots and the issue date.
    :returns: a :class:`paygate.billing.documents.VatTreatment`.
    """


@hookspec
def paygate_billing_mentions(
    document: Document,
) -> list[Mention | MentionProblem] | None:
    """Add the legal mentions of a jurisdiction to a document being issued,
    and report what it lacks.

    Every answer is gathered; a :class:`MentionProblem` refuses the issue
    with :class:`~paygate.billing.documents.MissingMandatoryData` naming it,
    before any number is taken. The built-in ships the EU (Directive
    2006/112/EC art. 226) and French (CGI ann. II art. 242 nonies A,
    C. com. L441-9) packs as dated data.

    :param document: the document being issued (without its mentions).
    :returns: mentions and problems, or ``None``.
    """


@hookspec(firstresult=True)
def paygate_billing_render(document: Document) -> bytes | None:
    """Render an issued document as a PDF file (PDF/A-3 with Factur-X XML
    for a renderer that can).

    Called in the issuing transaction, after the number is taken: an
    exception, or no renderer at all, rolls the issue back (no number is
    consumed). Must be deterministic: the same document gives the same bytes.

    :param document: the numbered document.
    :returns: the PDF bytes.
    """


@hookspec(firstresult=True)
def paygate_billing_deliver(document: Document, pdf: bytes, address: str, kind: str) -> bool | None:
    """Send an issued document (or a notice about it) to ``address``.

    Called after the issue is committed, once per (document, kind, address):
    a delivery that raised is retried later from the outbox, and one that
    succeeded is never sent again. The built-in SMTP deliverer answers when
    ``[invoices.smtp]`` is configured.

    :param document: the issued document.
    :param pdf: its stored PDF bytes (the same bytes the history serves).
    :param address: the recipient's e-mail address.
    :param kind: ``document`` (the PDF itself) or ``correction_accepted``.
    :returns: ``True`` once sent; ``None`` when no deliverer is configured.
    """

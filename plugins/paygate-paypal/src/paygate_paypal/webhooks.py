"""PayPal webhooks: verified by PayPal, translated into neutral events.

PayPal signs deliveries with a certificate; its documented check is to post
the delivery's ``PAYPAL-*`` headers, our ``webhook_id`` and the event to
``POST /v1/notifications/verify-webhook-signature``. The server SDK has no
such endpoint, so :meth:`PayPalClient.post_raw` sends it with plain
``requests`` on the SDK's session and OAuth token.

The event is spliced into the verification request *as received* (raw bytes,
not re-serialized JSON): PayPal checks a CRC32 of the original body, and
re-encoding (key order, spacing, unicode escapes) would make genuine events fail.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from paygate.errors import ConfigurationError, SignatureVerificationError
from paygate.models import WebhookEvent
from paygate.operations import WebhookRequest
from paygate_paypal.amounts import from_paypal
from paygate_paypal.client import PayPalAPIError, PayPalClient

VERIFY_PATH = "/v1/notifications/verify-webhook-signature"

#: PayPal event type -> paygate neutral type.
EVENT_TYPES: dict[str, str] = {
    "CHECKOUT.ORDER.COMPLETED": "payment.succeeded",
    "PAYMENT.AUTHORIZATION.CREATED": "payment.authorized",
    "PAYMENT.AUTHORIZATION.VOIDED": "payment.voided",
    "PAYMENT.CAPTURE.COMPLETED": "payment.captured",
    "PAYMENT.CAPTURE.DENIED": "payment.failed",
    "PAYMENT.CAPTURE.DECLINED": "payment.failed",
    "PAYMENT.CAPTURE.REFUNDED": "payment.refunded",
    "PAYMENT.CAPTURE.REVERSED": "payment.refunded",
    "CHECKOUT.PAYMENT-APPROVAL.REVERSED": "payment.failed",
    "CUSTOMER.DISPUTE.CREATED": "dispute.opened",
    "VAULT.PAYMENT-TOKEN.CREATED": "payment_method.saved",
}

_HEADERS = {
    "auth_algo": "paypal-auth-algo",
    "cert_url": "paypal-cert-url",
    "transmission_id": "paypal-transmission-id",
    "transmission_sig": "paypal-transmission-sig",
    "transmission_time": "paypal-transmission-time",
}


def parse(client: PayPalClient, request: WebhookRequest) -> WebhookEvent:
    """Verify with PayPal, then translate.

    :raises SignatureVerificationError: missing PAYPAL-* headers, a body that
        is not a JSON event, or PayPal's ``verification_status`` not SUCCESS.
    :raises ConfigurationError: no ``webhook_id`` configured.
    """
    headers = {k.lower(): v for k, v in request.headers.items()}
    missing = [h.upper() for h in _HEADERS.values() if not headers.get(h)]
    if missing:
        raise SignatureVerificationError(f"PayPal webhook headers missing: {', '.join(missing)}")
    webhook_id = client.settings.webhook_id
    if not webhook_id:
        raise ConfigurationError(
            "[paypal] webhook_id is needed to verify PayPal webhooks (PAYPAL_WEBHOOK_ID)"
        )
    try:
        text = request.body.decode("utf-8")
        event = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        raise SignatureVerificationError("PayPal webhook body is not JSON") from None
    if not isinstance(event, dict) or not event.get("id") or not event.get("event_type"):
        raise SignatureVerificationError("PayPal webhook body is not an event")
    fields = {name: headers[h] for name, h in _HEADERS.items()}
    fields["webhook_id"] = webhook_id
    prefix = json.dumps(fields)[:-1]  # drop "}" to splice the raw event in
    body = f'{prefix}, "webhook_event": {text.strip()}}}'
    try:
        answer = client.post_raw(VERIFY_PATH, body)
    except PayPalAPIError as err:
        if err.status in (400, 422):
            # PayPal refuses malformed verification input (bad cert URL, bad sig syntax)
            raise SignatureVerificationError(
                f"PayPal rejected the webhook: {err.message}"
            ) from None
        raise err.to_exception() from None
    if answer.get("verification_status") != "SUCCESS":
        raise SignatureVerificationError("PayPal says the webhook signature is not valid")
    return to_event(event)


def to_event(event: dict[str, Any]) -> WebhookEvent:
    """A verified PayPal event -> :class:`WebhookEvent`."""
    provider_type = str(event.get("event_type"))
    raw_resource = event.get("resource")
    resource: dict[str, Any] = raw_resource if isinstance(raw_resource, dict) else {}
    order_id: str | None = None
    transaction_id = resource.get("custom_id")
    amount = from_paypal(resource.get("amount"))
    if provider_type.startswith("CHECKOUT.ORDER"):
        order_id = resource.get("id")
        units = resource.get("purchase_units")
        if isinstance(units, list) and units and isinstance(units[0], dict):
            transaction_id = transaction_id or units[0].get("custom_id")
            amount = amount or from_paypal(units[0].get("amount"))
    else:
        related = (resource.get("supplementary_data") or {}).get("related_ids") or {}
        if isinstance(related, dict):
            order_id = related.get("order_id")
    refund_amount: Any = None
    if EVENT_TYPES.get(provider_type) == "payment.refunded":
        # A payment.refunded event's amount is the total refunded on the
        # payment to date (WebhookEvent's contract): the refund resource's
        # seller_payable_breakdown.total_refunded_amount, not its own amount
        # (this one refund). Without that total the amount is unknown.
        refund_amount = resource.get("amount")
        breakdown = resource.get("seller_payable_breakdown")
        total = breakdown.get("total_refunded_amount") if isinstance(breakdown, dict) else None
        amount = from_paypal(total)
    created = None
    if isinstance(event.get("create_time"), str):
        try:
            created = datetime.fromisoformat(event["create_time"].replace("Z", "+00:00"))
        except ValueError:
            created = None
    extra: dict[str, Any] = {
        "resource_type": event.get("resource_type"),
        "resource_id": resource.get("id"),
        "status": resource.get("status"),
        "summary": event.get("summary"),
        # This one refund, as PayPal sent it.
        "refund_amount": refund_amount,
    }
    kwargs: dict[str, Any] = {}
    if created is not None:
        kwargs["created_at"] = created
    return WebhookEvent(
        id=str(event.get("id")),
        provider="paypal",
        type=EVENT_TYPES.get(provider_type, "other"),
        provider_type=provider_type,
        provider_reference=str(order_id) if order_id else None,
        transaction_id=str(transaction_id) if transaction_id else None,
        amount=amount,
        data={k: v for k, v in extra.items() if v is not None},
        **kwargs,
    )

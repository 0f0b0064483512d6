"""Stripe webhooks: verify ``Stripe-Signature``, translate events.

Verification follows Stripe's scheme (docs.stripe.com/webhooks#verify-manually):
the header is ``t=<unix time>,v1=<hex>[,v1=<hex>...]``; each ``v1`` is
HMAC-SHA256 of ``"{t}.{raw body}"`` with an endpoint secret. A delivery is
accepted when any ``v1`` matches any configured secret (several secrets let a
host roll its secret without dropping events) and ``t`` is within the
tolerance (300 s) of the time it was received. Comparisons are constant-time.

It is done here rather than with ``stripe.WebhookSignature`` so that secret
rotation, the reception time given by the core and the error messages are
ours, and so that parsing a webhook does not import the whole SDK.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from paygate.errors import InvalidRequest, SignatureVerificationError
from paygate.models import WebhookEvent
from paygate_stripe.amounts import from_stripe

DEFAULT_TOLERANCE = 300
#: Unix times past this (year 5138) are no real delivery's.
MAX_TIMESTAMP = 10**11
SIGNATURE_HEADER = "Stripe-Signature"
SCHEME = "v1"

#: Stripe event type -> paygate's neutral ``WebhookEvent.type``. Charge-level
#: success and failure events are left as ``other``: the PaymentIntent events
#: already report them, and a host should not count one payment twice.
EVENT_TYPES: dict[str, str] = {
    "payment_intent.amount_capturable_updated": "payment.authorized",
    "payment_intent.succeeded": "payment.succeeded",
    "payment_intent.payment_failed": "payment.failed",
    "payment_intent.canceled": "payment.voided",
    "payment_intent.requires_action": "payment.requires_action",
    "charge.captured": "payment.captured",
    "charge.refunded": "payment.refunded",
    "charge.dispute.created": "dispute.opened",
    "payment_method.attached": "payment_method.saved",
}


def _fail(message: str) -> SignatureVerificationError:
    return SignatureVerificationError(message)


def header_value(headers: Mapping[str, str], name: str = SIGNATURE_HEADER) -> str | None:
    """A header's value, whatever the case its name arrived in."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def parse_header(header: str) -> tuple[int, list[str]]:
    """``(timestamp, [v1 signatures])`` of a ``Stripe-Signature`` value."""
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise _fail("Stripe-Signature has a timestamp that is not a number") from None
            if not 0 <= timestamp < MAX_TIMESTAMP:
                raise _fail("Stripe-Signature has a timestamp out of range")
        elif key == SCHEME:
            signatures.append(value)
    if timestamp is None:
        raise _fail("Stripe-Signature has no timestamp (t=...)")
    if not signatures:
        raise _fail("Stripe-Signature has no v1 signature")
    return timestamp, signatures


def compute_signature(body: bytes, secret: str, timestamp: int) -> str:
    signed = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """A ``Stripe-Signature`` header value, as Stripe would send it (for tests)."""
    return f"t={timestamp},{SCHEME}={compute_signature(body, secret, timestamp)}"


def verify(
    body: bytes,
    header: str | None,
    secrets: Sequence[str],
    *,
    now: datetime | None = None,
    tolerance: int = DEFAULT_TOLERANCE,
) -> int:
    """Check a delivery's signature; return its timestamp.

    :raises SignatureVerificationError: no header, no secret, no matching
        signature, or a timestamp more than ``tolerance`` seconds away.
    """
    if not header:
        raise _fail("missing Stripe-Signature header")
    if not secrets:
        raise _fail("no Stripe webhook secret configured: cannot verify")
    timestamp, signatures = parse_header(header)
    # Compare every pair, without stopping early, so timing does not tell
    # which secret or which signature matched.
    matched = False
    for secret in secrets:
        expected = compute_signature(body, secret, timestamp)
        for candidate in signatures:
            # As bytes: compare_digest refuses non-ASCII str (a forged "v1=é").
            if hmac.compare_digest(expected.encode(), candidate.encode("utf-8", "replace")):
                matched = True
    if not matched:
        raise _fail("no Stripe-Signature v1 signature matches the body and a configured secret")
    received = (now or datetime.now(UTC)).timestamp()
    if abs(received - timestamp) > tolerance:
        raise _fail(f"Stripe-Signature timestamp is outside the {tolerance} s tolerance")
    return timestamp


def _amount(obj: Mapping[str, Any], event_type: str) -> Any:
    currency = obj.get("currency")
    if not isinstance(currency, str):
        return None
    if event_type == "charge.refunded":
        value = obj.get("amount_refunded")
    elif obj.get("object") == "payment_intent" and obj.get("status") == "succeeded":
        value = obj.get("amount_received") or obj.get("amount")
    else:
        value = obj.get("amount")
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    try:
        return from_stripe(value, currency)
    except Exception:
        # An amount Money cannot hold is still a valid event; report it without one.
        return None


def _payment_intent_id(obj: Mapping[str, Any]) -> str | None:
    value = obj.get("id") if obj.get("object") == "payment_intent" else obj.get("payment_intent")
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else None


def to_event(payload: Mapping[str, Any], *, provider: str = "stripe") -> WebhookEvent:
    """The neutral :class:`WebhookEvent` of a verified Stripe event payload."""
    event_type = str(payload.get("type", ""))
    data = payload.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    obj = dict(obj) if isinstance(obj, dict) else {}
    # The client secret lets a browser confirm the payment: keep it out of
    # anything the host might log or store.
    obj.pop("client_secret", None)
    metadata = obj.get("metadata")
    transaction_id = metadata.get("paygate_transaction_id") if isinstance(metadata, dict) else None
    created = payload.get("created")
    if isinstance(created, int) and not isinstance(created, bool):
        if not 0 <= created < MAX_TIMESTAMP:
            raise InvalidRequest("the Stripe event's created time is out of range", param="body")
        created_at = datetime.fromtimestamp(created, UTC)
    else:
        created_at = datetime.now(UTC)
    return WebhookEvent(
        id=str(payload.get("id", "")),
        provider=provider,
        type=EVENT_TYPES.get(event_type, "other"),
        provider_type=event_type,
        provider_reference=_payment_intent_id(obj),
        transaction_id=transaction_id if isinstance(transaction_id, str) else None,
        amount=_amount(obj, event_type),
        created_at=created_at,
        data={"object": obj, "livemode": bool(payload.get("livemode", False))},
    )


def parse(
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[str],
    *,
    received_at: datetime | None = None,
    tolerance: int = DEFAULT_TOLERANCE,
    provider: str = "stripe",
) -> WebhookEvent:
    """Verify a delivery and translate it.

    :raises SignatureVerificationError: see :func:`verify`.
    :raises InvalidRequest: a correctly signed body that is not a Stripe event.
    """
    verify(body, header_value(headers), secrets, now=received_at, tolerance=tolerance)
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("webhook body is not JSON", param="body") from None
    if not isinstance(payload, dict) or payload.get("object") != "event":
        raise InvalidRequest("webhook body is not a Stripe event", param="body")
    return to_event(payload, provider=provider)


__all__ = [
    "DEFAULT_TOLERANCE",
    "EVENT_TYPES",
    "SIGNATURE_HEADER",
    "compute_signature",
    "header_value",
    "parse",
    "parse_header",
    "sign",
    "to_event",
    "verify",
]

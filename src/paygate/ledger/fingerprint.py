"""What makes two requests "the same request" for idempotency.

Secrets are never part of it: a card is identified by kind, last 4 digits
and expiry (a hash of a PAN can be brute-forced, so none is taken).
"""

from __future__ import annotations

from typing import Any

from paygate.ledger.records import digest_items
from paygate.models import field_names
from paygate.operations import (
    CREATING_OPERATIONS,
    OperationRequest,
    PaymentRequest,
    StoreRequest,
)


def method_summary(method: Any) -> dict[str, Any]:
    if method.kind == "card":
        return {
            "kind": "card",
            "last4": method.last4,
            "exp": f"{method.exp_month:02d}/{method.exp_year}",
        }
    if method.kind == "stored":
        return {"kind": "stored", "provider": method.provider, "token": method.token}
    return {"kind": method.kind, "email": getattr(method, "email", None)}


_OPTIONAL_FIELDS = ("capture", "off_session", "description", "final", "reason", "params")


def fingerprint_payload(request: OperationRequest) -> dict[str, Any]:
    """What the digest is taken of: the definition :func:`fingerprint` keeps to."""
    fields = field_names(type(request))
    payload: dict[str, Any] = {
        "operation": request.operation.value,
        "provider": request.provider,
        "metadata": request.metadata,
    }
    # A creating operation's transaction id is new on every call: not part
    # of what makes two requests the same.
    if request.operation not in CREATING_OPERATIONS:
        payload["transaction_id"] = request.transaction_id
    amount = request.amount if "amount" in fields else None  # type: ignore[attr-defined]
    if amount is not None:
        payload["amount"] = [str(amount.amount), amount.currency]
    if isinstance(request, (PaymentRequest, StoreRequest)):
        payload["method"] = method_summary(request.method)
        payload["customer"] = request.customer.id if request.customer else None
    # hasattr() on a pydantic model is slow for absent names: ask the class.
    for field in _OPTIONAL_FIELDS:
        if field in fields:
            payload[field] = getattr(request, field)
    return payload


def _pairs(mapping: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((str(k), v) for k, v in mapping.items()))


def _method_pairs(method: Any) -> tuple[tuple[str, Any], ...]:
    # method_summary's dict, as request_digest sorts it.
    if method.kind == "card":
        return (
            ("exp", f"{method.exp_month:02d}/{method.exp_year}"),
            ("kind", "card"),
            ("last4", method.last4),
        )
    if method.kind == "stored":
        return (("kind", "stored"), ("provider", method.provider), ("token", method.token))
    return (("email", getattr(method, "email", None)), ("kind", method.kind))


def fingerprint(request: OperationRequest) -> str:
    """The request digest the ledger stores beside the idempotency key.

    ``request_digest(fingerprint_payload(request))``, byte for byte (digests
    already in a ledger must still match a retry), without building and
    sorting the payload on every operation: the items are appended in the
    sorted order of their keys.
    """
    fields = field_names(type(request))
    items: list[tuple[str, Any]] = []
    amount = request.amount if "amount" in fields else None  # type: ignore[attr-defined]
    if amount is not None:
        items.append(("amount", (str(amount.amount), amount.currency)))
    if "capture" in fields:
        items.append(("capture", request.capture))  # type: ignore[attr-defined]
    paying = request if isinstance(request, (PaymentRequest, StoreRequest)) else None
    if paying is not None:
        customer = paying.customer
        items.append(("customer", customer.id if customer else None))
    if "description" in fields:
        items.append(("description", request.description))  # type: ignore[attr-defined]
    if "final" in fields:
        items.append(("final", request.final))  # type: ignore[attr-defined]
    items.append(("metadata", _pairs(request.metadata)))
    if paying is not None:
        items.append(("method", _method_pairs(paying.method)))
    if "off_session" in fields:
        items.append(("off_session", request.off_session))  # type: ignore[attr-defined]
    items.append(("operation", request.operation.value))
    if "params" in fields:
        items.append(("params", _pairs(request.params)))  # type: ignore[attr-defined]
    items.append(("provider", request.provider))
    if "reason" in fields:
        items.append(("reason", request.reason))  # type: ignore[attr-defined]
    if request.operation not in CREATING_OPERATIONS:
        items.append(("transaction_id", request.transaction_id))
    return digest_items(items)

"""What makes two requests "the same request" for idempotency.

Secrets are never part of it: a card is identified by kind, last 4 digits
and expiry (a hash of a PAN can be brute-forced, so none is taken).
"""

from __future__ import annotations

from typing import Any

from paygate.ledger.records import request_digest
from paygate.operations import Operation, OperationRequest, PaymentRequest, StoreRequest

#: Operations that create a transaction: its id is new on every call, so it
#: is left out of the digest.
_CREATING = {
    Operation.AUTHORIZE,
    Operation.PURCHASE,
    Operation.VERIFY,
    Operation.CHARGE_RECURRING,
    Operation.STORE_PAYMENT_METHOD,
}


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


def fingerprint(request: OperationRequest) -> str:
    """The request digest the ledger stores beside the idempotency key."""
    fields = type(request).model_fields
    payload: dict[str, Any] = {
        "operation": request.operation.value,
        "provider": request.provider,
        "metadata": request.metadata,
    }
    if request.operation not in _CREATING:
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
    return request_digest(payload)

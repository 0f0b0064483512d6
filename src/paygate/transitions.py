"""How one operation's outcome moves a transaction: a pure function.

The ledger applies it to the transaction *as currently stored*, under its
lock, so two concurrent refunds each add their own amount instead of one
overwriting the other.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from paygate.errors import PaygateError
from paygate.models import (
    Capture,
    ErrorInfo,
    Refund,
    Transaction,
    TransactionStatus,
    construct,
)
from paygate.money import Money
from paygate.operations import (
    CaptureRequest,
    ConfirmRequest,
    Operation,
    OperationRequest,
    PaymentRequest,
    ProviderResult,
    RefundRequest,
)

S = TransactionStatus

#: Forward order of settled states: an outcome never moves a transaction back.
_RANK: dict[TransactionStatus, int] = {
    S.UNKNOWN: 0,
    S.REQUIRES_ACTION: 1,
    S.FAILED: 2,
    S.AUTHORIZED: 2,
    S.PARTIALLY_CAPTURED: 3,
    S.CAPTURED: 4,
    S.VOIDED: 4,
    S.PARTIALLY_REFUNDED: 5,
    S.REFUNDED: 6,
}


def status_rank(status: TransactionStatus) -> int:
    return _RANK[status]


def error_info(exc: PaygateError) -> ErrorInfo:
    return ErrorInfo(code=exc.code.value, message=exc.message, param=exc.param)


def method_display(method: Any) -> str | None:
    """How a payment method is shown (``Visa •••• 4242``): never more."""
    if method is None:
        return None
    if method.kind == "card":
        return str(method.display())
    if method.kind == "stored":
        brand = (method.brand or method.method_kind).title()
        return f"{brand} •••• {method.last4}" if method.last4 else f"{brand} (stored)"
    return "PayPal"


#: Money is immutable: one zero per currency serves every new transaction.
#: Keys are currencies a Money already accepted, so the table stays small.
_ZEROS: dict[str, Money] = {}


def _zero(currency: str) -> Money:
    zero = _ZEROS.get(currency)
    if zero is None:
        zero = _ZEROS[currency] = Money.zero(currency)
    return zero


def new_transaction(
    request: PaymentRequest,
    result: ProviderResult | None,
    error: PaygateError | None,
    unknown: bool,
    now: datetime,
) -> Transaction:
    zero = _zero(request.amount.currency)
    if unknown or result is None:
        status = S.UNKNOWN if unknown else S.FAILED
        captured = zero
    else:
        status = result.status
        captured = (result.amount or request.amount) if status is S.CAPTURED else zero
    captures: tuple[Capture, ...] = ()
    if captured:
        captures = (
            construct(
                Capture,
                id=f"{request.transaction_id}_c1",
                amount=captured,
                provider_reference=result.operation_reference if result else None,
                created_at=now,
            ),
        )
    err = result.error if result is not None else (error_info(error) if error else None)
    # Every value here is already validated (the request's, the provider
    # result's, or computed): construct without validating them again.
    return construct(
        Transaction,
        id=request.transaction_id,
        provider=request.provider,
        provider_reference=result.provider_reference if result else None,
        status=status,
        amount=request.amount,
        captured=captured,
        refunded=zero,
        captures=captures,
        next_action=result.next_action if result else None,
        error=err,
        payment_method=method_display(request.method),
        customer_id=request.customer.id if request.customer else None,
        description=request.description,
        metadata=dict(request.metadata),
        provider_data=dict(result.provider_data) if result else {},
        refunds=(),
        created_at=now,
        updated_at=now,
    )


def _gone_further(current: Transaction, result: ProviderResult | None) -> bool:
    """Has a payment a webhook moved meanwhile (status only, never money) gone
    further than the provider's answer to the operation that created it?

    Otherwise that answer is the truth: a late ``payment.authorized`` event
    does not hide the capture the provider made.
    """
    return (
        result is None
        or result.status is S.FAILED
        or bool(current.captured)
        or status_rank(result.status) <= status_rank(current.status)
    )


def apply_outcome(
    current: Transaction | None,
    request: OperationRequest,
    result: ProviderResult | None,
    error: PaygateError | None,
    *,
    unknown: bool,
    now: datetime,
) -> Transaction | None:
    """The transaction after ``request`` ended with ``result`` (or ``error``).

    ``unknown`` means the request may have reached the provider and no answer
    came back: nothing moves except the status of a brand-new payment. A
    provider answer whose status is ``unknown`` (not settled yet: Stripe's
    ``processing``) is the same, except that its provider reference is kept
    so that ``reconcile`` can ask about it.
    """
    if result is not None and result.status is S.UNKNOWN:
        tx = apply_outcome(current, request, None, error, unknown=True, now=now)
        ref = result.provider_reference
        if tx is not None and ref and not tx.provider_reference:
            tx = tx.model_copy(update={"provider_reference": ref, "updated_at": now})
        return tx
    op = request.operation
    if isinstance(request, PaymentRequest) and op in (
        Operation.AUTHORIZE,
        Operation.PURCHASE,
        Operation.VERIFY,
        Operation.CHARGE_RECURRING,
    ):
        if current is None:
            return new_transaction(request, result, error, unknown, now)
        if unknown:
            return current
        # A payment whose answer was lost (or that failed before it was sent),
        # now settled by a retry with the same key or by reconcile. Replays of
        # settled outcomes never get here: the facade answers them from the ledger.
        if current.status not in (S.UNKNOWN, S.FAILED) and _gone_further(current, result):
            return current
        if result is None:
            err = error_info(error) if error else current.error
            return current.model_copy(update={"status": S.FAILED, "error": err, "updated_at": now})
        captured = (
            (result.amount or current.amount) if result.status is S.CAPTURED else current.captured
        )
        return current.model_copy(
            update={
                "status": result.status,
                "provider_reference": result.provider_reference or current.provider_reference,
                "captured": captured,
                "captures": (
                    (Capture(id=f"{current.id}_c1", amount=captured, created_at=now),)
                    if captured and not current.captures
                    else current.captures
                ),
                "next_action": result.next_action,
                "error": result.error,
                "provider_data": {**current.provider_data, **result.provider_data},
                "updated_at": now,
            }
        )
    if current is None:
        return None
    if unknown or result is None:
        if error is None or unknown:
            return current
        return current.model_copy(update={"error": error_info(error), "updated_at": now})
    updates: dict[str, Any] = {"updated_at": now}
    if result.provider_data:
        updates["provider_data"] = {**current.provider_data, **result.provider_data}
    if result.provider_reference and not current.provider_reference:
        updates["provider_reference"] = result.provider_reference
    if result.status is S.FAILED:
        updates["error"] = result.error
        if op is Operation.CONFIRM:
            updates["status"] = S.FAILED
            updates["next_action"] = None
        return current.model_copy(update=updates)
    updates["error"] = None
    if isinstance(request, CaptureRequest):
        amount = result.amount or request.amount
        captured = current.captured + amount
        n = len(current.captures) + 1
        updates["captured"] = captured
        updates["captures"] = (
            *current.captures,
            Capture(
                id=f"{current.id}_c{n}",
                amount=amount,
                provider_reference=result.operation_reference,
                created_at=now,
            ),
        )
        updates["status"] = S.CAPTURED if captured >= current.amount else S.PARTIALLY_CAPTURED
        if request.final or captured >= current.amount:
            updates["provider_data"] = {
                **updates.get("provider_data", current.provider_data),
                "capture_closed": "1",
            }
    elif isinstance(request, RefundRequest):
        amount = result.amount or request.amount
        refunded = current.refunded + amount
        n = len(current.refunds) + 1
        updates["refunded"] = refunded
        updates["refunds"] = (
            *current.refunds,
            Refund(
                id=f"{current.id}_r{n}",
                amount=amount,
                provider_reference=result.operation_reference,
                reason=request.reason,
                created_at=now,
            ),
        )
        updates["status"] = S.REFUNDED if refunded >= current.captured else S.PARTIALLY_REFUNDED
    elif op is Operation.VOID:
        if current.status in (S.AUTHORIZED, S.REQUIRES_ACTION, S.UNKNOWN):
            updates["status"] = S.VOIDED
        updates["next_action"] = None
        updates["provider_data"] = {
            **updates.get("provider_data", current.provider_data),
            "capture_closed": "1",
        }
    elif isinstance(request, ConfirmRequest):
        updates["status"] = result.status
        updates["next_action"] = result.next_action
        if result.status is S.CAPTURED and not current.captured:
            amount = result.amount or current.amount
            updates["captured"] = amount
            updates["captures"] = (
                Capture(
                    id=f"{current.id}_c1",
                    amount=amount,
                    provider_reference=result.operation_reference,
                    created_at=now,
                ),
            )
    return current.model_copy(update=updates)


__all__ = ["apply_outcome", "error_info", "method_display", "new_transaction", "status_rank"]

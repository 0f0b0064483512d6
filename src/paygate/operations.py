"""What the core hands to a provider hook, and what a provider hands back.

The facade validates the host's input and builds these requests; a provider
plugin reads them and returns a :class:`ProviderResult`. Providers never see
the host's raw arguments and never build a :class:`~paygate.Transaction`: the
core owns ids, bookkeeping and the ledger.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from paygate.models import (
    Customer,
    ErrorInfo,
    FrozenModel,
    NextAction,
    PaymentMethod,
    StoredPaymentMethod,
    TransactionStatus,
    utcnow,
)
from paygate.money import Money


class Operation(StrEnum):
    AUTHORIZE = "authorize"
    PURCHASE = "purchase"
    CAPTURE = "capture"
    VOID = "void"
    REFUND = "refund"
    CONFIRM = "confirm"
    VERIFY = "verify"
    CHARGE_RECURRING = "charge_recurring"
    STORE_PAYMENT_METHOD = "store_payment_method"
    FETCH_TRANSACTION = "fetch_transaction"
    PARSE_WEBHOOK = "parse_webhook"


#: Operations that create a transaction (under a new ``transaction_id``).
CREATING_OPERATIONS = frozenset(
    {
        Operation.AUTHORIZE,
        Operation.PURCHASE,
        Operation.VERIFY,
        Operation.CHARGE_RECURRING,
        Operation.STORE_PAYMENT_METHOD,
    }
)


class OperationRequest(FrozenModel):
    """Fields every operation request carries.

    :ivar transaction_id: the core's id (``txn_...``); providers send it as
        metadata so a transaction can be found again when the answer was lost.
    :ivar idempotency_key: send it to the provider as its idempotency header.
    :ivar provider_reference: the provider's id of the payment, once known.
    :ivar provider_data: what the provider asked the core to keep for it on
        earlier operations of this transaction (PayPal capture ids...).
    """

    operation: Operation
    provider: str
    transaction_id: str
    idempotency_key: str
    provider_reference: str | None = None
    provider_data: dict[str, str] = Field(default_factory=dict)
    metadata: dict[str, str] = Field(default_factory=dict)
    config: dict[str, Any] = Field(default_factory=dict)


class PaymentRequest(OperationRequest):
    """``paygate_authorize`` (``capture=False``), purchase (``capture=True``)
    and ``paygate_charge_recurring`` (``off_session=True``, stored method)."""

    amount: Money
    method: PaymentMethod
    customer: Customer | None = None
    capture: bool = False
    off_session: bool = False
    description: str | None = None
    return_url: str | None = None


class CaptureRequest(OperationRequest):
    """Capture ``amount`` of an authorization.

    :ivar authorized: the authorized amount; :ivar captured: captured so far.
    :ivar final: no further capture will follow (release the rest).
    """

    amount: Money
    authorized: Money
    captured: Money
    final: bool = True


class VoidRequest(OperationRequest):
    amount: Money


class RefundRequest(OperationRequest):
    """Refund ``amount``; ``captured`` and ``refunded`` are the totals so far."""

    amount: Money
    captured: Money
    refunded: Money
    reason: str | None = None


class ConfirmRequest(OperationRequest):
    """Finish a ``requires_action`` transaction; ``params`` come from the return URL.

    ``amount`` is ``None`` when the payer approved saving a payment method
    (``Payments.confirm_payment_method``) rather than a payment; the result
    then carries the ``stored_method``.
    """

    amount: Money | None
    capture: bool = False
    params: dict[str, str] = Field(default_factory=dict)


class StoreRequest(OperationRequest):
    method: PaymentMethod
    customer: Customer | None = None


class FetchRequest(OperationRequest):
    """Ask the provider for its view of a transaction, for reconciling.

    ``provider_reference`` may be ``None`` when the answer to the first call
    was lost: find it by ``idempotency_key`` or ``transaction_id`` metadata.
    ``of_operation`` says which operation's outcome is wanted.
    """

    of_operation: Operation
    amount: Money | None = None


class WebhookRequest(FrozenModel):
    provider: str
    headers: dict[str, str]
    body: bytes
    received_at: datetime = Field(default_factory=utcnow)
    config: dict[str, Any] = Field(default_factory=dict)


class ProviderResult(FrozenModel):
    """A provider's answer to one operation.

    A decline is a result with ``status=failed`` and an ``error`` whose
    ``code`` is a standard :class:`~paygate.errors.ErrorCode`; network trouble
    is raised as :class:`~paygate.errors.ProviderUnavailable` instead.

    :ivar amount: the amount this operation moved (captured, refunded...),
        when it differs from what was asked.
    :ivar operation_reference: the provider's id of this operation (a refund
        or capture id), when it has its own.
    :ivar stored_method: for ``paygate_store_payment_method``.
    :ivar raw: the provider's response, for the ledger's transcript (the core
        scrubs it before storing).
    """

    status: TransactionStatus
    provider_reference: str | None = None
    operation_reference: str | None = None
    amount: Money | None = None
    next_action: NextAction | None = None
    error: ErrorInfo | None = None
    provider_data: dict[str, str] = Field(default_factory=dict)
    stored_method: StoredPaymentMethod | None = None
    raw: dict[str, Any] = Field(default_factory=dict)


__all__ = [
    "CREATING_OPERATIONS",
    "CaptureRequest",
    "ConfirmRequest",
    "FetchRequest",
    "Operation",
    "OperationRequest",
    "PaymentRequest",
    "ProviderResult",
    "RefundRequest",
    "StoreRequest",
    "VoidRequest",
    "WebhookRequest",
]


class ValidationContext(FrozenModel):
    """What ``paygate_validate_payment_method`` may look at.

    ``provider`` is set when the host named one (routing comes after
    validation otherwise). ``facts`` lets a validator share what it learned (``facts["brand"]``);
    the core copies a detected brand onto the card.
    """

    operation: Operation
    amount: Money | None = None
    customer: Customer | None = None
    provider: str | None = None
    now: datetime = Field(default_factory=utcnow)
    config: dict[str, Any] = Field(default_factory=dict)
    facts: dict[str, Any] = Field(default_factory=dict)


class RoutingRequest(FrozenModel):
    """What ``paygate_select_provider`` decides on."""

    operation: Operation
    amount: Money | None = None
    method_kind: str = "card"
    card_brand: str | None = None
    customer: Customer | None = None
    config: dict[str, Any] = Field(default_factory=dict)

"""PayPal's error answers -> paygate's standard codes: one table, tested row by row.

PayPal answers errors as ``{"name": ..., "message": ..., "debug_id": ...,
"details": [{"issue": ..., "description": ...}]}``. The ``issue`` of the first
detail is the precise reason; ``name`` is the coarse one. We look the issue up
first, then the name, then fall back on the HTTP status.

How a code becomes an outcome (:func:`outcome_for`): decline codes (the
payer's or PayPal's refusal) become a ``failed`` result the core turns into
``CardDeclined``; everything else is raised as the matching paygate error.
"""

from __future__ import annotations

from typing import Any, Final

from paygate.errors import (
    DECLINE_CODES,
    AuthenticationError,
    ConfigurationError,
    ErrorCode,
    IdempotencyConflict,
    InvalidRequest,
    InvalidState,
    NotFound,
    OperationInProgress,
    PaygateError,
    ProviderUnavailable,
    UnsupportedFeature,
)

E = ErrorCode

#: ``details[].issue`` -> standard code. Issue names from PayPal's published
#: OpenAPI documents (checkout_orders_v2, payments_payment_v2, vault_payment_tokens_v3).
ISSUE_CODES: Final[dict[str, ErrorCode]] = {
    # the payer's funding was refused: a decline
    "INSTRUMENT_DECLINED": E.CARD_DECLINED,
    "PAYER_CANNOT_PAY": E.CARD_DECLINED,
    "TRANSACTION_REFUSED": E.CARD_DECLINED,
    "PAYER_ACCOUNT_LOCKED_OR_CLOSED": E.CARD_DECLINED,
    "PAYER_ACCOUNT_RESTRICTED": E.CARD_DECLINED,
    "PAYMENT_SOURCE_DECLINED_BY_PROCESSOR": E.CARD_DECLINED,
    "PAYMENT_SOURCE_CANNOT_BE_USED": E.CARD_DECLINED,
    "AUTHORIZATION_DENIED": E.CARD_DECLINED,
    "TRANSACTION_LIMIT_EXCEEDED": E.CARD_DECLINED,
    "MAX_NUMBER_OF_PAYMENT_ATTEMPTS_EXCEEDED": E.PROCESSING_ERROR,
    "COMPLIANCE_VIOLATION": E.FRAUDULENT,
    "PAYEE_BLOCKED_TRANSACTION": E.FRAUDULENT,
    "TRANSACTION_BLOCKED_BY_PAYEE": E.FRAUDULENT,
    "UNAUTHORIZED_TRANSACTION": E.FRAUDULENT,
    # the payer has to come back to PayPal
    "PAYER_ACTION_REQUIRED": E.PAYER_ACTION_REQUIRED,
    "REDIRECT_PAYER_FOR_ALTERNATE_FUNDING": E.PAYER_ACTION_REQUIRED,
    "ORDER_NOT_APPROVED": E.PAYER_ACTION_REQUIRED,
    # the payment is not in a state that allows the operation
    "AUTHORIZATION_VOIDED": E.INVALID_STATE,
    "AUTHORIZATION_EXPIRED": E.INVALID_STATE,
    "AUTHORIZATION_ALREADY_CAPTURED": E.INVALID_STATE,
    "PREVIOUSLY_CAPTURED": E.INVALID_STATE,
    "PREVIOUSLY_VOIDED": E.INVALID_STATE,
    "CANNOT_BE_VOIDED": E.INVALID_STATE,
    "ORDER_ALREADY_CAPTURED": E.INVALID_STATE,
    "ORDER_ALREADY_AUTHORIZED": E.INVALID_STATE,
    "ORDER_ALREADY_COMPLETED": E.INVALID_STATE,
    "ORDER_COMPLETED_OR_VOIDED": E.INVALID_STATE,
    "ORDER_EXPIRED": E.INVALID_STATE,
    "CAPTURE_FULLY_REFUNDED": E.INVALID_STATE,
    "REFUND_TIME_LIMIT_EXCEEDED": E.INVALID_STATE,
    "REFUND_NOT_PERMITTED_DUE_TO_CHARGEBACK": E.INVALID_STATE,
    "TRANSACTION_DISPUTED": E.INVALID_STATE,
    "PENDING_CAPTURE": E.INVALID_STATE,
    "REFUND_NOT_ALLOWED": E.INVALID_STATE,
    "REFUND_IS_RESTRICTED": E.INVALID_STATE,
    "MAX_CAPTURE_COUNT_EXCEEDED": E.INVALID_STATE,
    "MAX_AUTHORIZATION_COUNT_EXCEEDED": E.INVALID_STATE,
    "MAX_NUMBER_OF_REFUNDS_EXCEEDED": E.INVALID_STATE,
    # amounts and currencies PayPal refused
    "MAX_CAPTURE_AMOUNT_EXCEEDED": E.INVALID_AMOUNT,
    "REFUND_AMOUNT_EXCEEDED": E.INVALID_AMOUNT,
    "REFUND_AMOUNT_TOO_LOW": E.INVALID_AMOUNT,
    "PARTIAL_REFUND_NOT_ALLOWED": E.INVALID_AMOUNT,
    "AUTHORIZATION_AMOUNT_EXCEEDED": E.INVALID_AMOUNT,
    "AMOUNT_MISMATCH": E.INVALID_AMOUNT,
    "CANNOT_BE_ZERO_OR_NEGATIVE": E.INVALID_AMOUNT,
    "CANNOT_BE_NEGATIVE": E.INVALID_AMOUNT,
    "DECIMAL_PRECISION": E.INVALID_AMOUNT,
    "DECIMALS_NOT_SUPPORTED": E.INVALID_AMOUNT,
    "CURRENCY_MISMATCH": E.INVALID_CURRENCY,
    "AUTH_CURRENCY_MISMATCH": E.INVALID_CURRENCY,
    "AUTH_CAPTURE_CURRENCY_MISMATCH": E.INVALID_CURRENCY,
    "REFUND_CAPTURE_CURRENCY_MISMATCH": E.INVALID_CURRENCY,
    "INVALID_CURRENCY_CODE": E.INVALID_CURRENCY,
    "CURRENCY_NOT_SUPPORTED_FOR_COUNTRY": E.INVALID_CURRENCY,
    # idempotency: same PayPal-Request-Id / invoice id used differently
    "DUPLICATE_INVOICE_ID": E.IDEMPOTENCY_CONFLICT,
    "PREVIOUS_REQUEST_IN_PROGRESS": E.IDEMPOTENCY_IN_PROGRESS,
    "ORDER_COMPLETION_IN_PROGRESS": E.IDEMPOTENCY_IN_PROGRESS,
    # what the merchant account may not do: configuration
    "REAUTHORIZATION_NOT_SUPPORTED": E.UNSUPPORTED_FEATURE,
    "AUTH_CAPTURE_NOT_ENABLED": E.CONFIG_ERROR,
    "NOT_ENABLED_TO_VAULT_PAYMENT_SOURCE": E.CONFIG_ERROR,
    "PAYEE_ACCOUNT_RESTRICTED": E.CONFIG_ERROR,
    "PAYEE_ACCOUNT_LOCKED_OR_CLOSED": E.CONFIG_ERROR,
    "PAYEE_ACCOUNT_INVALID": E.CONFIG_ERROR,
    "PERMISSION_DENIED": E.CONFIG_ERROR,
    # unknown ids
    "INVALID_RESOURCE_ID": E.NOT_FOUND,
    "TOKEN_ID_NOT_FOUND": E.NOT_FOUND,
    "TOKEN_EXPIRED": E.INVALID_STATE,
}

#: Top-level ``name`` -> standard code, when no issue matched.
NAME_CODES: Final[dict[str, ErrorCode]] = {
    "AUTHENTICATION_FAILURE": E.AUTHENTICATION_ERROR,
    "invalid_client": E.AUTHENTICATION_ERROR,  # the OAuth endpoint's own error shape
    "NOT_AUTHORIZED": E.CONFIG_ERROR,
    "PERMISSION_DENIED": E.CONFIG_ERROR,
    "RESOURCE_NOT_FOUND": E.NOT_FOUND,
    "RESOURCE_CONFLICT": E.IDEMPOTENCY_CONFLICT,
    "RATE_LIMIT_REACHED": E.RATE_LIMITED,
    "INTERNAL_SERVER_ERROR": E.PROVIDER_UNAVAILABLE,
    "SERVICE_UNAVAILABLE": E.PROVIDER_UNAVAILABLE,
    "INVALID_REQUEST": E.INVALID_REQUEST,
    "UNPROCESSABLE_ENTITY": E.INVALID_REQUEST,
    "UNSUPPORTED_MEDIA_TYPE": E.INVALID_REQUEST,
}

#: HTTP status -> standard code, when the body said nothing we know.
STATUS_CODES: Final[dict[int, ErrorCode]] = {
    400: E.INVALID_REQUEST,
    401: E.AUTHENTICATION_ERROR,
    403: E.CONFIG_ERROR,
    404: E.NOT_FOUND,
    409: E.IDEMPOTENCY_CONFLICT,
    422: E.INVALID_REQUEST,
    429: E.RATE_LIMITED,
}


def first_issue(body: dict[str, Any]) -> str | None:
    details = body.get("details")
    if isinstance(details, list):
        for detail in details:
            if isinstance(detail, dict) and isinstance(detail.get("issue"), str):
                return str(detail["issue"])
    return None


def classify(status: int, body: dict[str, Any]) -> tuple[ErrorCode, str | None]:
    """The standard code of a PayPal error answer and the PayPal reason it came from.

    5xx is always ``provider_unavailable``, whatever the body says.
    """
    if status >= 500:
        return E.PROVIDER_UNAVAILABLE, body.get("name") if isinstance(
            body.get("name"), str
        ) else None
    issue = first_issue(body)
    if issue is not None and issue in ISSUE_CODES:
        return ISSUE_CODES[issue], issue
    name = body.get("name") or body.get("error")
    if isinstance(name, str) and name in NAME_CODES:
        return NAME_CODES[name], issue or name
    return STATUS_CODES.get(status, E.INVALID_REQUEST), issue or (
        name if isinstance(name, str) else None
    )


def describe(status: int, body: dict[str, Any], reason: str | None) -> str:
    """A message for the host: PayPal's reason and description, and its debug id.

    Built from PayPal's documented fields only; PayPal does not echo
    credentials or payer data in error bodies, and the core scrubs again.
    """
    detail = ""
    details = body.get("details")
    if isinstance(details, list) and details and isinstance(details[0], dict):
        detail = str(details[0].get("description") or "")
    message = detail or str(body.get("message") or body.get("error_description") or "")
    parts = [f"PayPal {reason or 'error'} (HTTP {status})"]
    if message:
        parts.append(message[:300])
    if body.get("debug_id"):
        parts.append(f"debug_id {str(body['debug_id'])[:64]}")
    return ": ".join(parts[:2]) + (f" [{parts[2]}]" if len(parts) > 2 else "")


def exception_for(
    code: ErrorCode, message: str, *, status: int | None, request_sent: bool = True
) -> PaygateError:
    """The paygate exception to raise for a non-decline code."""
    if code is E.RATE_LIMITED:
        # A 429 is a refusal before acting (paygate's one rule for 429): the
        # host may retry with the same key; nothing is left for reconcile.
        return ProviderUnavailable(
            message, code=code, request_sent=False, status_code=status, retry_safe=True
        )
    if code is E.PROVIDER_UNAVAILABLE:
        return ProviderUnavailable(
            message, code=code, request_sent=request_sent, status_code=status, retry_safe=True
        )
    if code is E.AUTHENTICATION_ERROR:
        return AuthenticationError(message)
    if code is E.CONFIG_ERROR:
        return ConfigurationError(message)
    if code is E.INVALID_STATE:
        return InvalidState(message)
    if code is E.NOT_FOUND:
        return NotFound(message)
    if code is E.IDEMPOTENCY_IN_PROGRESS:
        return OperationInProgress(message)
    if code is E.IDEMPOTENCY_CONFLICT:
        return IdempotencyConflict(message)
    if code is E.UNSUPPORTED_FEATURE:
        return UnsupportedFeature(message)
    param = (
        "amount" if code is E.INVALID_AMOUNT else "currency" if code is E.INVALID_CURRENCY else None
    )
    return InvalidRequest(message, code=code, param=param)


def is_decline(code: ErrorCode) -> bool:
    return code in DECLINE_CODES

"""The one table from Stripe's errors to paygate's.

Three lookups, most specific first:

1. :data:`DECLINE_CODES`: a card error's ``decline_code`` (the issuer's reason);
2. :data:`ERROR_CODES`: the error's ``code`` (``expired_card``,
   ``resource_missing``, ``idempotency_key_in_use``...);
3. :data:`ERROR_CLASSES`: the SDK's exception class (looked up along its MRO).

Card errors are declines: the plugin returns them as a failed
:class:`~paygate.operations.ProviderResult` (the core raises
:class:`~paygate.errors.CardDeclined`). Everything else is raised as a
:class:`~paygate.errors.PaygateError` subclass.

The tables name Stripe's classes by their name, so this module never imports
``stripe`` (``import paygate`` must stay fast).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from paygate.errors import (
    AuthenticationError,
    CardDeclined,
    ConfigurationError,
    ErrorCode,
    IdempotencyConflict,
    InvalidRequest,
    InvalidState,
    NotFound,
    OperationInProgress,
    PaygateError,
    ProviderUnavailable,
    SignatureVerificationError,
    UnsupportedFeature,
)
from paygate.models import ErrorInfo


@dataclass(frozen=True)
class Rule:
    """How one Stripe error becomes a paygate error.

    :ivar error: the paygate class to raise (:class:`CardDeclined` means
        "return a failed result", not raise).
    :ivar request_sent: for :class:`ProviderUnavailable`: may the request have
        changed something at Stripe? (``None``: depends on the cause.)
    :ivar retry_safe: retrying with the same idempotency key is safe.
    """

    error: type[PaygateError]
    code: ErrorCode
    request_sent: bool | None = None
    retry_safe: bool | None = None


_E = ErrorCode

#: The issuer's reasons (``decline_code``), from docs.stripe.com/declines/codes.
DECLINE_CODES: dict[str, ErrorCode] = {
    "approve_with_id": _E.CALL_ISSUER,
    "authentication_required": _E.AUTHENTICATION_REQUIRED,
    "call_issuer": _E.CALL_ISSUER,
    "card_not_supported": _E.CARD_DECLINED,
    "card_velocity_exceeded": _E.CARD_DECLINED,
    "currency_not_supported": _E.CARD_DECLINED,
    "do_not_honor": _E.CARD_DECLINED,
    "do_not_try_again": _E.CARD_DECLINED,
    "duplicate_transaction": _E.CARD_DECLINED,
    "expired_card": _E.EXPIRED_CARD,
    "fraudulent": _E.FRAUDULENT,
    "generic_decline": _E.CARD_DECLINED,
    "incorrect_number": _E.INCORRECT_NUMBER,
    "incorrect_cvc": _E.INCORRECT_CVC,
    "incorrect_pin": _E.INCORRECT_PIN,
    "incorrect_zip": _E.INCORRECT_ZIP,
    "insufficient_funds": _E.INSUFFICIENT_FUNDS,
    "invalid_account": _E.CARD_DECLINED,
    "invalid_amount": _E.CARD_DECLINED,
    "invalid_cvc": _E.INVALID_CVC,
    "invalid_expiry_month": _E.INVALID_EXPIRY_DATE,
    "invalid_expiry_year": _E.INVALID_EXPIRY_DATE,
    "invalid_number": _E.INVALID_NUMBER,
    "invalid_pin": _E.INCORRECT_PIN,
    "issuer_not_available": _E.PROCESSING_ERROR,
    "lost_card": _E.PICKUP_CARD,
    "merchant_blacklist": _E.CARD_DECLINED,
    "new_account_information_available": _E.CALL_ISSUER,
    "no_action_taken": _E.CALL_ISSUER,
    "not_permitted": _E.CARD_DECLINED,
    "offline_pin_required": _E.CARD_DECLINED,
    "online_or_offline_pin_required": _E.CARD_DECLINED,
    "pickup_card": _E.PICKUP_CARD,
    "pin_try_exceeded": _E.INCORRECT_PIN,
    "processing_error": _E.PROCESSING_ERROR,
    "reenter_transaction": _E.PROCESSING_ERROR,
    "restricted_card": _E.PICKUP_CARD,
    "revocation_of_all_authorizations": _E.CARD_DECLINED,
    "revocation_of_authorization": _E.CARD_DECLINED,
    "security_violation": _E.FRAUDULENT,
    "service_not_allowed": _E.CARD_DECLINED,
    "stolen_card": _E.PICKUP_CARD,
    "stop_payment_order": _E.CARD_DECLINED,
    "testmode_decline": _E.TEST_MODE_LIVE_CARD,
    "transaction_not_allowed": _E.CARD_DECLINED,
    "try_again_later": _E.PROCESSING_ERROR,
    "withdrawal_count_limit_exceeded": _E.INSUFFICIENT_FUNDS,
}

#: Error ``code`` values (docs.stripe.com/error-codes) that decide the outcome.
#: Card codes are declines; the others name the paygate error to raise.
ERROR_CODES: dict[str, Rule] = {
    # card errors (declines)
    "card_declined": Rule(CardDeclined, _E.CARD_DECLINED),
    "card_decline_rate_limit_exceeded": Rule(CardDeclined, _E.CARD_DECLINED),
    "expired_card": Rule(CardDeclined, _E.EXPIRED_CARD),
    "incorrect_cvc": Rule(CardDeclined, _E.INCORRECT_CVC),
    "incorrect_number": Rule(CardDeclined, _E.INCORRECT_NUMBER),
    "incorrect_zip": Rule(CardDeclined, _E.INCORRECT_ZIP),
    "incorrect_address": Rule(CardDeclined, _E.INCORRECT_ADDRESS),
    "invalid_cvc": Rule(CardDeclined, _E.INVALID_CVC),
    "invalid_expiry_month": Rule(CardDeclined, _E.INVALID_EXPIRY_DATE),
    "invalid_expiry_year": Rule(CardDeclined, _E.INVALID_EXPIRY_DATE),
    "invalid_number": Rule(CardDeclined, _E.INVALID_NUMBER),
    "processing_error": Rule(CardDeclined, _E.PROCESSING_ERROR),
    "authentication_required": Rule(CardDeclined, _E.AUTHENTICATION_REQUIRED),
    "payment_intent_authentication_failure": Rule(CardDeclined, _E.AUTHENTICATION_REQUIRED),
    "payment_method_provider_decline": Rule(CardDeclined, _E.CARD_DECLINED),
    "payment_intent_payment_attempt_failed": Rule(CardDeclined, _E.CARD_DECLINED),
    # request and state
    "resource_missing": Rule(NotFound, _E.NOT_FOUND),
    "payment_intent_unexpected_state": Rule(InvalidState, _E.INVALID_STATE),
    "payment_intent_action_required": Rule(InvalidState, _E.INVALID_STATE),
    "charge_already_captured": Rule(InvalidState, _E.INVALID_STATE),
    "charge_already_refunded": Rule(InvalidState, _E.INVALID_STATE),
    "charge_disputed": Rule(InvalidState, _E.INVALID_STATE),
    "charge_expired_for_capture": Rule(InvalidState, _E.INVALID_STATE),
    "balance_insufficient": Rule(InvalidState, _E.INVALID_STATE),
    "amount_too_small": Rule(InvalidRequest, _E.INVALID_AMOUNT),
    "amount_too_large": Rule(InvalidRequest, _E.INVALID_AMOUNT),
    "invalid_charge_amount": Rule(InvalidRequest, _E.INVALID_AMOUNT),
    "parameter_invalid_integer": Rule(InvalidRequest, _E.INVALID_REQUEST),
    "parameter_missing": Rule(InvalidRequest, _E.INVALID_REQUEST),
    "parameter_unknown": Rule(InvalidRequest, _E.INVALID_REQUEST),
    "payment_method_unactivated": Rule(UnsupportedFeature, _E.UNSUPPORTED_FEATURE),
    "payment_method_not_available": Rule(UnsupportedFeature, _E.UNSUPPORTED_FEATURE),
    "country_unsupported": Rule(UnsupportedFeature, _E.UNSUPPORTED_FEATURE),
    "testmode_charges_only": Rule(ConfigurationError, _E.CONFIG_ERROR),
    "api_key_expired": Rule(AuthenticationError, _E.AUTHENTICATION_ERROR),
    "secret_key_required": Rule(AuthenticationError, _E.AUTHENTICATION_ERROR),
    # concurrency
    "idempotency_key_in_use": Rule(
        OperationInProgress, _E.IDEMPOTENCY_IN_PROGRESS, request_sent=True, retry_safe=True
    ),
    "lock_timeout": Rule(
        ProviderUnavailable, _E.PROVIDER_UNAVAILABLE, request_sent=False, retry_safe=True
    ),
    "rate_limit": Rule(ProviderUnavailable, _E.RATE_LIMITED, request_sent=False, retry_safe=True),
}

#: Every exception class of the ``stripe`` SDK (``stripe._error`` and
#: ``stripe.oauth_error``), by name. The lookup walks the MRO, so a class the
#: SDK adds later still lands on ``StripeError``'s row.
ERROR_CLASSES: dict[str, Rule] = {
    "CardError": Rule(CardDeclined, _E.CARD_DECLINED),
    "InvalidRequestError": Rule(InvalidRequest, _E.INVALID_REQUEST),
    "IdempotencyError": Rule(IdempotencyConflict, _E.IDEMPOTENCY_CONFLICT),
    "AuthenticationError": Rule(AuthenticationError, _E.AUTHENTICATION_ERROR),
    "PermissionError": Rule(AuthenticationError, _E.AUTHENTICATION_ERROR),
    # 429: Stripe refused the request before acting on it.
    "RateLimitError": Rule(
        ProviderUnavailable, _E.RATE_LIMITED, request_sent=False, retry_safe=True
    ),
    # 5xx (and 409 without a known code): the outcome is unknown; the
    # idempotency key makes a retry safe.
    "APIError": Rule(
        ProviderUnavailable, _E.PROVIDER_UNAVAILABLE, request_sent=True, retry_safe=True
    ),
    # Network: whether the request left depends on the cause (see request_sent()).
    "APIConnectionError": Rule(ProviderUnavailable, _E.PROVIDER_UNAVAILABLE, retry_safe=True),
    "SignatureVerificationError": Rule(
        SignatureVerificationError, _E.SIGNATURE_VERIFICATION_FAILED
    ),
    # OAuth (Connect); not used by the plugin, mapped for completeness.
    "OAuthError": Rule(AuthenticationError, _E.AUTHENTICATION_ERROR),
    "InvalidClientError": Rule(AuthenticationError, _E.AUTHENTICATION_ERROR),
    "InvalidGrantError": Rule(AuthenticationError, _E.AUTHENTICATION_ERROR),
    "InvalidScopeError": Rule(AuthenticationError, _E.AUTHENTICATION_ERROR),
    "UnsupportedGrantTypeError": Rule(InvalidRequest, _E.INVALID_REQUEST),
    "UnsupportedResponseTypeError": Rule(InvalidRequest, _E.INVALID_REQUEST),
    # v2 API error types; the plugin calls v1 only, mapped for completeness.
    "AlreadyCanceledError": Rule(InvalidState, _E.INVALID_STATE),
    "BlockedByStripeError": Rule(InvalidRequest, _E.INVALID_REQUEST),
    "CannotProceedError": Rule(InvalidState, _E.INVALID_STATE),
    "CapabilityNotEnabledError": Rule(UnsupportedFeature, _E.UNSUPPORTED_FEATURE),
    "ControlledByAlternateResourceError": Rule(InvalidState, _E.INVALID_STATE),
    "FeatureNotEnabledError": Rule(UnsupportedFeature, _E.UNSUPPORTED_FEATURE),
    "FinancialAccountNotOpenError": Rule(InvalidState, _E.INVALID_STATE),
    "FxQuoteNeedsRefreshError": Rule(InvalidState, _E.INVALID_STATE),
    "InsufficientFundsError": Rule(InvalidState, _E.INVALID_STATE),
    "InvalidPaymentMethodError": Rule(InvalidRequest, _E.INVALID_REQUEST),
    "InvalidPayoutMethodError": Rule(InvalidRequest, _E.INVALID_REQUEST),
    "InvalidVaultedCredentialError": Rule(InvalidRequest, _E.INVALID_REQUEST),
    "NotCancelableError": Rule(InvalidState, _E.INVALID_STATE),
    "QuotaExceededError": Rule(
        ProviderUnavailable, _E.RATE_LIMITED, request_sent=False, retry_safe=True
    ),
    "RecipientNotNotifiableError": Rule(InvalidRequest, _E.INVALID_REQUEST),
    "TemporarySessionExpiredError": Rule(InvalidState, _E.INVALID_STATE),
    "VerificationAttemptFailedError": Rule(InvalidState, _E.INVALID_STATE),
    "VerificationExpiredError": Rule(InvalidState, _E.INVALID_STATE),
    "VerificationNotInitiatedError": Rule(InvalidState, _E.INVALID_STATE),
    # Base of CardError and InvalidRequestError; never raised by itself.
    "StripeErrorWithParamCode": Rule(InvalidRequest, _E.INVALID_REQUEST),
    # Anything else: treat as an outage whose outcome is unknown.
    "StripeError": Rule(
        ProviderUnavailable, _E.PROVIDER_UNAVAILABLE, request_sent=True, retry_safe=True
    ),
}

# Secrets that may appear in an SDK message: API keys (Stripe masks most of
# them, not all), webhook secrets, client secrets, and card-number-like runs.
_SECRET_PATTERNS = (
    re.compile(r"\b(?:sk|rk|pk)_(?:test|live)_[A-Za-z0-9*]+"),
    re.compile(r"\bwhsec_[A-Za-z0-9*]+"),
    re.compile(r"\b(pi|seti)_[A-Za-z0-9]+_secret_[A-Za-z0-9]+"),
    re.compile(r"\b(?:\d[ -]?){12,18}\d\b"),
)


def scrub(text: str) -> str:
    """``text`` with API keys, secrets and card-number-like digits masked."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub("[redacted]", text)
    return text


def _error_body(exc: BaseException) -> dict[str, Any]:
    body = getattr(exc, "json_body", None)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return dict(body["error"])
    return {}


def error_code(exc: BaseException) -> str | None:
    """Stripe's ``code`` for an SDK exception (the SDK drops it on some statuses)."""
    code = getattr(exc, "code", None) or _error_body(exc).get("code")
    return str(code) if code else None


def class_rule(exc: BaseException) -> Rule:
    """The :data:`ERROR_CLASSES` row of ``exc``'s class or nearest base."""
    for klass in type(exc).__mro__:
        rule = ERROR_CLASSES.get(klass.__name__)
        if rule is not None:
            return rule
    return ERROR_CLASSES["StripeError"]


def rule_for(exc: BaseException) -> Rule:
    """The rule deciding what ``exc`` becomes: its code first, then its class."""
    by_class = class_rule(exc)
    code = error_code(exc)
    if code in ERROR_CODES:
        by_code = ERROR_CODES[code]
        # A card-flavoured code on a non-card error (e.g. ``invalid_number``
        # from a 400) is still a bad request, not a decline.
        if by_code.error is not CardDeclined or by_class.error is CardDeclined:
            return by_code
    if by_class.error is InvalidRequest and getattr(exc, "http_status", None) == 404:
        # Stripe says ``resource_missing``; servers that only send a 404 mean the same.
        return ERROR_CODES["resource_missing"]
    return by_class


def decline_info(
    code: str | None, decline_code: str | None, message: str | None, param: str | None = None
) -> ErrorInfo:
    """The :class:`ErrorInfo` of a decline, from a card error or ``last_payment_error``."""
    if decline_code and decline_code in DECLINE_CODES:
        standard = DECLINE_CODES[decline_code]
    elif code and code in ERROR_CODES and ERROR_CODES[code].error is CardDeclined:
        standard = ERROR_CODES[code].code
    else:
        standard = ErrorCode.CARD_DECLINED
    return ErrorInfo(
        code=standard.value,
        message=scrub(message or "The card was declined."),
        decline_code=decline_code or code,
        param=param,
    )


def card_error_info(exc: BaseException) -> ErrorInfo:
    body = _error_body(exc)
    return decline_info(
        error_code(exc),
        body.get("decline_code"),
        getattr(exc, "user_message", None) or body.get("message"),
        body.get("param"),
    )


# Causes that prove the request never left this machine.
_NOT_SENT = frozenset(
    {"ConnectTimeout", "NewConnectionError", "NameResolutionError", "SSLError", "ProxyError"}
)


def request_sent(exc: BaseException, *, retries: int) -> bool:
    """May the request behind a network error have reached Stripe?

    Only a failure to connect proves it did not, and only when the SDK made
    a single attempt (an earlier, retried attempt may have reached Stripe).
    """
    if retries > 0:
        return True
    seen: set[int] = set()
    pending: list[object] = [exc.__cause__, exc.__context__]
    while pending:
        item = pending.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        if any(k.__name__ in _NOT_SENT for k in type(item).__mro__):
            return False
        if isinstance(item, BaseException):
            pending.extend([item.__cause__, item.__context__, *item.args])
        reason = getattr(item, "reason", None)
        if reason is not None:
            pending.append(reason)
    return True


def to_paygate_error(exc: BaseException, *, retries: int = 0) -> PaygateError:
    """The paygate error to raise for a non-card Stripe error."""
    rule = rule_for(exc)
    status = getattr(exc, "http_status", None)
    raw_message = getattr(exc, "user_message", None) or _error_body(exc).get("message")
    what = type(exc).__name__
    message = scrub(f"Stripe {what}: {raw_message}" if raw_message else f"Stripe {what}")
    if issubclass(rule.error, ProviderUnavailable):
        sent = rule.request_sent
        if sent is None:
            sent = request_sent(exc, retries=retries)
        return ProviderUnavailable(
            message,
            code=rule.code,
            request_sent=sent,
            retry_safe=rule.retry_safe,
            status_code=status,
        )
    if issubclass(rule.error, CardDeclined):
        # Callers turn card errors into failed results; reaching here means a
        # decline outside a payment (e.g. attaching a card): still a decline.
        info = card_error_info(exc)
        return CardDeclined(info.message, code=info.code, decline_code=info.decline_code)
    param = _error_body(exc).get("param")
    return rule.error(
        message,
        code=rule.code,
        retry_safe=rule.retry_safe,
        param=str(param) if param else None,
    )


__all__ = [
    "DECLINE_CODES",
    "ERROR_CLASSES",
    "ERROR_CODES",
    "Rule",
    "card_error_info",
    "class_rule",
    "decline_info",
    "error_code",
    "request_sent",
    "rule_for",
    "scrub",
    "to_paygate_error",
]

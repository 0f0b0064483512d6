"""The one error hierarchy of paygate.

Every error carries a stable ``code`` from :class:`ErrorCode` (start from
ActiveMerchant's standard codes, extended where modern gateways need more) and
says whether retrying the same call with the same idempotency key is safe.
Messages never contain card numbers, CVCs or API keys: they are built from
field names and redacted values only.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from paygate.redaction import scrub_text

if TYPE_CHECKING:
    from paygate.models import Transaction


class ErrorCode(StrEnum):
    """Stable, documented error codes. Hosts may branch on these."""

    # card data (ActiveMerchant's STANDARD_ERROR_CODE)
    INCORRECT_NUMBER = "incorrect_number"
    INVALID_NUMBER = "invalid_number"
    INVALID_EXPIRY_DATE = "invalid_expiry_date"
    INVALID_CVC = "invalid_cvc"
    EXPIRED_CARD = "expired_card"
    INCORRECT_CVC = "incorrect_cvc"
    INCORRECT_ZIP = "incorrect_zip"
    INCORRECT_ADDRESS = "incorrect_address"
    INCORRECT_PIN = "incorrect_pin"
    UNSUPPORTED_BRAND = "unsupported_brand"
    # declines
    CARD_DECLINED = "card_declined"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    PROCESSING_ERROR = "processing_error"
    CALL_ISSUER = "call_issuer"
    PICKUP_CARD = "pickup_card"
    FRAUDULENT = "fraudulent"
    AUTHENTICATION_REQUIRED = "authentication_required"
    TEST_MODE_LIVE_CARD = "test_mode_live_card"
    PAYER_ACTION_REQUIRED = "payer_action_required"
    # request and state
    INVALID_REQUEST = "invalid_request"
    INVALID_AMOUNT = "invalid_amount"
    INVALID_CURRENCY = "invalid_currency"
    INVALID_STATE = "invalid_state"
    NOT_FOUND = "not_found"
    PERMISSION_DENIED = "permission_denied"
    UNSUPPORTED_FEATURE = "unsupported_feature"
    CONFIG_ERROR = "config_error"
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    IDEMPOTENCY_IN_PROGRESS = "idempotency_in_progress"
    # provider and plugin
    PROVIDER_UNAVAILABLE = "provider_unavailable"
    RATE_LIMITED = "rate_limited"
    AUTHENTICATION_ERROR = "authentication_error"
    SIGNATURE_VERIFICATION_FAILED = "signature_verification_failed"
    PLUGIN_ERROR = "plugin_error"


#: Codes that mean "the issuer or gateway refused the payment".
DECLINE_CODES: frozenset[ErrorCode] = frozenset(
    {
        ErrorCode.CARD_DECLINED,
        ErrorCode.INSUFFICIENT_FUNDS,
        ErrorCode.EXPIRED_CARD,
        ErrorCode.INCORRECT_CVC,
        ErrorCode.INCORRECT_NUMBER,
        ErrorCode.INCORRECT_ZIP,
        ErrorCode.INCORRECT_ADDRESS,
        ErrorCode.INCORRECT_PIN,
        ErrorCode.INVALID_NUMBER,
        ErrorCode.INVALID_EXPIRY_DATE,
        ErrorCode.INVALID_CVC,
        ErrorCode.PROCESSING_ERROR,
        ErrorCode.CALL_ISSUER,
        ErrorCode.PICKUP_CARD,
        ErrorCode.FRAUDULENT,
        ErrorCode.AUTHENTICATION_REQUIRED,
        ErrorCode.TEST_MODE_LIVE_CARD,
        ErrorCode.PAYER_ACTION_REQUIRED,
    }
)


class PaygateError(Exception):
    """Root of every error paygate raises.

    :ivar code: one of :class:`ErrorCode`.
    :ivar retry_safe: retrying the *same* call with the *same* idempotency key
        cannot charge twice and may succeed.
    """

    default_code: ErrorCode = ErrorCode.INVALID_REQUEST
    default_retry_safe: bool = False

    def __init__(
        self,
        message: str,
        *,
        code: ErrorCode | str | None = None,
        retry_safe: bool | None = None,
        param: str | None = None,
    ) -> None:
        # The second line of defence for every error, whoever raised it: a
        # gateway echoing credentials, a plugin formatting a secret.
        message = scrub_text(message) if isinstance(message, str) else str(message)
        super().__init__(message)
        self.message = message
        self.code = ErrorCode(code) if code is not None else self.default_code
        self.retry_safe = self.default_retry_safe if retry_safe is None else retry_safe
        self.param = param

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe view, for the ledger and API responses."""
        return {
            "type": type(self).__name__,
            "code": self.code.value,
            "message": self.message,
            "param": self.param,
            "retry_safe": self.retry_safe,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code.value!r}, message={self.message!r})"


class InvalidRequest(PaygateError):
    """Bad input. Always raised before any network call.

    ``param`` names the offending field (``number``, ``cvc``, ``exp_month``,
    ``amount``, ...) so a checkout form can show the message beside it.
    """

    default_code = ErrorCode.INVALID_REQUEST


class UnsupportedFeature(InvalidRequest):
    """The chosen provider does not offer this operation or option."""

    default_code = ErrorCode.UNSUPPORTED_FEATURE


class ConfigurationError(PaygateError):
    """The host's configuration is wrong (missing key, live key in test mode...)."""

    default_code = ErrorCode.CONFIG_ERROR


class IdempotencyConflict(PaygateError):
    """The idempotency key was already used for a *different* request."""

    default_code = ErrorCode.IDEMPOTENCY_CONFLICT


class OperationInProgress(IdempotencyConflict):
    """The first call with this idempotency key has not finished yet.

    Retry later with the same key: the recorded result will be returned, and
    the provider will not be called twice.
    """

    default_code = ErrorCode.IDEMPOTENCY_IN_PROGRESS
    default_retry_safe = True


class CardDeclined(PaygateError):
    """The issuer or gateway refused the payment.

    :ivar transaction: the failed :class:`~paygate.Transaction`, recorded in
        the ledger.
    :ivar decline_code: the provider's own finer code, when it gave one.
    """

    default_code = ErrorCode.CARD_DECLINED

    def __init__(
        self,
        message: str,
        *,
        code: ErrorCode | str | None = None,
        transaction: Transaction | None = None,
        decline_code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message, code=code, retry_safe=False, param=param)
        self.transaction = transaction
        self.decline_code = decline_code


class ProviderUnavailable(PaygateError):
    """Network failure, timeout, 5xx or rate limit at the provider.

    :ivar request_sent: the request may have reached the provider; its outcome
        is unknown until :meth:`paygate.Payments.reconcile` settles it.
    :ivar status_code: the HTTP status when there was one.
    """

    default_code = ErrorCode.PROVIDER_UNAVAILABLE
    default_retry_safe = True

    def __init__(
        self,
        message: str,
        *,
        code: ErrorCode | str | None = None,
        retry_safe: bool | None = None,
        request_sent: bool = True,
        status_code: int | None = None,
        transaction: Transaction | None = None,
    ) -> None:
        super().__init__(message, code=code, retry_safe=retry_safe)
        self.request_sent = request_sent
        self.status_code = status_code
        self.transaction = transaction


class AuthenticationError(PaygateError):
    """The provider refused our credentials (bad or revoked API key)."""

    default_code = ErrorCode.AUTHENTICATION_ERROR


class InvalidState(PaygateError):
    """The operation does not fit the transaction's state (capture after void...)."""

    default_code = ErrorCode.INVALID_STATE


class PermissionDenied(InvalidRequest):
    """The customer may not do this (a sub-account or multi-user paying)."""

    default_code = ErrorCode.PERMISSION_DENIED


class NotFound(PaygateError):
    """No transaction (or record) with that id."""

    default_code = ErrorCode.NOT_FOUND


class SignatureVerificationError(PaygateError):
    """A webhook's signature is missing, wrong, or too old."""

    default_code = ErrorCode.SIGNATURE_VERIFICATION_FAILED


class PluginError(PaygateError):
    """A plugin raised something that is not a :class:`PaygateError`: a bug.

    Never reported as a decline. ``plugin`` names the culprit.
    """

    default_code = ErrorCode.PLUGIN_ERROR

    def __init__(self, message: str, *, plugin: str, retry_safe: bool = False) -> None:
        super().__init__(message, retry_safe=retry_safe)
        self.plugin = plugin


__all__ = [
    "DECLINE_CODES",
    "AuthenticationError",
    "CardDeclined",
    "ConfigurationError",
    "ErrorCode",
    "IdempotencyConflict",
    "InvalidRequest",
    "InvalidState",
    "NotFound",
    "OperationInProgress",
    "PaygateError",
    "PermissionDenied",
    "PluginError",
    "ProviderUnavailable",
    "SignatureVerificationError",
    "UnsupportedFeature",
]

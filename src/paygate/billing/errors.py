"""The billing layer's typed errors: each one a :class:`~paygate.errors.PaygateError`.

Every public billing call validates before it writes or charges and raises one
of these, so a host branches on the class (or on ``code``) and never on text.
"""

from __future__ import annotations

from paygate.errors import (
    ConfigurationError,
    ErrorCode,
    InvalidRequest,
    InvalidState,
    NotFound,
    PermissionDenied,
)


class CatalogError(ConfigurationError):
    """The catalog (TOML) is wrong. ``path`` names the offending key
    (``products.webinar.sizes.s25.prices[1].amount``)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"catalog {path}: {message}", param=path)
        self.path = path


class UnknownPrice(InvalidRequest):
    """No such product, size, cycle or price version in the catalog."""

    default_code = ErrorCode.NOT_FOUND


class CurrencyMismatch(InvalidRequest):
    """A price or payment method in another currency than the account's."""

    default_code = ErrorCode.INVALID_CURRENCY


class BillingPermissionDenied(PermissionDenied):
    """The actor may not do this on this account (a multi-user, a sub-account,
    or a stranger): the permission hook said no."""


class InvalidTransition(InvalidState):
    """The subscription's state does not allow this change (a change on a
    frozen or cancelled subscription, a freeze longer than the policy...)."""


class StalePreview(InvalidState):
    """The preview was made on a state that has changed since: preview again."""


class BillingNotFound(NotFound):
    """No account, subscription or invoice with that id."""


class ImmutableInvoice(InvalidState):
    """A finalized invoice is never changed: issue a new document instead."""


class PaymentFailed(InvalidState):
    """The charge for a purchase made now (a subscription's first period, an
    upgrade, an add-on) failed: nothing was bought. ``decline_code`` says why."""

    def __init__(self, message: str, *, decline_code: str) -> None:
        super().__init__(message)
        self.decline_code = decline_code


class RunnerBusy(InvalidState):
    """Another renewal runner holds the single-runner lock (SQLite)."""


__all__ = [
    "BillingNotFound",
    "BillingPermissionDenied",
    "CatalogError",
    "CurrencyMismatch",
    "ImmutableInvoice",
    "InvalidTransition",
    "PaymentFailed",
    "RunnerBusy",
    "StalePreview",
    "UnknownPrice",
]

"""Checks of everything a host passes to ``Payments``, before any provider call.

One place for the rules, used by every public method: a value that breaks
one is :class:`~paygate.errors.InvalidRequest` naming the parameter, raised
before anything is written to the ledger or sent to a provider.

Every text must be valid UTF-8 (no lone surrogate such as ``"caf\\udce9"``,
which Python strings can hold but no JSON encoder, database or gateway
takes), must hold no NUL (PostgreSQL refuses it in text columns) and is
bounded in length. A text that passed here can be stored and sent; one that
did not would otherwise be charged at the provider and then fail to be
recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from paygate.errors import ErrorCode, InvalidRequest, PermissionDenied
from paygate.ids import new_id
from paygate.models import Card, Customer, PayPalWallet, StoredPaymentMethod
from paygate.money import Money

MAX_METADATA_KEYS = 50
MAX_METADATA_KEY = 40
MAX_METADATA_VALUE = 500
MAX_DESCRIPTION = 1000
MAX_REASON = 500
MAX_URL = 2048
MAX_KEY_LENGTH = 255
MAX_TRANSACTION_ID = 64
#: Ids, tokens and names the host hands back (customer id, stored-method token).
MAX_IDENTIFIER = 255


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored or sent, or None when it can."""
    if value.isascii():  # the usual case: only a NUL can be wrong
        return "must not hold a NUL character" if "\x00" in value else None
    if "\x00" in value:
        return "must not hold a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid UTF-8 text (it holds a lone surrogate)"
    return None


def check_text(value: object, param: str, limit: int = MAX_DESCRIPTION) -> str | None:
    """An optional text of at most ``limit`` characters."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidRequest(f"{param} must be a string of at most {limit} characters", param=param)
    problem = text_problem(value)
    if problem is not None:
        raise InvalidRequest(f"{param} {problem}", param=param)
    return value


def check_key(key: object) -> str:
    """The idempotency key, or a new one when the host gave none."""
    if key is None:
        return new_id("pgk")
    if not isinstance(key, str):
        raise InvalidRequest(
            f"idempotency_key must be a string, not {type(key).__name__}", param="idempotency_key"
        )
    # Printable ASCII: no NUL, no surrogate, no control character.
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise InvalidRequest(
            f"idempotency_key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters",
            param="idempotency_key",
        )
    return key


def check_transaction_id(transaction_id: object) -> str:
    if (
        not isinstance(transaction_id, str)
        or not 1 <= len(transaction_id) <= MAX_TRANSACTION_ID
        or text_problem(transaction_id) is not None
    ):
        raise InvalidRequest("transaction_id must be a transaction id string", param="id")
    return transaction_id


def check_amount(amount: object, *, param: str = "amount") -> Money:
    if not isinstance(amount, Money):
        raise InvalidRequest(
            f"{param} must be paygate.Money (e.g. Money('10.00', 'USD')), not "
            f"{type(amount).__name__}",
            code=ErrorCode.INVALID_AMOUNT,
            param=param,
        )
    if not amount.is_positive():
        raise InvalidRequest(
            f"{param} must be greater than zero, got {amount}",
            code=ErrorCode.INVALID_AMOUNT,
            param=param,
        )
    return amount


def check_metadata(metadata: object, param: str = "metadata") -> dict[str, str]:
    """Metadata (or confirm ``params``): a small mapping of short texts."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidRequest(f"{param} must be a mapping of strings", param=param)
    if len(metadata) > MAX_METADATA_KEYS:
        raise InvalidRequest(f"{param} has more than {MAX_METADATA_KEYS} keys", param=param)
    out: dict[str, str] = {}
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidRequest(f"{param} keys and values must be strings", param=param)
        if not 1 <= len(key) <= MAX_METADATA_KEY or len(value) > MAX_METADATA_VALUE:
            raise InvalidRequest(
                f"{param} keys are 1 to {MAX_METADATA_KEY} characters and values at most "
                f"{MAX_METADATA_VALUE}",
                param=param,
            )
        problem = text_problem(key) or text_problem(value)
        if problem is not None:
            raise InvalidRequest(f"{param} keys and values {problem}", param=param)
        out[key] = value
    return out


def check_customer(customer: object) -> Customer | None:
    if customer is None:
        return None
    if not isinstance(customer, Customer):
        raise InvalidRequest("customer must be paygate.Customer", param="customer")
    for name in ("id", "email", "name", "country"):
        value = getattr(customer, name)
        problem = text_problem(value) if value is not None else None
        if problem is not None:
            raise InvalidRequest(f"customer.{name} {problem}", param=f"customer.{name}")
    if customer.role != "owner":
        raise PermissionDenied(
            f"a {customer.role.replace('_', '-')} cannot pay or buy; only the account owner can",
            param="customer",
        )
    return customer


def _method_texts(method: Any) -> tuple[tuple[str, str | None], ...]:
    if isinstance(method, Card):
        return (("holder", method.holder), ("brand", method.brand))
    if isinstance(method, PayPalWallet):
        return (
            ("email", method.email),
            ("return_url", method.return_url),
            ("cancel_url", method.cancel_url),
        )
    if isinstance(method, StoredPaymentMethod):
        return (
            ("provider", method.provider),
            ("token", method.token),
            ("customer_reference", method.customer_reference),
            ("setup_id", method.setup_id),
            *((f"provider_data[{k!r}]", v) for k, v in method.provider_data.items()),
            *(("provider_data", k) for k in method.provider_data),
        )
    return ()


def check_method_texts(method: object) -> None:
    """The free texts and ids inside a payment method (holder, e-mail, token...).

    Card number and CVC are checked by the card rules; never named here.
    """
    for name, value in _method_texts(method):
        if value is None:
            continue
        problem = text_problem(value)
        if problem is None and len(value) > MAX_URL:
            problem = f"must be at most {MAX_URL} characters"
        if problem is not None:
            raise InvalidRequest(f"method.{name} {problem}", param="method")


__all__ = [
    "MAX_DESCRIPTION",
    "MAX_KEY_LENGTH",
    "MAX_METADATA_KEY",
    "MAX_METADATA_KEYS",
    "MAX_METADATA_VALUE",
    "MAX_REASON",
    "MAX_URL",
    "check_amount",
    "check_customer",
    "check_key",
    "check_metadata",
    "check_method_texts",
    "check_text",
    "check_transaction_id",
    "text_problem",
]

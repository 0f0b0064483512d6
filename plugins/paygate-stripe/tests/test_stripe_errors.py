"""The error table, row by row, on the SDK's own exception classes."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
import requests
import stripe
import stripe.oauth_error
from paygate_stripe import errors

from paygate.errors import (
    AuthenticationError,
    CardDeclined,
    ErrorCode,
    IdempotencyConflict,
    OperationInProgress,
    ProviderUnavailable,
)


def _all_stripe_error_classes() -> list[type[stripe.StripeError]]:
    found: dict[str, type[stripe.StripeError]] = {}
    for module in (stripe._error, stripe.oauth_error):
        for _, klass in inspect.getmembers(module, inspect.isclass):
            if issubclass(klass, stripe.StripeError):
                found[f"{klass.__module__}.{klass.__qualname__}"] = klass
    return list(found.values())


def _make(klass: type[stripe.StripeError], **kw: Any) -> stripe.StripeError:
    exc = klass.__new__(klass)
    stripe.StripeError.__init__(exc, kw.pop("message", "boom"), **kw)
    return exc


#: The stripe SDK version whose error classes the table was checked against.
TABLE_SDK_VERSION = (16, 1)


def _sdk_version() -> tuple[int, ...]:
    return tuple(int(p) for p in stripe.VERSION.split(".")[:2] if p.isdigit())


def test_stripe_every_sdk_error_class_has_a_row() -> None:
    classes = _all_stripe_error_classes()
    # Older SDKs (the lowest-versions run) have only the v1 error classes.
    assert len(classes) > (30 if _sdk_version() >= TABLE_SDK_VERSION else 15)
    missing = [k.__name__ for k in classes if k.__name__ not in errors.ERROR_CLASSES]
    assert missing == []


@pytest.mark.parametrize(
    ("name", "rule"), sorted(errors.ERROR_CLASSES.items()), ids=sorted(errors.ERROR_CLASSES)
)
def test_stripe_error_class_row(name: str, rule: errors.Rule) -> None:
    klass = next((k for k in _all_stripe_error_classes() if k.__name__ == name), None)
    if klass is None and _sdk_version() < TABLE_SDK_VERSION:
        # The table also covers classes newer SDKs added (16.1's v2 errors);
        # the lowest-versions run has an older one. Typos still fail on the
        # SDK the table was written against.
        pytest.skip(f"{name} is not in stripe {stripe.VERSION}")
    assert klass is not None, f"{name} is not a class of the stripe SDK"
    exc = _make(klass, http_status=500 if rule.error is ProviderUnavailable else 400)
    mapped = errors.to_paygate_error(exc)
    assert isinstance(mapped, rule.error)
    assert mapped.code is rule.code
    if isinstance(mapped, ProviderUnavailable):
        assert mapped.retry_safe is True
        if rule.request_sent is not None:
            assert mapped.request_sent is rule.request_sent


@pytest.mark.parametrize(
    ("code", "rule"), sorted(errors.ERROR_CODES.items()), ids=sorted(errors.ERROR_CODES)
)
def test_stripe_error_code_row(code: str, rule: errors.Rule) -> None:
    body = {"error": {"type": "invalid_request_error", "code": code, "message": "m"}}
    if rule.error is CardDeclined:
        body["error"]["type"] = "card_error"
        exc: stripe.StripeError = stripe.CardError("m", None, code, json_body=body, http_status=402)
        assert errors.card_error_info(exc).code == rule.code.value
        assert errors.card_error_info(exc).decline_code == code
    else:
        exc = stripe.InvalidRequestError("m", None, code, json_body=body, http_status=400)
        mapped = errors.to_paygate_error(exc)
        assert type(mapped) is rule.error
        assert mapped.code is rule.code


@pytest.mark.parametrize(
    ("decline_code", "expected"),
    sorted(errors.DECLINE_CODES.items()),
    ids=sorted(errors.DECLINE_CODES),
)
def test_stripe_decline_code_row(decline_code: str, expected: ErrorCode) -> None:
    body = {
        "error": {
            "type": "card_error",
            "code": "card_declined",
            "decline_code": decline_code,
            "message": "Your card was declined.",
        }
    }
    exc = stripe.CardError("Your card was declined.", None, "card_declined", json_body=body)
    info = errors.card_error_info(exc)
    assert info.code == expected.value
    assert info.decline_code == decline_code


def test_stripe_unknown_decline_code_falls_back_to_card_declined() -> None:
    info = errors.decline_info("card_declined", "brand_new_reason", None)
    assert info.code == "card_declined"
    assert info.decline_code == "brand_new_reason"
    assert errors.decline_info("expired_card", None, None).code == "expired_card"


def test_stripe_409_in_use_is_operation_in_progress() -> None:
    body = {"error": {"type": "invalid_request_error", "code": "idempotency_key_in_use"}}
    exc = stripe.APIError(
        "There is currently another in-progress request", json_body=body, http_status=409
    )
    mapped = errors.to_paygate_error(exc)
    assert isinstance(mapped, OperationInProgress)
    assert mapped.retry_safe


def test_stripe_idempotency_error_is_conflict() -> None:
    exc = stripe.IdempotencyError(
        "Keys for idempotent requests can only be used with the same parameters"
    )
    mapped = errors.to_paygate_error(exc)
    assert type(mapped) is IdempotencyConflict


def test_stripe_auth_errors_never_show_the_key() -> None:
    exc = stripe.AuthenticationError(
        "Invalid API Key provided: sk_test_51Habcdefghijklmnop", http_status=401
    )
    mapped = errors.to_paygate_error(exc)
    assert isinstance(mapped, AuthenticationError)
    assert "sk_test_51H" not in mapped.message
    assert "abcdefghijklmnop" not in mapped.message


def test_stripe_scrub_masks_secrets_and_card_numbers() -> None:
    text = "key sk_live_abc123 card 4242 4242 4242 4242 whsec_zz pi_1_secret_2 rk_test_q"
    cleaned = errors.scrub(text)
    for secret in ("sk_live_abc123", "4242 4242", "whsec_zz", "_secret_2", "rk_test_q"):
        assert secret not in cleaned


def _connection_error(cause: BaseException) -> stripe.APIConnectionError:
    try:
        try:
            raise cause
        except BaseException as inner:
            raise stripe.APIConnectionError("Network error", should_retry=True) from inner
    except stripe.APIConnectionError as exc:
        return exc


def test_stripe_connect_failure_was_not_sent() -> None:
    exc = _connection_error(requests.exceptions.ConnectTimeout("connect timed out"))
    mapped = errors.to_paygate_error(exc, retries=0)
    assert isinstance(mapped, ProviderUnavailable)
    assert mapped.request_sent is False
    assert mapped.retry_safe is True


def test_stripe_read_timeout_may_have_been_sent() -> None:
    exc = _connection_error(requests.exceptions.ReadTimeout("read timed out"))
    mapped = errors.to_paygate_error(exc, retries=0)
    assert isinstance(mapped, ProviderUnavailable)
    assert mapped.request_sent is True


def test_stripe_connect_failure_after_retries_may_have_been_sent() -> None:
    # An earlier attempt (retried by the SDK) may have reached Stripe.
    exc = _connection_error(requests.exceptions.ConnectTimeout("connect timed out"))
    assert errors.to_paygate_error(exc, retries=2).request_sent is True  # type: ignore[attr-defined]

"""The error table, row by row, and transport failures."""

from __future__ import annotations

from typing import Any

import pytest
import requests
import responses
from paygate_paypal.errors import ISSUE_CODES, NAME_CODES, classify
from paygate_paypal.plugin import PayPalProvider
from paypal_testdata import (
    AUTH_ID,
    BASE,
    CLIENT_SECRET,
    OP,
    ORDER_ID,
    TOKEN,
    common,
    error_body,
    usd,
)

from paygate.config import Config
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
from paygate.models import PayPalWallet, TransactionStatus
from paygate.operations import CaptureRequest, PaymentRequest

EXPECTED_EXCEPTION: dict[ErrorCode, type[PaygateError]] = {
    ErrorCode.INVALID_STATE: InvalidState,
    ErrorCode.INVALID_AMOUNT: InvalidRequest,
    ErrorCode.INVALID_CURRENCY: InvalidRequest,
    ErrorCode.INVALID_REQUEST: InvalidRequest,
    ErrorCode.IDEMPOTENCY_CONFLICT: IdempotencyConflict,
    ErrorCode.IDEMPOTENCY_IN_PROGRESS: OperationInProgress,
    ErrorCode.UNSUPPORTED_FEATURE: UnsupportedFeature,
    ErrorCode.CONFIG_ERROR: ConfigurationError,
    ErrorCode.NOT_FOUND: NotFound,
    ErrorCode.AUTHENTICATION_ERROR: AuthenticationError,
    ErrorCode.RATE_LIMITED: ProviderUnavailable,
    ErrorCode.PROVIDER_UNAVAILABLE: ProviderUnavailable,
}


def capture(provider: PayPalProvider) -> Any:
    return provider.paygate_capture(
        CaptureRequest(
            **common(),
            operation=OP.CAPTURE,
            provider_reference=ORDER_ID,
            provider_data={"authorization_id": AUTH_ID},
            amount=usd("10.00"),
            authorized=usd("10.00"),
            captured=usd("0.00"),
        )
    )


def assert_outcome(provider: PayPalProvider, code: ErrorCode, reason: str) -> None:
    if code in DECLINE_CODES:
        result = capture(provider)
        assert result.status is TransactionStatus.FAILED
        assert result.error is not None
        assert result.error.code == code.value
        assert result.error.decline_code == reason
    else:
        with pytest.raises(EXPECTED_EXCEPTION[code]) as info:
            capture(provider)
        assert info.value.code is code
        assert reason in info.value.message


@pytest.mark.parametrize(("issue", "code"), sorted(ISSUE_CODES.items()))
def test_issue_row(
    provider: PayPalProvider, rsps: responses.RequestsMock, token: Any, issue: str, code: ErrorCode
) -> None:
    rsps.add(
        responses.POST,
        f"{BASE}/v2/payments/authorizations/{AUTH_ID}/capture",
        status=422,
        json=error_body("UNPROCESSABLE_ENTITY", issue),
    )
    assert_outcome(provider, code, issue)


@pytest.mark.parametrize(("name", "code"), sorted(NAME_CODES.items()))
def test_name_row(
    provider: PayPalProvider, rsps: responses.RequestsMock, token: Any, name: str, code: ErrorCode
) -> None:
    status = {
        ErrorCode.AUTHENTICATION_ERROR: 401,
        ErrorCode.NOT_FOUND: 404,
        ErrorCode.CONFIG_ERROR: 403,
        ErrorCode.RATE_LIMITED: 429,
        ErrorCode.PROVIDER_UNAVAILABLE: 503,
        ErrorCode.IDEMPOTENCY_CONFLICT: 409,
    }.get(code, 400)
    body = {"error": name} if name == "invalid_client" else error_body(name, None)
    rsps.add(
        responses.POST,
        f"{BASE}/v2/payments/authorizations/{AUTH_ID}/capture",
        status=status,
        json=body,
    )
    assert_outcome(provider, code, name if status < 500 else "HTTP 503")


def test_unknown_issue_falls_back_on_name_then_status() -> None:
    assert classify(422, error_body("UNPROCESSABLE_ENTITY", "SOMETHING_NEW")) == (
        ErrorCode.INVALID_REQUEST,
        "SOMETHING_NEW",
    )
    assert classify(404, {}) == (ErrorCode.NOT_FOUND, None)
    assert (
        classify(502, error_body("UNPROCESSABLE_ENTITY", "INSTRUMENT_DECLINED"))[0]
        is ErrorCode.PROVIDER_UNAVAILABLE
    )


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_provider_unavailable_request_sent(
    provider: PayPalProvider, rsps: responses.RequestsMock, token: Any, status: int
) -> None:
    rsps.add(
        responses.POST,
        f"{BASE}/v2/payments/authorizations/{AUTH_ID}/capture",
        status=status,
        json={
            "name": "INTERNAL_SERVER_ERROR",
            "message": "An internal server error occurred.",
            "debug_id": "abc",
        },
    )
    with pytest.raises(ProviderUnavailable) as info:
        capture(provider)
    assert info.value.request_sent is True
    assert info.value.status_code == status
    assert info.value.retry_safe is True


def test_read_timeout_may_have_reached_paypal(
    provider: PayPalProvider, rsps: responses.RequestsMock, token: Any
) -> None:
    rsps.add(
        responses.POST,
        f"{BASE}/v2/payments/authorizations/{AUTH_ID}/capture",
        body=requests.ReadTimeout("read timed out"),
    )
    with pytest.raises(ProviderUnavailable) as info:
        capture(provider)
    assert info.value.request_sent is True
    assert "timed out" in info.value.message


def test_connect_timeout_never_reached_paypal(
    provider: PayPalProvider, rsps: responses.RequestsMock, token: Any
) -> None:
    rsps.add(
        responses.POST,
        f"{BASE}/v2/payments/authorizations/{AUTH_ID}/capture",
        body=requests.ConnectTimeout("connect timed out"),
    )
    with pytest.raises(ProviderUnavailable) as info:
        capture(provider)
    assert info.value.request_sent is False


def test_token_refused_is_authentication_error_and_nothing_else_is_sent(
    provider: PayPalProvider, rsps: responses.RequestsMock
) -> None:
    rsps.add(
        responses.POST,
        f"{BASE}/v1/oauth2/token",
        status=401,
        json={"error": "invalid_client", "error_description": "Client Authentication failed"},
    )
    with pytest.raises(AuthenticationError) as info:
        capture(provider)
    assert len(rsps.calls) == 1
    assert CLIENT_SECRET not in str(info.value)
    assert CLIENT_SECRET not in repr(info.value)


def test_token_endpoint_down_means_the_operation_was_not_sent(
    provider: PayPalProvider, rsps: responses.RequestsMock
) -> None:
    rsps.add(
        responses.POST, f"{BASE}/v1/oauth2/token", status=503, json={"name": "SERVICE_UNAVAILABLE"}
    )
    with pytest.raises(ProviderUnavailable) as info:
        capture(provider)
    assert info.value.request_sent is False


def test_decline_on_order_creation(
    provider: PayPalProvider, rsps: responses.RequestsMock, token: Any
) -> None:
    rsps.add(
        responses.POST,
        f"{BASE}/v2/checkout/orders",
        status=422,
        json=error_body("UNPROCESSABLE_ENTITY", "PAYER_ACTION_REQUIRED"),
    )
    result = provider.paygate_authorize(
        PaymentRequest(
            **common(), operation=OP.AUTHORIZE, amount=usd("5.00"), method=PayPalWallet()
        )
    )
    assert result.status is TransactionStatus.FAILED
    assert result.error is not None
    assert result.error.code == "payer_action_required"


def test_token_is_renewed_when_it_expires(
    rsps: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from apimatic_core.utilities.auth_helper import AuthHelper
    from paypal_testdata import CLIENT_ID, token_body

    clock = [1_800_000_000]
    monkeypatch.setattr(AuthHelper, "get_current_utc_timestamp", staticmethod(lambda: clock[0]))
    provider = PayPalProvider()
    provider.paygate_configure(
        Config({"paypal": {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}})
    )
    first = token_body(expires_in=3600)
    first["access_token"] = "A21AAfirst-token"
    rsps.add(responses.POST, f"{BASE}/v1/oauth2/token", json=first)
    rsps.add(responses.POST, f"{BASE}/v1/oauth2/token", json=token_body())
    url = f"{BASE}/v2/payments/authorizations/{AUTH_ID}/capture"
    for _ in range(3):
        rsps.add(
            responses.POST,
            url,
            status=422,
            json=error_body("UNPROCESSABLE_ENTITY", "AUTHORIZATION_VOIDED"),
        )
    for advance in (0, 1000, 3600):  # the last one lands past expiry (minus the 60 s skew)
        clock[0] += advance
        with pytest.raises(InvalidState):
            capture(provider)
    auth = [
        c.request.headers.get("Authorization")
        for c in rsps.calls
        if c.request.path_url != "/v1/oauth2/token"
    ]
    assert auth == ["Bearer A21AAfirst-token", "Bearer A21AAfirst-token", f"Bearer {TOKEN}"]
    assert provider.client.token_fetches == 2

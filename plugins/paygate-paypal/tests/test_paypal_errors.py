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


E = ErrorCode

#: What each PayPal issue means for the host, written from PayPal's own
#: descriptions of the issue names (the OpenAPI documents in shared/specs and
#: developer.paypal.com's error reference), independently of the plugin's
#: table: a row changed there fails here.
DOCUMENTED_ISSUES: dict[str, ErrorCode] = {
    # "The instrument presented was either declined by the processor or bank"
    "INSTRUMENT_DECLINED": E.CARD_DECLINED,
    # "Payer cannot pay for this transaction"
    "PAYER_CANNOT_PAY": E.CARD_DECLINED,
    # "PayPal's internal controls prevent authorization from being captured"
    "TRANSACTION_REFUSED": E.CARD_DECLINED,
    # "The payer account cannot be used for this transaction"
    "PAYER_ACCOUNT_LOCKED_OR_CLOSED": E.CARD_DECLINED,
    "PAYER_ACCOUNT_RESTRICTED": E.CARD_DECLINED,
    # "The provided payment source is declined by the processor"
    "PAYMENT_SOURCE_DECLINED_BY_PROCESSOR": E.CARD_DECLINED,
    # "The provided payment source cannot be used to pay for the order"
    "PAYMENT_SOURCE_CANNOT_BE_USED": E.CARD_DECLINED,
    # "A denied authorization cannot be captured"
    "AUTHORIZATION_DENIED": E.CARD_DECLINED,
    # "Total payment amount exceeded transaction limit"
    "TRANSACTION_LIMIT_EXCEEDED": E.CARD_DECLINED,
    # "You have exceeded the maximum number of payment attempts": try later
    "MAX_NUMBER_OF_PAYMENT_ATTEMPTS_EXCEEDED": E.PROCESSING_ERROR,
    # compliance and the payee's fraud settings
    "COMPLIANCE_VIOLATION": E.FRAUDULENT,
    "PAYEE_BLOCKED_TRANSACTION": E.FRAUDULENT,
    "TRANSACTION_BLOCKED_BY_PAYEE": E.FRAUDULENT,
    "UNAUTHORIZED_TRANSACTION": E.FRAUDULENT,
    # "instruct the buyer to return to PayPal" / "redirect the payer"
    "PAYER_ACTION_REQUIRED": E.PAYER_ACTION_REQUIRED,
    "REDIRECT_PAYER_FOR_ALTERNATE_FUNDING": E.PAYER_ACTION_REQUIRED,
    "ORDER_NOT_APPROVED": E.PAYER_ACTION_REQUIRED,
    # the object is past the state the operation needs
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
    "TOKEN_EXPIRED": E.INVALID_STATE,
    # the amount asked for is wrong
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
    # the currency is wrong
    "CURRENCY_MISMATCH": E.INVALID_CURRENCY,
    "AUTH_CURRENCY_MISMATCH": E.INVALID_CURRENCY,
    "AUTH_CAPTURE_CURRENCY_MISMATCH": E.INVALID_CURRENCY,
    "REFUND_CAPTURE_CURRENCY_MISMATCH": E.INVALID_CURRENCY,
    "INVALID_CURRENCY_CODE": E.INVALID_CURRENCY,
    "CURRENCY_NOT_SUPPORTED_FOR_COUNTRY": E.INVALID_CURRENCY,
    # "Requested invoice_id has been previously captured"
    "DUPLICATE_INVOICE_ID": E.IDEMPOTENCY_CONFLICT,
    # "A previous request on this resource is currently in progress"
    "PREVIOUS_REQUEST_IN_PROGRESS": E.IDEMPOTENCY_IN_PROGRESS,
    "ORDER_COMPLETION_IN_PROGRESS": E.IDEMPOTENCY_IN_PROGRESS,
    # "A reauthorize cannot be attempted on ... a prior reauthorization"
    "REAUTHORIZATION_NOT_SUPPORTED": E.UNSUPPORTED_FEATURE,
    # what the merchant's account is set up for
    "AUTH_CAPTURE_NOT_ENABLED": E.CONFIG_ERROR,
    "NOT_ENABLED_TO_VAULT_PAYMENT_SOURCE": E.CONFIG_ERROR,
    "PAYEE_ACCOUNT_RESTRICTED": E.CONFIG_ERROR,
    "PAYEE_ACCOUNT_LOCKED_OR_CLOSED": E.CONFIG_ERROR,
    "PAYEE_ACCOUNT_INVALID": E.CONFIG_ERROR,
    "PERMISSION_DENIED": E.CONFIG_ERROR,
    # "Specified resource ID does not exist" / "token was not found"
    "INVALID_RESOURCE_ID": E.NOT_FOUND,
    "TOKEN_ID_NOT_FOUND": E.NOT_FOUND,
}


def test_every_mapped_issue_has_an_independent_expectation() -> None:
    # A row added to the plugin's table needs its documented meaning here too.
    assert sorted(set(ISSUE_CODES) - set(DOCUMENTED_ISSUES)) == []
    assert sorted(set(DOCUMENTED_ISSUES) - set(ISSUE_CODES)) == []


@pytest.mark.parametrize(("issue", "code"), sorted(DOCUMENTED_ISSUES.items()))
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


#: PayPal's top-level error names (developer.paypal.com "API responses"),
#: by their documented HTTP status and meaning, written independently.
DOCUMENTED_NAMES: dict[str, tuple[int, ErrorCode]] = {
    "AUTHENTICATION_FAILURE": (401, E.AUTHENTICATION_ERROR),
    "invalid_client": (401, E.AUTHENTICATION_ERROR),  # OAuth token endpoint
    "NOT_AUTHORIZED": (403, E.CONFIG_ERROR),
    "PERMISSION_DENIED": (403, E.CONFIG_ERROR),
    "RESOURCE_NOT_FOUND": (404, E.NOT_FOUND),
    "RESOURCE_CONFLICT": (409, E.IDEMPOTENCY_CONFLICT),
    "RATE_LIMIT_REACHED": (429, E.RATE_LIMITED),
    "INTERNAL_SERVER_ERROR": (500, E.PROVIDER_UNAVAILABLE),
    "SERVICE_UNAVAILABLE": (503, E.PROVIDER_UNAVAILABLE),
    "INVALID_REQUEST": (400, E.INVALID_REQUEST),
    "UNPROCESSABLE_ENTITY": (422, E.INVALID_REQUEST),
    "UNSUPPORTED_MEDIA_TYPE": (415, E.INVALID_REQUEST),
}


def test_every_mapped_name_has_an_independent_expectation() -> None:
    assert sorted(NAME_CODES) == sorted(DOCUMENTED_NAMES)


@pytest.mark.parametrize(("name", "expected"), sorted(DOCUMENTED_NAMES.items()))
def test_name_row(
    provider: PayPalProvider,
    rsps: responses.RequestsMock,
    token: Any,
    name: str,
    expected: tuple[int, ErrorCode],
) -> None:
    status, code = expected
    body = {"error": name} if name == "invalid_client" else error_body(name, None)
    rsps.add(
        responses.POST,
        f"{BASE}/v2/payments/authorizations/{AUTH_ID}/capture",
        status=status,
        json=body,
    )
    assert_outcome(provider, code, name if status < 500 else f"HTTP {status}")


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

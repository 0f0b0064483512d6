"""The PayPal approval flow and every operation, against recorded answers.

Each test asserts the exact requests: path, JSON body, PayPal-Request-Id,
bearer token, and that one OAuth token serves several operations.
"""

from __future__ import annotations

from datetime import date as _date
from typing import Any

import pytest
import responses
from paygate_paypal.plugin import PayPalProvider, request_id
from paypal_testdata import (
    AUTH_ID,
    BASE,
    CAPTURE_ID,
    OP,
    ORDER_ID,
    TOKEN,
    capture_body,
    common,
    money,
    order_authorized,
    order_captured,
    order_created,
    refund_body,
    sent_json,
    usd,
)

from paygate.errors import InvalidRequest, InvalidState, UnsupportedFeature
from paygate.models import Card, PayPalWallet, StoredPaymentMethod, TransactionStatus
from paygate.operations import (
    CaptureRequest,
    ConfirmRequest,
    PaymentRequest,
    RefundRequest,
    StoreRequest,
    VoidRequest,
)

#: Cards in tests expire three years from now, so they never age into declines.
EXP_YEAR = _date.today().year + 3

S = TransactionStatus


def authorize(provider: PayPalProvider, *, capture: bool = False, key: str = "key-auth-1") -> Any:
    return provider.paygate_authorize(
        PaymentRequest(
            **common(idempotency_key=key),
            operation=OP.PURCHASE if capture else OP.AUTHORIZE,
            amount=usd("100.00"),
            method=PayPalWallet(
                return_url="https://shop.example/return", cancel_url="https://shop.example/cancel"
            ),
            description="Annual plan",
            capture=capture,
        )
    )


def assert_headers(call: Any, key: str | None) -> None:
    assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"
    if key is None:
        assert "PayPal-Request-Id" not in call.request.headers
    else:
        assert call.request.headers["PayPal-Request-Id"] == key


def test_authorize_creates_order_and_returns_approval_link(
    provider: PayPalProvider, rsps: responses.RequestsMock, token: Any
) -> None:
    rsps.add(responses.POST, f"{BASE}/v2/checkout/orders", json=order_created(), status=200)
    result = authorize(provider)

    assert result.status is S.REQUIRES_ACTION
    assert result.provider_reference == ORDER_ID
    assert result.next_action is not None
    assert result.next_action.type == "approve"
    assert (
        result.next_action.redirect_url
        == f"https://www.sandbox.paypal.com/checkoutnow?token={ORDER_ID}"
    )
    assert result.provider_data["intent"] == "AUTHORIZE"
    call = rsps.calls[1]
    assert call.request.path_url == "/v2/checkout/orders"
    assert_headers(call, "key-auth-1")
    assert call.request.headers["Prefer"] == "return=representation"
    assert sent_json(call) == {
        "intent": "AUTHORIZE",
        "purchase_units": [
            {"custom_id": "txn_test", "amount": money("100.00"), "description": "Annual plan"}
        ],
        "payment_source": {
            "paypal": {
                "experience_context": {
                    "return_url": "https://shop.example/return",
                    "cancel_url": "https://shop.example/cancel",
                    "user_action": "PAY_NOW",
                    "shipping_preference": "NO_SHIPPING",
                }
            }
        },
    }
    # the token request authenticates with the client credentials (HTTP basic)
    assert rsps.calls[0].request.headers["Authorization"].startswith("Basic ")
    assert "grant_type=client_credentials" in rsps.calls[0].request.body


def test_full_approval_flow_with_partial_captures_and_refunds(
    provider: PayPalProvider, rsps: responses.RequestsMock, token: Any
) -> None:
    rsps.add(responses.POST, f"{BASE}/v2/checkout/orders", json=order_created())
    rsps.add(
        responses.POST,
        f"{BASE}/v2/checkout/orders/{ORDER_ID}/authorize",
        json=order_authorized(),
        status=201,
    )
    rsps.add(
        responses.POST,
        f"{BASE}/v2/payments/authorizations/{AUTH_ID}/capture",
        json=capture_body("CAP1AAAAAAAAAAAAA", "30.00", final=False),
        status=201,
    )
    rsps.add(
        responses.POST,
        f"{BASE}/v2/payments/authorizations/{AUTH_ID}/capture",
        json=capture_body("CAP2AAAAAAAAAAAAA", "70.00", final=True),
        status=201,
    )
    rsps.add(
        responses.POST,
        f"{BASE}/v2/payments/captures/CAP1AAAAAAAAAAAAA/refund",
        json=refund_body("REF1AAAAAAAAAAAAA", "10.00"),
        status=201,
    )
    rsps.add(
        responses.POST,
        f"{BASE}/v2/payments/captures/CAP1AAAAAAAAAAAAA/refund",
        json=refund_body("REF2AAAAAAAAAAAAA", "20.00"),
        status=201,
    )
    rsps.add(
        responses.POST,
        f"{BASE}/v2/payments/captures/CAP2AAAAAAAAAAAAA/refund",
        json=refund_body("REF3AAAAAAAAAAAAA", "5.00"),
        status=201,
    )

    created = authorize(provider)
    data = dict(created.provider_data)
    confirmed = provider.paygate_confirm(
        ConfirmRequest(
            **common(idempotency_key="key-confirm"),
            operation=OP.CONFIRM,
            provider_reference=ORDER_ID,
            provider_data=data,
            amount=usd("100.00"),
        )
    )
    assert confirmed.status is S.AUTHORIZED
    assert confirmed.provider_data["authorization_id"] == AUTH_ID
    data.update(confirmed.provider_data)

    first = provider.paygate_capture(
        CaptureRequest(
            **common(idempotency_key="key-cap-1"),
            operation=OP.CAPTURE,
            provider_reference=ORDER_ID,
            provider_data=data,
            amount=usd("30.00"),
            authorized=usd("100.00"),
            captured=usd("0.00"),
            final=False,
        )
    )
    assert first.status is S.PARTIALLY_CAPTURED
    assert first.operation_reference == "CAP1AAAAAAAAAAAAA"
    assert first.amount == usd("30.00")
    data.update(first.provider_data)
    second = provider.paygate_capture(
        CaptureRequest(
            **common(idempotency_key="key-cap-2"),
            operation=OP.CAPTURE,
            provider_reference=ORDER_ID,
            provider_data=data,
            amount=usd("70.00"),
            authorized=usd("100.00"),
            captured=usd("30.00"),
            final=True,
        )
    )
    assert second.status is S.CAPTURED
    assert second.provider_data["captures"] == "CAP1AAAAAAAAAAAAA=3000;CAP2AAAAAAAAAAAAA=7000"
    data.update(second.provider_data)

    refund1 = provider.paygate_refund(
        RefundRequest(
            **common(idempotency_key="key-ref-1"),
            operation=OP.REFUND,
            provider_reference=ORDER_ID,
            provider_data=data,
            amount=usd("10.00"),
            captured=usd("100.00"),
            refunded=usd("0.00"),
            reason="customer asked",
        )
    )
    assert refund1.status is S.PARTIALLY_REFUNDED
    assert refund1.operation_reference == "REF1AAAAAAAAAAAAA"
    data.update(refund1.provider_data)
    # 25.00 more: the 20.00 left on the first capture, then 5.00 of the second
    refund2 = provider.paygate_refund(
        RefundRequest(
            **common(idempotency_key="key-ref-2"),
            operation=OP.REFUND,
            provider_reference=ORDER_ID,
            provider_data=data,
            amount=usd("25.00"),
            captured=usd("100.00"),
            refunded=usd("10.00"),
        )
    )
    assert refund2.status is S.PARTIALLY_REFUNDED
    assert refund2.operation_reference == "REF2AAAAAAAAAAAAA,REF3AAAAAAAAAAAAA"
    assert refund2.provider_data["refunded"] == "CAP1AAAAAAAAAAAAA=3000;CAP2AAAAAAAAAAAAA=500"

    paths = [c.request.path_url for c in rsps.calls]
    assert paths.count("/v1/oauth2/token") == 1  # one token for eight operations
    for call in rsps.calls[1:]:
        assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert rsps.calls[2].request.headers["PayPal-Request-Id"] == "key-confirm"
    assert sent_json(rsps.calls[3]) == {"amount": money("30.00"), "final_capture": False}
    assert rsps.calls[3].request.headers["PayPal-Request-Id"] == "key-cap-1"
    assert sent_json(rsps.calls[4]) == {"amount": money("70.00"), "final_capture": True}
    assert sent_json(rsps.calls[5]) == {
        "amount": money("10.00"),
        "custom_id": "txn_test",
        "note_to_payer": "customer asked",
    }
    assert sent_json(rsps.calls[6]) == {"amount": money("20.00"), "custom_id": "txn_test"}
    assert sent_json(rsps.calls[7]) == {"amount": money("5.00"), "custom_id": "txn_test"}
    # a refund split over two captures: stable, distinct request ids per part
    assert rsps.calls[6].request.headers["PayPal-Request-Id"] == "key-ref-2"
    assert rsps.calls[7].request.headers["PayPal-Request-Id"] == request_id("key-ref-2", 1)


def test_purchase_captures_on_confirm(
    provider: PayPalProvider, rsps: responses.RequestsMock, token: Any
) -> None:
    rsps.add(responses.POST, f"{BASE}/v2/checkout/orders", json=order_created("CAPTURE"))
    rsps.add(
        responses.POST,
        f"{BASE}/v2/checkout/orders/{ORDER_ID}/capture",
        json=order_captured(),
        status=201,
    )
    created = authorize(provider, capture=True)
    assert sent_json(rsps.calls[1])["intent"] == "CAPTURE"
    done = provider.paygate_confirm(
        ConfirmRequest(
            **common(idempotency_key="k-confirm"),
            operation=OP.CONFIRM,
            provider_reference=ORDER_ID,
            provider_data=created.provider_data,
            amount=usd("100.00"),
            capture=True,
        )
    )
    assert done.status is S.CAPTURED
    assert done.operation_reference == CAPTURE_ID
    assert done.provider_data["captures"] == f"{CAPTURE_ID}=10000"
    assert done.amount == usd("100.00")
    assert rsps.calls[2].request.path_url == f"/v2/checkout/orders/{ORDER_ID}/capture"
    assert rsps.calls[2].request.headers["PayPal-Request-Id"] == "k-confirm"


def test_declined_capture_on_confirm_is_a_failed_result(
    provider: PayPalProvider, rsps: responses.RequestsMock, token: Any
) -> None:
    body = order_captured(status="DECLINED")
    body["purchase_units"][0]["payments"]["captures"][0]["status_details"] = {
        "reason": "DECLINED_BY_RISK_FRAUD_FILTERS"
    }
    rsps.add(responses.POST, f"{BASE}/v2/checkout/orders/{ORDER_ID}/capture", json=body, status=201)
    result = provider.paygate_confirm(
        ConfirmRequest(
            **common(),
            operation=OP.CONFIRM,
            provider_reference=ORDER_ID,
            provider_data={"intent": "CAPTURE"},
            amount=usd("100.00"),
            capture=True,
        )
    )
    assert result.status is S.FAILED
    assert result.error is not None
    assert result.error.code == "card_declined"
    assert result.error.decline_code == "DECLINED_BY_RISK_FRAUD_FILTERS"


def test_void(provider: PayPalProvider, rsps: responses.RequestsMock, token: Any) -> None:
    rsps.add(responses.POST, f"{BASE}/v2/payments/authorizations/{AUTH_ID}/void", status=204)
    result = provider.paygate_void(
        VoidRequest(
            **common(idempotency_key="k-void"),
            operation=OP.VOID,
            provider_reference=ORDER_ID,
            provider_data={"authorization_id": AUTH_ID},
            amount=usd("100.00"),
        )
    )
    assert result.status is S.VOIDED
    assert rsps.calls[1].request.headers["PayPal-Request-Id"] == "k-void"
    assert rsps.calls[1].request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_capture_without_authorization_is_invalid_state_before_any_request(
    provider: PayPalProvider, rsps: responses.RequestsMock
) -> None:
    with pytest.raises(InvalidState):
        provider.paygate_capture(
            CaptureRequest(
                **common(),
                operation=OP.CAPTURE,
                provider_reference=ORDER_ID,
                provider_data={},
                amount=usd("1.00"),
                authorized=usd("1.00"),
                captured=usd("0.00"),
            )
        )
    assert len(rsps.calls) == 0


def test_reauthorize(provider: PayPalProvider, rsps: responses.RequestsMock, token: Any) -> None:
    rsps.add(
        responses.POST,
        f"{BASE}/v2/payments/authorizations/{AUTH_ID}/reauthorize",
        json={
            "id": "8AA831015G517922L",
            "status": "CREATED",
            "amount": money("100.00"),
            "expiration_time": "2026-11-19T10:00:00Z",
            "links": [],
        },
        status=201,
    )
    result = provider.reauthorize(AUTH_ID, usd("100.00"), idempotency_key="k-reauth")
    assert result.status is S.AUTHORIZED
    assert result.provider_data == {
        "authorization_id": "8AA831015G517922L",
        "reauthorized_from": AUTH_ID,
    }
    assert sent_json(rsps.calls[1]) == {"amount": money("100.00")}
    assert rsps.calls[1].request.headers["PayPal-Request-Id"] == "k-reauth"


def test_vault_setup_confirm_and_merchant_initiated_charge(
    provider: PayPalProvider, rsps: responses.RequestsMock, token: Any
) -> None:
    rsps.add(
        responses.POST,
        f"{BASE}/v3/vault/setup-tokens",
        json={
            "id": "5C991763VB2781612",
            "status": "PAYER_ACTION_REQUIRED",
            "customer": {"id": "customer_4029352050"},
            "payment_source": {"paypal": {"usage_type": "MERCHANT"}},
            "links": [
                {
                    "href": "https://www.sandbox.paypal.com/agreements/approve?approval_session_id=5C991763VB2781612",
                    "rel": "approve",
                    "method": "GET",
                }
            ],
        },
        status=201,
    )
    rsps.add(
        responses.POST,
        f"{BASE}/v3/vault/payment-tokens",
        json={
            "id": "8kk8451t",
            "customer": {"id": "customer_4029352050"},
            "payment_source": {"paypal": {"email_address": "buyer@example.com"}},
            "links": [],
        },
        status=201,
    )
    rsps.add(responses.POST, f"{BASE}/v2/checkout/orders", json=order_captured("19.00"), status=201)

    setup = provider.paygate_store_payment_method(
        StoreRequest(
            **common(idempotency_key="k-setup"),
            operation=OP.STORE_PAYMENT_METHOD,
            method=PayPalWallet(),
        )
    )
    assert setup.status is S.REQUIRES_ACTION
    assert setup.next_action is not None
    assert "approval_session_id=5C991763VB2781612" in setup.next_action.redirect_url
    stored = provider.paygate_confirm(
        ConfirmRequest(
            **common(idempotency_key="k-token"),
            operation=OP.CONFIRM,
            provider_reference=setup.provider_reference,
            provider_data=setup.provider_data,
            amount=usd("1.00"),
        )
    )
    assert stored.stored_method is not None
    assert stored.stored_method.token == "8kk8451t"
    assert stored.stored_method.customer_reference == "customer_4029352050"
    assert stored.stored_method.method_kind == "paypal"
    assert sent_json(rsps.calls[2]) == {
        "payment_source": {"token": {"id": "5C991763VB2781612", "type": "SETUP_TOKEN"}}
    }
    assert sent_json(rsps.calls[1])["payment_source"]["paypal"]["usage_type"] == "MERCHANT"

    charge = provider.paygate_charge_recurring(
        PaymentRequest(
            **common(idempotency_key="k-renewal"),
            operation=OP.CHARGE_RECURRING,
            amount=usd("19.00"),
            method=stored.stored_method,
            off_session=True,
        )
    )
    assert charge.status is S.CAPTURED
    assert charge.operation_reference == CAPTURE_ID
    assert sent_json(rsps.calls[3]) == {
        "intent": "CAPTURE",
        "purchase_units": [{"custom_id": "txn_test", "amount": money("19.00")}],
        "payment_source": {
            "paypal": {
                "vault_id": "8kk8451t",
                "stored_credential": {
                    "payment_initiator": "MERCHANT",
                    "usage": "SUBSEQUENT",
                    "usage_pattern": "SUBSCRIPTION_PREPAID",
                },
            }
        },
    }
    assert rsps.calls[3].request.headers["PayPal-Request-Id"] == "k-renewal"
    assert [c.request.path_url for c in rsps.calls].count("/v1/oauth2/token") == 1


def test_cards_are_not_taken(provider: PayPalProvider, rsps: responses.RequestsMock) -> None:
    card = Card("4242424242424242", 12, EXP_YEAR, "123")
    with pytest.raises(UnsupportedFeature):
        provider.paygate_authorize(
            PaymentRequest(**common(), operation=OP.AUTHORIZE, amount=usd("1.00"), method=card)
        )
    with pytest.raises(InvalidRequest):
        provider.paygate_charge_recurring(
            PaymentRequest(
                **common(),
                operation=OP.CHARGE_RECURRING,
                amount=usd("1.00"),
                method=StoredPaymentMethod(provider="stripe", token="pm_123"),
            )
        )
    assert len(rsps.calls) == 0


def test_long_idempotency_keys_become_a_stable_digest() -> None:
    key = "k" * 200
    assert len(request_id(key)) <= 108
    assert request_id(key) == request_id(key)
    assert request_id(key) != request_id(key, 1)
    assert request_id("short") == "short"


def test_fetch_reads_the_order(
    provider: PayPalProvider, rsps: responses.RequestsMock, token: Any
) -> None:
    from paygate.operations import FetchRequest

    rsps.add(responses.GET, f"{BASE}/v2/checkout/orders/{ORDER_ID}", json=order_authorized())
    result = provider.paygate_fetch_transaction(
        FetchRequest(
            **common(),
            operation=OP.FETCH_TRANSACTION,
            provider_reference=ORDER_ID,
            of_operation=OP.CONFIRM,
            amount=usd("100.00"),
        )
    )
    assert result is not None
    assert result.status is S.AUTHORIZED
    assert result.provider_data["authorization_id"] == AUTH_ID


def test_fetch_of_unknown_order_is_none(
    provider: PayPalProvider, rsps: responses.RequestsMock, token: Any
) -> None:
    from paygate.operations import FetchRequest

    rsps.add(
        responses.GET,
        f"{BASE}/v2/checkout/orders/{ORDER_ID}",
        status=404,
        json={
            "name": "RESOURCE_NOT_FOUND",
            "message": "The specified resource does not exist.",
            "details": [{"issue": "INVALID_RESOURCE_ID"}],
        },
    )
    assert (
        provider.paygate_fetch_transaction(
            FetchRequest(
                **common(),
                operation=OP.FETCH_TRANSACTION,
                provider_reference=ORDER_ID,
                of_operation=OP.AUTHORIZE,
            )
        )
        is None
    )

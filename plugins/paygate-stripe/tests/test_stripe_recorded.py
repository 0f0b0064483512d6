"""Recorded layer: the exact requests the plugin sends, answered by ``responses``
with bodies shaped like Stripe's API objects. Also the behaviours localstripe
does not have (over-refunds, idempotency conflicts, decline codes, outages)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import pytest
import requests
import responses
from paygate_stripe.plugin import StripeProvider
from stripe_fixtures import (
    API,
    EXP_YEAR,
    Requests,
    card_error,
    make_provider,
    new_id,
    payment_intent,
    payment_method,
    refund_object,
)

from paygate.errors import (
    AuthenticationError,
    ConfigurationError,
    ErrorCode,
    IdempotencyConflict,
    InvalidRequest,
    InvalidState,
    OperationInProgress,
    ProviderUnavailable,
    UnsupportedFeature,
)
from paygate.models import PayPalWallet, TransactionStatus
from paygate.money import Money
from paygate.operations import Operation

S = TransactionStatus


def form(call: Any) -> dict[str, str]:
    body = call.request.body or ""
    if isinstance(body, bytes):
        body = body.decode()
    return dict(parse_qsl(body, keep_blank_values=True))


def header(call: Any, name: str) -> str | None:
    return call.request.headers.get(name)


# -- authorize / purchase ----------------------------------------------------------


def test_stripe_authorize_with_test_card(
    provider: StripeProvider, mocked: responses.RequestsMock, reqs: Requests, api_key: str
) -> None:
    pm = payment_method()
    pi = payment_intent(status="requires_capture", payment_method=pm["id"])
    mocked.post(f"{API}/v1/payment_methods", json=pm)
    mocked.post(f"{API}/v1/payment_intents", json=pi)
    request = reqs.payment("10.00", "USD", description="Plan Pro", metadata={"order": "42"})

    result = provider.paygate_authorize(request)

    assert result.status is S.AUTHORIZED
    assert result.provider_reference == pi["id"]
    assert result.amount == Money("10.00", "USD")
    assert "client_secret" not in result.raw
    create_pm, create_pi = mocked.calls
    assert create_pm.request.method == "POST"
    assert form(create_pm) == {
        "type": "card",
        "card[number]": "4242424242424242",
        "card[exp_month]": "12",
        "card[exp_year]": str(EXP_YEAR),
        "card[cvc]": "123",
    }
    assert header(create_pm, "Idempotency-Key") == f"{request.idempotency_key}:payment_method"
    assert header(create_pi, "Idempotency-Key") == request.idempotency_key
    assert header(create_pi, "Authorization") == f"Bearer {api_key}"
    assert form(create_pi) == {
        "amount": "1000",
        "currency": "usd",
        "payment_method": pm["id"],
        "payment_method_types[0]": "card",
        "capture_method": "manual",
        "confirm": "true",
        "metadata[order]": "42",
        "metadata[paygate_transaction_id]": request.transaction_id,
        "description": "Plan Pro",
        "return_url": "https://shop.test/back",
    }


def test_stripe_purchase_captures_automatically(
    provider: StripeProvider, mocked: responses.RequestsMock, reqs: Requests
) -> None:
    pm = payment_method()
    pi = payment_intent(status="succeeded", amount=1999, capture_method="automatic")
    mocked.post(f"{API}/v1/payment_methods", json=pm)
    mocked.post(f"{API}/v1/payment_intents", json=pi)

    result = provider.paygate_authorize(
        reqs.payment("19.99", capture=True, operation=Operation.PURCHASE)
    )

    assert result.status is S.CAPTURED
    assert result.amount == Money("19.99", "USD")
    assert form(mocked.calls[1])["capture_method"] == "automatic"


def test_stripe_zero_decimal_amount_sent_in_whole_units(
    provider: StripeProvider, mocked: responses.RequestsMock, reqs: Requests
) -> None:
    pm = payment_method()
    mocked.post(f"{API}/v1/payment_methods", json=pm)
    mocked.post(
        f"{API}/v1/payment_intents",
        json=payment_intent(status="requires_capture", amount=1500, currency="jpy"),
    )
    result = provider.paygate_authorize(reqs.payment("1500", "JPY"))
    assert form(mocked.calls[1])["amount"] == "1500"
    assert form(mocked.calls[1])["currency"] == "jpy"
    assert result.amount == Money("1500", "JPY")


def test_stripe_invalid_amount_refused_before_any_request(
    provider: StripeProvider, mocked: responses.RequestsMock, reqs: Requests
) -> None:
    with pytest.raises(InvalidRequest) as err:
        provider.paygate_authorize(reqs.payment("1.235", "KWD"))
    assert err.value.code is ErrorCode.INVALID_AMOUNT
    assert len(mocked.calls) == 0


@pytest.mark.parametrize(
    ("decline_code", "code"),
    [
        ("insufficient_funds", "insufficient_funds"),
        ("generic_decline", "card_declined"),
        ("lost_card", "pickup_card"),
        ("fraudulent", "fraudulent"),
    ],
)
def test_stripe_decline_becomes_failed_result(
    provider: StripeProvider,
    mocked: responses.RequestsMock,
    reqs: Requests,
    decline_code: str,
    code: str,
) -> None:
    pi = payment_intent(
        status="requires_payment_method",
        last_payment_error={"code": "card_declined", "decline_code": decline_code},
    )
    mocked.post(f"{API}/v1/payment_methods", json=payment_method())
    mocked.post(
        f"{API}/v1/payment_intents",
        status=402,
        json=card_error("card_declined", decline_code, intent=pi),
    )

    result = provider.paygate_authorize(reqs.payment())

    assert result.status is S.FAILED
    assert result.error is not None
    assert result.error.code == code
    assert result.error.decline_code == decline_code
    assert result.provider_reference == pi["id"]
    assert "client_secret" not in str(result.raw)


@pytest.mark.parametrize(
    ("error_code", "code"),
    [
        ("expired_card", "expired_card"),
        ("incorrect_cvc", "incorrect_cvc"),
        ("processing_error", "processing_error"),
    ],
)
def test_stripe_card_error_codes_without_decline_code(
    provider: StripeProvider,
    mocked: responses.RequestsMock,
    reqs: Requests,
    error_code: str,
    code: str,
) -> None:
    mocked.post(f"{API}/v1/payment_methods", json=payment_method())
    mocked.post(f"{API}/v1/payment_intents", status=402, json=card_error(error_code))
    result = provider.paygate_authorize(reqs.payment())
    assert result.status is S.FAILED
    assert result.error is not None
    assert result.error.code == code


def test_stripe_declined_card_at_payment_method_creation(
    provider: StripeProvider, mocked: responses.RequestsMock, reqs: Requests
) -> None:
    # Stripe checks the number when the PaymentMethod is created (402 invalid_number).
    mocked.post(f"{API}/v1/payment_methods", status=402, json=card_error("incorrect_number"))
    result = provider.paygate_authorize(reqs.payment())
    assert result.status is S.FAILED
    assert result.error is not None
    assert result.error.code == "incorrect_number"
    assert len(mocked.calls) == 1


def test_stripe_raw_card_refused_outside_test_mode(
    mocked: responses.RequestsMock, reqs: Requests
) -> None:
    live = make_provider({"api_key": "sk_live_" + "x" * 24}, test_mode=False)
    with pytest.raises(UnsupportedFeature) as err:
        live.paygate_authorize(reqs.payment())
    assert "Stripe.js" in err.value.message
    assert "pm_" in err.value.message
    assert len(mocked.calls) == 0


def test_stripe_paypal_wallet_refused(provider: StripeProvider, reqs: Requests) -> None:
    with pytest.raises(UnsupportedFeature):
        provider.paygate_authorize(reqs.payment(method=PayPalWallet()))


def test_stripe_live_key_in_test_mode_sends_nothing(
    mocked: responses.RequestsMock, reqs: Requests
) -> None:
    provider = make_provider({"api_key": "rk_live_" + "y" * 24}, test_mode=True)
    with pytest.raises(ConfigurationError):
        provider.paygate_authorize(reqs.payment())
    assert len(mocked.calls) == 0


# -- 3-D Secure ----------------------------------------------------------------------


def test_stripe_three_d_secure_redirect_then_confirm(
    provider: StripeProvider, mocked: responses.RequestsMock, reqs: Requests
) -> None:
    pi_id = new_id("pi")
    url = f"https://hooks.stripe.com/3d_secure_2/hosted?merchant=acct_1&payment_intent={pi_id}"
    pending = payment_intent(
        id=pi_id,
        status="requires_action",
        next_action={
            "type": "redirect_to_url",
            "redirect_to_url": {"url": url, "return_url": "https://shop.test/back"},
        },
    )
    mocked.post(f"{API}/v1/payment_methods", json=payment_method())
    mocked.post(f"{API}/v1/payment_intents", json=pending)
    first = provider.paygate_authorize(reqs.payment(method=reqs.card("4000002500003155")))
    assert first.status is S.REQUIRES_ACTION
    assert first.next_action is not None
    assert first.next_action.redirect_url == url
    assert first.next_action.return_url == "https://shop.test/back"

    mocked.get(f"{API}/v1/payment_intents/{pi_id}", json=payment_intent(id=pi_id))
    done = provider.paygate_confirm(reqs.confirm(pi_id))
    assert done.status is S.AUTHORIZED
    assert mocked.calls[-1].request.method == "GET"


def test_stripe_confirm_when_stripe_waits_for_confirmation(
    provider: StripeProvider, mocked: responses.RequestsMock, reqs: Requests
) -> None:
    pi_id = new_id("pi")
    mocked.get(
        f"{API}/v1/payment_intents/{pi_id}",
        json=payment_intent(id=pi_id, status="requires_confirmation"),
    )
    mocked.post(
        f"{API}/v1/payment_intents/{pi_id}/confirm",
        json=payment_intent(id=pi_id, status="succeeded"),
    )
    request = reqs.confirm(pi_id)
    result = provider.paygate_confirm(request)
    assert result.status is S.CAPTURED
    assert header(mocked.calls[1], "Idempotency-Key") == f"{request.idempotency_key}:confirm"


def test_stripe_failed_authentication_is_a_decline(
    provider: StripeProvider, mocked: responses.RequestsMock, reqs: Requests
) -> None:
    pi_id = new_id("pi")
    mocked.get(
        f"{API}/v1/payment_intents/{pi_id}",
        json=payment_intent(
            id=pi_id,
            status="requires_payment_method",
            last_payment_error={
                "code": "payment_intent_authentication_failure",
                "message": "The provided PaymentMethod has failed authentication.",
                "type": "invalid_request_error",
            },
        ),
    )
    result = provider.paygate_confirm(reqs.confirm(pi_id))
    assert result.status is S.FAILED
    assert result.error is not None
    assert result.error.code == "authentication_required"


# -- capture / void / refund -----------------------------------------------------------


def test_stripe_partial_capture(
    provider: StripeProvider, mocked: responses.RequestsMock, reqs: Requests
) -> None:
    pi_id = new_id("pi")
    mocked.post(
        f"{API}/v1/payment_intents/{pi_id}/capture",
        json=payment_intent(id=pi_id, status="succeeded", amount=1000, amount_received=600),
    )
    request = reqs.capture(pi_id, "6.00")
    result = provider.paygate_capture(request)
    assert result.status is S.CAPTURED
    assert result.amount == Money("6.00", "USD")
    assert form(mocked.calls[0]) == {"amount_to_capture": "600"}
    assert header(mocked.calls[0], "Idempotency-Key") == request.idempotency_key


def test_stripe_non_final_partial_capture_refused(
    provider: StripeProvider, mocked: responses.RequestsMock, reqs: Requests
) -> None:
    with pytest.raises(UnsupportedFeature):
        provider.paygate_capture(reqs.capture("pi_1", "6.00", final=False))
    assert len(mocked.calls) == 0


def test_stripe_capture_of_expired_authorization(
    provider: StripeProvider, mocked: responses.RequestsMock, reqs: Requests
) -> None:
    mocked.post(
        f"{API}/v1/payment_intents/pi_old/capture",
        status=400,
        json={
            "error": {
                "type": "invalid_request_error",
                "code": "payment_intent_unexpected_state",
                "message": "This PaymentIntent could not be captured because it has a "
                "status of canceled.",
            }
        },
    )
    with pytest.raises(InvalidState):
        provider.paygate_capture(reqs.capture("pi_old", "10.00"))


def test_stripe_void(
    provider: StripeProvider, mocked: responses.RequestsMock, reqs: Requests
) -> None:
    mocked.post(
        f"{API}/v1/payment_intents/pi_v/cancel", json=payment_intent(id="pi_v", status="canceled")
    )
    request = reqs.void("pi_v")
    assert provider.paygate_void(request).status is S.VOIDED
    assert header(mocked.calls[0], "Idempotency-Key") == request.idempotency_key


def test_stripe_partial_refunds_then_full(
    provider: StripeProvider, mocked: responses.RequestsMock, reqs: Requests
) -> None:
    mocked.post(f"{API}/v1/refunds", json=refund_object(amount=400, payment_intent="pi_r"))
    mocked.post(f"{API}/v1/refunds", json=refund_object(amount=600, payment_intent="pi_r"))
    first = reqs.refund("pi_r", "4.00", reason="requested_by_customer")
    r1 = provider.paygate_refund(first)
    assert r1.status is S.PARTIALLY_REFUNDED
    assert r1.amount == Money("4.00", "USD")
    assert r1.operation_reference
    assert r1.operation_reference.startswith("re_")
    assert form(mocked.calls[0]) == {
        "payment_intent": "pi_r",
        "amount": "400",
        "metadata[paygate_transaction_id]": first.transaction_id,
        "metadata[paygate_idempotency_key]": first.idempotency_key,
        "metadata[paygate_reason]": "requested_by_customer",
        "reason": "requested_by_customer",
    }
    r2 = provider.paygate_refund(reqs.refund("pi_r", "6.00", refunded="4.00", reason="plan change"))
    assert r2.status is S.REFUNDED
    assert "reason" not in form(mocked.calls[1])  # not one of Stripe's reasons
    assert form(mocked.calls[1])["metadata[paygate_reason]"] == "plan change"


def test_stripe_over_refund_refused_before_the_call(
    provider: StripeProvider, mocked: responses.RequestsMock, reqs: Requests
) -> None:
    with pytest.raises(InvalidRequest) as err:
        provider.paygate_refund(reqs.refund("pi_r", "6.01", refunded="4.00"))
    assert err.value.code is ErrorCode.INVALID_AMOUNT
    assert len(mocked.calls) == 0


def test_stripe_failed_refund(
    provider: StripeProvider, mocked: responses.RequestsMock, reqs: Requests
) -> None:
    mocked.post(
        f"{API}/v1/refunds",
        json=refund_object(amount=1000, status="failed", failure_reason="expired_or_canceled_card"),
    )
    result = provider.paygate_refund(reqs.refund("pi_r", "10.00"))
    assert result.status is S.FAILED
    assert result.error is not None
    assert "expired_or_canceled_card" in result.error.message


# -- stored methods and recurring -------------------------------------------------------


def test_stripe_store_payment_method(
    provider: StripeProvider, mocked: responses.RequestsMock, reqs: Requests
) -> None:
    from paygate.models import Customer

    pm = payment_method()
    mocked.post(f"{API}/v1/payment_methods", json=pm)
    mocked.post(f"{API}/v1/customers", json={"id": "cus_9", "object": "customer", "metadata": {}})
    mocked.post(f"{API}/v1/payment_methods/{pm['id']}/attach", json={**pm, "customer": "cus_9"})
    request = reqs.store(customer=Customer(id="acct-7", email="owner@example.com", name="Ada"))

    result = provider.paygate_store_payment_method(request)

    stored = result.stored_method
    assert stored is not None
    assert (stored.provider, stored.token, stored.customer_reference) == (
        "stripe",
        pm["id"],
        "cus_9",
    )
    assert (stored.brand, stored.last4) == ("visa", "4242")
    keys = [header(c, "Idempotency-Key") for c in mocked.calls]
    key = request.idempotency_key
    assert keys == [f"{key}:payment_method", f"{key}:customer", f"{key}:attach"]
    assert form(mocked.calls[1]) == {
        "metadata[paygate_transaction_id]": request.transaction_id,
        "metadata[paygate_customer_id]": "acct-7",
        "email": "owner@example.com",
        "name": "Ada",
    }
    assert form(mocked.calls[2]) == {"customer": "cus_9"}


def test_stripe_store_accepts_a_pm_token_in_live_mode(
    mocked: responses.RequestsMock, reqs: Requests
) -> None:
    live = make_provider(
        {"api_key": "sk_live_" + "z" * 24, "max_network_retries": 0}, test_mode=False
    )
    pm = payment_method(id="pm_from_stripe_js")
    mocked.post(f"{API}/v1/customers", json={"id": "cus_1", "object": "customer"})
    mocked.post(
        f"{API}/v1/payment_methods/pm_from_stripe_js/attach", json={**pm, "customer": "cus_1"}
    )
    result = live.paygate_store_payment_method(reqs.store(reqs.stored("pm_from_stripe_js", None)))
    assert result.stored_method is not None
    assert result.stored_method.customer_reference == "cus_1"


def test_stripe_charge_recurring_off_session(
    provider: StripeProvider, mocked: responses.RequestsMock, reqs: Requests
) -> None:
    mocked.post(
        f"{API}/v1/payment_intents",
        json=payment_intent(status="succeeded", amount=2900, customer="cus_9"),
    )
    request = reqs.payment(
        "29.00",
        method=reqs.stored("pm_saved", "cus_9"),
        capture=True,
        operation=Operation.CHARGE_RECURRING,
    )
    result = provider.paygate_charge_recurring(request)
    assert result.status is S.CAPTURED
    sent = form(mocked.calls[0])
    assert sent["off_session"] == "true"
    assert sent["confirm"] == "true"
    assert sent["customer"] == "cus_9"
    assert sent["payment_method"] == "pm_saved"
    assert "return_url" not in sent  # nobody is there to come back


def test_stripe_charge_recurring_needs_authentication(
    provider: StripeProvider, mocked: responses.RequestsMock, reqs: Requests
) -> None:
    pi = payment_intent(status="requires_payment_method")
    mocked.post(
        f"{API}/v1/payment_intents",
        status=402,
        json=card_error("authentication_required", "authentication_required", intent=pi),
    )
    result = provider.paygate_charge_recurring(
        reqs.payment(
            method=reqs.stored("pm_saved", "cus_9"),
            capture=True,
            operation=Operation.CHARGE_RECURRING,
        )
    )
    assert result.status is S.FAILED
    assert result.error is not None
    assert result.error.code == "authentication_required"
    assert result.provider_reference == pi["id"]


def test_stripe_stored_method_of_another_provider(provider: StripeProvider, reqs: Requests) -> None:
    from paygate.models import StoredPaymentMethod

    other = StoredPaymentMethod(provider="paypal", token="B-123")
    with pytest.raises(InvalidRequest):
        provider.paygate_charge_recurring(reqs.payment(method=other))


# -- outages, idempotency, credentials -------------------------------------------------


def test_stripe_5xx_is_provider_unavailable(
    provider: StripeProvider, mocked: responses.RequestsMock, reqs: Requests
) -> None:
    mocked.post(
        f"{API}/v1/payment_intents/pi_5/capture",
        status=500,
        json={"error": {"type": "api_error", "message": "An unknown error occurred"}},
        headers={"Request-Id": "req_abc"},
    )
    with pytest.raises(ProviderUnavailable) as err:
        provider.paygate_capture(reqs.capture("pi_5", "10.00"))
    assert err.value.request_sent is True
    assert err.value.retry_safe is True
    assert err.value.status_code == 500
    assert "req_abc" in err.value.message


def test_stripe_rate_limit(
    provider: StripeProvider, mocked: responses.RequestsMock, reqs: Requests
) -> None:
    mocked.post(
        f"{API}/v1/payment_intents/pi_6/cancel",
        status=429,
        json={
            "error": {
                "type": "invalid_request_error",
                "code": "rate_limit",
                "message": "Too many requests",
            }
        },
    )
    with pytest.raises(ProviderUnavailable) as err:
        provider.paygate_void(reqs.void("pi_6"))
    assert err.value.code is ErrorCode.RATE_LIMITED
    assert err.value.request_sent is False
    assert err.value.status_code == 429


def test_stripe_connection_refused_was_not_sent(
    provider: StripeProvider, mocked: responses.RequestsMock, reqs: Requests
) -> None:
    mocked.post(
        f"{API}/v1/payment_intents/pi_7/cancel",
        body=requests.exceptions.ConnectTimeout("connect timed out"),
    )
    with pytest.raises(ProviderUnavailable) as err:
        provider.paygate_void(reqs.void("pi_7"))
    assert err.value.request_sent is False
    assert err.value.retry_safe is True


def test_stripe_read_timeout_may_have_been_sent(
    provider: StripeProvider, mocked: responses.RequestsMock, reqs: Requests
) -> None:
    mocked.post(
        f"{API}/v1/payment_intents/pi_8/cancel",
        body=requests.exceptions.ReadTimeout("read timed out"),
    )
    with pytest.raises(ProviderUnavailable) as err:
        provider.paygate_void(reqs.void("pi_8"))
    assert err.value.request_sent is True


@pytest.mark.usefixtures("no_retry_sleep")
def test_stripe_sdk_retries_reuse_the_idempotency_key(
    mocked: responses.RequestsMock, reqs: Requests
) -> None:
    provider = make_provider({"api_key": "sk_test_retry", "max_network_retries": 2})
    mocked.post(
        f"{API}/v1/payment_intents/pi_9/capture", status=500, json={"error": {"type": "api_error"}}
    )
    mocked.post(
        f"{API}/v1/payment_intents/pi_9/capture", status=503, json={"error": {"type": "api_error"}}
    )
    mocked.post(
        f"{API}/v1/payment_intents/pi_9/capture", json=payment_intent(id="pi_9", status="succeeded")
    )
    request = reqs.capture("pi_9", "10.00")
    assert provider.paygate_capture(request).status is S.CAPTURED
    keys = {header(c, "Idempotency-Key") for c in mocked.calls}
    assert len(mocked.calls) == 3
    assert keys == {request.idempotency_key}


def test_stripe_idempotency_key_reused_with_other_parameters(
    provider: StripeProvider, mocked: responses.RequestsMock, reqs: Requests
) -> None:
    mocked.post(
        f"{API}/v1/refunds",
        status=400,
        json={
            "error": {
                "type": "idempotency_error",
                "message": "Keys for idempotent requests can only be used with the same parameters "
                "they were first used with.",
            }
        },
    )
    with pytest.raises(IdempotencyConflict):
        provider.paygate_refund(reqs.refund("pi_r", "1.00"))


def test_stripe_idempotency_key_in_use(
    provider: StripeProvider, mocked: responses.RequestsMock, reqs: Requests
) -> None:
    mocked.post(
        f"{API}/v1/payment_intents/pi_c/cancel",
        status=409,
        json={
            "error": {
                "type": "invalid_request_error",
                "code": "idempotency_key_in_use",
                "message": "There is currently another in-progress request using this "
                "Idempotent Key",
            }
        },
    )
    with pytest.raises(OperationInProgress) as err:
        provider.paygate_void(reqs.void("pi_c"))
    assert err.value.retry_safe


def test_stripe_bad_key(mocked: responses.RequestsMock, reqs: Requests) -> None:
    key = "sk_test_" + "q" * 30
    provider = make_provider({"api_key": key, "max_network_retries": 0})
    mocked.post(
        f"{API}/v1/payment_intents/pi_a/cancel",
        status=401,
        json={
            "error": {
                "type": "invalid_request_error",
                "message": f"Invalid API Key provided: {key}",
            }
        },
    )
    with pytest.raises(AuthenticationError) as err:
        provider.paygate_void(reqs.void("pi_a"))
    assert key not in err.value.message
    assert "qqqq" not in err.value.message


# -- reconciling -------------------------------------------------------------------------


def test_stripe_fetch_by_reference(
    provider: StripeProvider, mocked: responses.RequestsMock, reqs: Requests
) -> None:
    mocked.get(f"{API}/v1/payment_intents/pi_f", json=payment_intent(id="pi_f", status="succeeded"))
    result = provider.paygate_fetch_transaction(reqs.fetch("txn_1", "pi_f"))
    assert result is not None
    assert result.status is S.CAPTURED


def test_stripe_fetch_unknown_reference(
    provider: StripeProvider, mocked: responses.RequestsMock, reqs: Requests
) -> None:
    mocked.get(
        f"{API}/v1/payment_intents/pi_gone",
        status=404,
        json={
            "error": {
                "type": "invalid_request_error",
                "code": "resource_missing",
                "message": "No such payment_intent: 'pi_gone'",
            }
        },
    )
    assert provider.paygate_fetch_transaction(reqs.fetch("txn_1", "pi_gone")) is None


def test_stripe_fetch_lost_answer_by_search(
    provider: StripeProvider, mocked: responses.RequestsMock, reqs: Requests
) -> None:
    pi = payment_intent(metadata={"paygate_transaction_id": "txn_lost"})
    mocked.get(
        f"{API}/v1/payment_intents/search",
        json={
            "object": "search_result",
            "data": [pi],
            "has_more": False,
            "next_page": None,
            "url": "/v1/payment_intents/search",
        },
    )
    result = provider.paygate_fetch_transaction(reqs.fetch("txn_lost"))
    assert result is not None
    assert result.provider_reference == pi["id"]
    assert result.status is S.AUTHORIZED
    query = dict(parse_qsl(mocked.calls[0].request.url.split("?", 1)[1]))
    assert query["query"] == "metadata['paygate_transaction_id']:'txn_lost'"


def test_stripe_fetch_falls_back_to_listing(
    provider: StripeProvider, mocked: responses.RequestsMock, reqs: Requests
) -> None:
    pi = payment_intent(status="succeeded", metadata={"paygate_transaction_id": "txn_l"})
    other = payment_intent(metadata={"paygate_transaction_id": "txn_other"})
    mocked.get(
        f"{API}/v1/payment_intents/search",
        status=404,
        json={"error": {"type": "invalid_request_error", "message": "Not Found"}},
    )
    mocked.get(
        f"{API}/v1/payment_intents",
        json={
            "object": "list",
            "data": [other, pi],
            "has_more": False,
            "url": "/v1/payment_intents",
        },
    )
    result = provider.paygate_fetch_transaction(reqs.fetch("txn_l"))
    assert result is not None
    assert result.provider_reference == pi["id"]


def test_stripe_fetch_never_happened(
    provider: StripeProvider, mocked: responses.RequestsMock, reqs: Requests
) -> None:
    mocked.get(
        f"{API}/v1/payment_intents/search",
        json={
            "object": "search_result",
            "data": [],
            "has_more": False,
            "url": "/v1/payment_intents/search",
        },
    )
    mocked.get(
        f"{API}/v1/payment_intents",
        json={"object": "list", "data": [], "has_more": False, "url": "/v1/payment_intents"},
    )
    assert provider.paygate_fetch_transaction(reqs.fetch("txn_none")) is None


def test_stripe_fetch_refund_by_idempotency_key(
    provider: StripeProvider, mocked: responses.RequestsMock, reqs: Requests
) -> None:
    pi = payment_intent(id="pi_rf", status="succeeded", amount=1000)
    mine = refund_object(
        amount=300, payment_intent="pi_rf", metadata={"paygate_idempotency_key": "key_r2"}
    )
    earlier = refund_object(
        amount=200, payment_intent="pi_rf", metadata={"paygate_idempotency_key": "key_r1"}
    )
    mocked.get(f"{API}/v1/payment_intents/pi_rf", json=pi)
    mocked.get(
        f"{API}/v1/refunds",
        json={"object": "list", "data": [mine, earlier], "has_more": False, "url": "/v1/refunds"},
    )
    result = provider.paygate_fetch_transaction(
        reqs.fetch("txn_r", "pi_rf", of=Operation.REFUND, idempotency_key="key_r2")
    )
    assert result is not None
    assert result.operation_reference == mine["id"]
    assert result.amount == Money("3.00", "USD")
    assert result.status is S.PARTIALLY_REFUNDED
    # a refund Stripe has no trace of: it never happened
    mocked.get(f"{API}/v1/payment_intents/pi_rf", json=pi)
    mocked.get(
        f"{API}/v1/refunds",
        json={"object": "list", "data": [earlier], "has_more": False, "url": "/v1/refunds"},
    )
    assert (
        provider.paygate_fetch_transaction(
            reqs.fetch("txn_r", "pi_rf", of=Operation.REFUND, idempotency_key="key_r9")
        )
        is None
    )


def test_stripe_client_is_built_once(
    provider: StripeProvider, mocked: responses.RequestsMock, reqs: Requests
) -> None:
    mocked.post(
        f"{API}/v1/payment_intents/pi_x/cancel", json=payment_intent(id="pi_x", status="canceled")
    )
    mocked.post(
        f"{API}/v1/payment_intents/pi_y/cancel", json=payment_intent(id="pi_y", status="canceled")
    )
    provider.paygate_void(reqs.void("pi_x"))
    first = provider.client()
    provider.paygate_void(reqs.void("pi_y"))
    assert provider.client() is first

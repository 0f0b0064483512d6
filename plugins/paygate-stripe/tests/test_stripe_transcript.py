"""What of a PaymentIntent reaches the ledger's transcript: an allow-list."""

from __future__ import annotations

from typing import Any

import pytest
from paygate_stripe.plugin import INTENT_FIELDS, StripeProvider, _intent_record
from stripe._util import convert_to_stripe_object

from paygate.models import TransactionStatus
from paygate.money import Money

PAN = "4242424242424242"


def _intent(**extra: Any) -> dict[str, Any]:
    return {
        "id": "pi_123",
        "object": "payment_intent",
        "amount": 2500,
        "amount_capturable": 2500,
        "amount_received": 0,
        "currency": "usd",
        "status": "requires_capture",
        "client_secret": "pi_123_secret_456",
        "capture_method": "manual",
        "metadata": {"paygate_transaction_id": "txn_1"},
        "shipping": {"name": "Jane", "address": {"line1": "1 Main St"}},
        "receipt_email": "jane@example.com",
        "payment_method": {
            "id": "pm_1",
            "object": "payment_method",
            "billing_details": {"name": "Jane"},
            "card": {"last4": "4242", "number": PAN},
        },
        "customer": "cus_1",
        "last_payment_error": None,
        "next_action": None,
        **extra,
    }


@pytest.mark.parametrize("as_sdk_object", [False, True])
def test_only_allow_listed_fields_are_kept(as_sdk_object: bool) -> None:
    body = _intent(
        last_payment_error={
            "code": "card_declined",
            "decline_code": "insufficient_funds",
            "message": "Your card has insufficient funds.",
            "payment_method": {"id": "pm_1", "card": {"number": PAN}},
        }
    )
    found = convert_to_stripe_object(body, None, None, None) if as_sdk_object else body
    record = _intent_record(found)
    assert set(record) <= set(INTENT_FIELDS)
    assert "client_secret" not in record
    assert "shipping" not in record and "receipt_email" not in record
    # An expanded object is kept as its id only.
    assert record["payment_method"] == "pm_1"
    assert record["customer"] == "cus_1"
    assert record["last_payment_error"] == {
        "code": "card_declined",
        "decline_code": "insufficient_funds",
        "message": "Your card has insufficient funds.",
    }
    assert record["metadata"] == {"paygate_transaction_id": "txn_1"}
    assert type(record["metadata"]) is dict
    assert PAN not in repr(record)


def test_result_from_the_sdk_object_is_the_result_from_its_dict() -> None:
    provider = StripeProvider()
    body = _intent()
    from_object = provider._from_intent(convert_to_stripe_object(body, None, None, None))
    from_dict = provider._from_intent(body)
    assert from_object == from_dict
    assert from_object.status is TransactionStatus.AUTHORIZED
    assert from_object.amount == Money("25.00", "USD")
    assert from_object.provider_reference == "pi_123"
    assert "client_secret" not in from_object.raw

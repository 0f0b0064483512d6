"""Recorded PayPal sandbox answers standing in for the network (``paygate demo``).

Needs the ``demo`` extra (``pip install paygate-paypal[demo]``: ``responses``)::

    from paygate_paypal.recorded import paypal_sandbox_responses

    with paypal_sandbox_responses() as recorder:
        payments = paygate.Payments({"paypal": {"client_id": "demo", "client_secret": "demo"}})
        txn = payments.purchase(Money("49.00", "USD"), PayPalWallet(), provider="paypal")
        # the payer would approve at txn.next_action.redirect_url; the recording approves
        txn = payments.confirm(txn.id)
        print(recorder.calls)  # what went over the (fake) wire

The bodies are shaped like PayPal's sandbox answers (ids, statuses, HATEOAS
links); amounts, currencies and ``custom_id`` echo the request so any demo
scenario plays. The payer's approval is assumed: an order is approvable at once.
Only the PayPal base URL is intercepted; anything else is refused with a
connection error (nothing leaves the machine).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from paygate_paypal.client import SANDBOX_BASE

_WEB = "https://www.sandbox.paypal.com"
Answer = tuple[int, dict[str, str], str]


@dataclass
class Recorder:
    """State of the recorded PayPal: orders, authorizations, captures, refunds."""

    api_base: str = SANDBOX_BASE
    calls: list[tuple[str, str]] = field(default_factory=list)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_request_id: dict[str, Answer] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def new_id(self, prefix: str) -> str:
        # PayPal ids are 17 upper-case alphanumerics
        return f"{prefix}{next(self._ids):0{17 - len(prefix)}d}"[:17]

    def link(self, path: str, rel: str, method: str = "GET") -> dict[str, str]:
        return {"href": f"{self.api_base}{path}", "rel": rel, "method": method}


def _json(status: int, body: dict[str, Any]) -> Answer:
    return status, {"Content-Type": "application/json"}, json.dumps(body)


def _request_body(request: Any) -> dict[str, Any]:
    raw = request.body
    if not raw:
        return {}
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _idempotent(rec: Recorder, request: Any, make: Any) -> Answer:
    """PayPal replays the stored answer for a repeated PayPal-Request-Id."""
    key = request.headers.get("PayPal-Request-Id")
    if key and key in rec.by_request_id:
        stored: Answer = rec.by_request_id[key]
        return stored
    answer: Answer = make()
    if key and answer[0] < 300:
        rec.by_request_id[key] = answer
    return answer


def _install(mock: Any, rec: Recorder) -> None:
    base = re.escape(rec.api_base)

    def on(method: str, pattern: str, handler: Any) -> None:
        def callback(request: Any) -> Answer:
            rec.calls.append((request.method, request.path_url))
            answer: Answer = handler(request, re.match(f"^{base}{pattern}", request.url))
            return answer

        mock.add_callback(method, re.compile(f"^{base}{pattern}(\\?.*)?$"), callback=callback)

    def token(request: Any, _m: Any) -> Answer:
        return _json(
            200,
            {
                "scope": "https://uri.paypal.com/services/payments/payment",
                "access_token": "A21AArecorded-demo-token",
                "token_type": "Bearer",
                "app_id": "APP-80W284485P519543T",
                "expires_in": 32400,
                "nonce": "2026-09-20T10:00:00Zrecorded",
            },
        )

    def create_order(request: Any, _m: Any) -> Answer:
        def make() -> Answer:
            body = _request_body(request)
            unit = dict((body.get("purchase_units") or [{}])[0])
            order_id = rec.new_id("5O")
            source = (body.get("payment_source") or {}).get("paypal") or {}
            order = {
                "id": order_id,
                "intent": body.get("intent", "CAPTURE"),
                "status": "PAYER_ACTION_REQUIRED",
                "purchase_units": [{"reference_id": "default", **unit}],
                "payment_source": {"paypal": {}},
                "create_time": "2026-09-20T10:00:00Z",
                "links": [
                    rec.link(f"/v2/checkout/orders/{order_id}", "self"),
                    {
                        "href": f"{_WEB}/checkoutnow?token={order_id}",
                        "rel": "payer-action",
                        "method": "GET",
                    },
                ],
            }
            rec.orders[order_id] = order
            vault = (source.get("attributes") or {}).get("vault") or {}
            if vault.get("store_in_vault") == "ON_SUCCESS":
                order["_vault_on_success"] = True
            if source.get("vault_id"):  # merchant-initiated: completes at once
                _complete(rec, order, vault_id=source["vault_id"])
                return _json(201, order)
            return _json(200, order)

        return _idempotent(rec, request, make)

    def complete_order(request: Any, m: Any) -> Answer:
        order = rec.orders.get(m.group(1))
        if order is None:
            return _not_found()

        def make() -> Answer:
            _complete(rec, order)
            return _json(201, order)

        return _idempotent(rec, request, make)

    def get_order(request: Any, m: Any) -> Answer:
        order = rec.orders.get(m.group(1))
        return _json(200, order) if order is not None else _not_found()

    def capture_authorization(request: Any, m: Any) -> Answer:
        found = _find(rec, "authorizations", m.group(1))
        if found is None:
            return _not_found()
        order, auth = found

        def make() -> Answer:
            body = _request_body(request)
            capture = _payment(rec, "capture", order, body.get("amount") or auth["amount"])
            capture["final_capture"] = bool(body.get("final_capture", True))
            _payments(order).setdefault("captures", []).append(capture)
            auth["status"] = "CAPTURED" if capture["final_capture"] else "PARTIALLY_CAPTURED"
            return _json(201, capture)

        return _idempotent(rec, request, make)

    def void(request: Any, m: Any) -> Answer:
        found = _find(rec, "authorizations", m.group(1))
        if found is None:
            return _not_found()
        _order, auth = found
        auth["status"] = "VOIDED"
        return _json(200, auth)

    def refund(request: Any, m: Any) -> Answer:
        found = _find(rec, "captures", m.group(1))
        if found is None:
            return _not_found()
        order, capture = found

        def make() -> Answer:
            body = _request_body(request)
            item = _payment(rec, "refund", order, body.get("amount") or capture["amount"])
            _payments(order).setdefault("refunds", []).append(item)
            return _json(201, item)

        return _idempotent(rec, request, make)

    def reauthorize(request: Any, m: Any) -> Answer:
        found = _find(rec, "authorizations", m.group(1))
        if found is None:
            return _not_found()
        order, auth = found
        body = _request_body(request)
        new = _payment(rec, "authorization", order, body.get("amount") or auth["amount"])
        _payments(order)["authorizations"].append(new)
        return _json(201, new)

    def setup_token(request: Any, _m: Any) -> Answer:
        token_id = rec.new_id("5C")
        return _json(
            201,
            {
                "id": token_id,
                "customer": {"id": "customer_4029352050"},
                "status": "PAYER_ACTION_REQUIRED",
                "payment_source": {"paypal": {"usage_type": "MERCHANT"}},
                "links": [
                    {
                        "href": f"{_WEB}/agreements/approve?approval_session_id={token_id}",
                        "rel": "approve",
                        "method": "GET",
                    },
                    rec.link(f"/v3/vault/setup-tokens/{token_id}", "self"),
                ],
            },
        )

    def payment_token(request: Any, _m: Any) -> Answer:
        token_id = rec.new_id("8K").lower()
        return _json(
            201,
            {
                "id": token_id,
                "customer": {"id": "customer_4029352050"},
                "payment_source": {
                    "paypal": {"email_address": "buyer@example.com", "usage_type": "MERCHANT"}
                },
                "links": [rec.link(f"/v3/vault/payment-tokens/{token_id}", "self")],
            },
        )

    def verify_webhook(request: Any, _m: Any) -> Answer:
        return _json(200, {"verification_status": "SUCCESS"})

    on("POST", r"/v1/oauth2/token", token)
    on("POST", r"/v2/checkout/orders", create_order)
    on("POST", r"/v2/checkout/orders/([A-Z0-9]+)/(?:authorize|capture)", complete_order)
    on("GET", r"/v2/checkout/orders/([A-Z0-9]+)", get_order)
    on("POST", r"/v2/payments/authorizations/([A-Z0-9]+)/capture", capture_authorization)
    on("POST", r"/v2/payments/authorizations/([A-Z0-9]+)/void", void)
    on("POST", r"/v2/payments/authorizations/([A-Z0-9]+)/reauthorize", reauthorize)
    on("POST", r"/v2/payments/captures/([A-Z0-9]+)/refund", refund)
    on("POST", r"/v3/vault/setup-tokens", setup_token)
    on("POST", r"/v3/vault/payment-tokens", payment_token)
    on("POST", r"/v1/notifications/verify-webhook-signature", verify_webhook)


def _not_found() -> Answer:
    return _json(
        404,
        {
            "name": "RESOURCE_NOT_FOUND",
            "message": "The specified resource does not exist.",
            "debug_id": "f0e7c1a2b3d4e",
            "details": [
                {
                    "issue": "INVALID_RESOURCE_ID",
                    "description": "Specified resource ID does not exist.",
                }
            ],
        },
    )


def _payments(order: dict[str, Any]) -> dict[str, Any]:
    unit: dict[str, Any] = order["purchase_units"][0]
    payments: dict[str, Any] = unit.setdefault("payments", {})
    return payments


def _payment(
    rec: Recorder, kind: str, order: dict[str, Any], amount: dict[str, Any]
) -> dict[str, Any]:
    prefix = {"capture": "3C", "refund": "1J", "authorization": "0V"}[kind]
    pid = rec.new_id(prefix)
    path = {"capture": "captures", "refund": "refunds", "authorization": "authorizations"}[kind]
    unit = order["purchase_units"][0]
    status = {"capture": "COMPLETED", "refund": "COMPLETED", "authorization": "CREATED"}[kind]
    item: dict[str, Any] = {
        "id": pid,
        "status": status,
        "amount": dict(amount),
        "custom_id": unit.get("custom_id"),
        "supplementary_data": {"related_ids": {"order_id": order["id"]}},
        "create_time": "2026-09-20T10:01:00Z",
        "links": [rec.link(f"/v2/payments/{path}/{pid}", "self")],
    }
    if kind == "authorization":
        item["expiration_time"] = "2026-10-19T10:01:00Z"
    return item


def _complete(rec: Recorder, order: dict[str, Any], vault_id: str | None = None) -> None:
    if order["status"] == "COMPLETED":
        return
    if order.pop("_vault_on_success", False):
        vault_id = rec.new_id("8K").lower()
    unit = order["purchase_units"][0]
    kind = "capture" if order["intent"] == "CAPTURE" else "authorization"
    item = _payment(rec, kind, order, unit["amount"])
    _payments(order)[kind + "s"] = [item]
    order["status"] = "COMPLETED"
    order["payer"] = {
        "name": {"given_name": "Amara", "surname": "Okafor"},
        "email_address": "buyer@example.com",
        "payer_id": "QYR5Z8XDVJNXQ",
        "address": {"country_code": "NG"},
    }
    order["payment_source"] = {
        "paypal": {
            "email_address": "buyer@example.com",
            "account_id": "QYR5Z8XDVJNXQ",
            "account_status": "VERIFIED",
            **(
                {"attributes": {"vault": {"id": vault_id, "status": "VAULTED"}}} if vault_id else {}
            ),
        }
    }


def _find(rec: Recorder, kind: str, pid: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    for order in rec.orders.values():
        for item in _payments(order).get(kind, []):
            if item["id"] == pid:
                return order, item
    return None


@contextmanager
def paypal_sandbox_responses(api_base: str = SANDBOX_BASE) -> Iterator[Recorder]:
    """Intercept PayPal's API at ``api_base`` with recorded sandbox answers.

    :raises ImportError: without the ``demo`` extra (``responses``).
    """
    try:
        import responses
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "paygate_paypal.recorded needs the demo extra: pip install 'paygate-paypal[demo]'"
        ) from exc
    rec = Recorder(api_base=api_base.rstrip("/"))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        _install(mock, rec)
        yield rec

"""The PayPal provider: PayPal Checkout through Orders v2, Payments v2 and Vault v3.

Flow of a PayPal payment::

    authorize/purchase -> POST /v2/checkout/orders (intent AUTHORIZE or CAPTURE)
                          -> requires_action, next_action = payer-approval URL
    (payer approves on PayPal, comes back to return_url)
    confirm            -> POST /v2/checkout/orders/{id}/authorize  -> authorized
                       or POST /v2/checkout/orders/{id}/capture    -> captured
    capture            -> POST /v2/payments/authorizations/{auth}/capture
    void               -> POST /v2/payments/authorizations/{auth}/void
    refund             -> POST /v2/payments/captures/{capture}/refund
    reauthorize        -> POST /v2/payments/authorizations/{auth}/reauthorize (plugin method)

What the core must keep between operations travels in ``provider_data``
(strings only): ``intent``, ``authorization_id``, ``captures`` (``id=minor;...``),
``refunded`` (``capture_id=minor;...``), ``vault_id``, ``setup_token``.

This module imports neither PayPal's SDK nor ``requests``: both load on the
first operation (see :mod:`paygate_paypal.client`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import paygate
from paygate.errors import (
    ErrorCode,
    InvalidRequest,
    InvalidState,
    ProviderUnavailable,
    UnsupportedFeature,
)
from paygate.models import (
    Capabilities,
    ErrorInfo,
    NextAction,
    PayPalWallet,
    ProviderInfo,
    StoredPaymentMethod,
    TransactionStatus,
    WebhookEvent,
)
from paygate.money import Money
from paygate.operations import (
    CaptureRequest,
    ConfirmRequest,
    FetchRequest,
    Operation,
    PaymentRequest,
    ProviderResult,
    RefundRequest,
    StoreRequest,
    VoidRequest,
    WebhookRequest,
)
from paygate_paypal import __version__
from paygate_paypal.amounts import CURRENCIES, from_paypal, to_paypal
from paygate_paypal.client import PayPalAPIError, PayPalClient, Settings
from paygate_paypal.errors import is_decline

if TYPE_CHECKING:
    from paygate.config import Config
    from paygate.pricing.models import FeeContext, FeeLine

NAME = "paypal"
S = TransactionStatus
#: PayPal-Request-Id is at most 108 characters.
_MAX_REQUEST_ID = 108
_PREFER = "return=representation"


def request_id(key: str, part: int = 0) -> str:
    """The ``PayPal-Request-Id`` for an idempotency key (and the n-th sub-request).

    Keys that fit are sent as they are (easy to find in PayPal's dashboard);
    longer ones, and sub-requests of one refund split over several captures,
    get a stable digest so a retry with the same key replays the same calls.
    """
    raw = key if part == 0 else f"{key}#{part}"
    if len(raw) <= _MAX_REQUEST_ID:
        return raw
    return "pg-" + hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _ledger(value: str | None) -> list[tuple[str, int]]:
    """``"id=minor;id=minor"`` -> pairs, in order."""
    out: list[tuple[str, int]] = []
    for item in (value or "").split(";"):
        if "=" in item:
            ref, _, minor = item.partition("=")
            out.append((ref, int(minor)))
    return out


def _unledger(pairs: list[tuple[str, int]]) -> str:
    return ";".join(f"{ref}={minor}" for ref, minor in pairs)


def _link(body: Mapping[str, Any], *rels: str) -> str | None:
    links = body.get("links")
    if not isinstance(links, list):
        return None
    for rel in rels:
        for link in links:
            if isinstance(link, dict) and link.get("rel") == rel and link.get("href"):
                return str(link["href"])
    return None


def _payments(order: Mapping[str, Any]) -> dict[str, Any]:
    units = order.get("purchase_units")
    if isinstance(units, list) and units and isinstance(units[0], dict):
        payments = units[0].get("payments")
        if isinstance(payments, dict):
            return payments
    return {}


def _first(items: object) -> dict[str, Any]:
    if isinstance(items, list) and items and isinstance(items[0], dict):
        return items[0]
    return {}


def _vault_id(order: Mapping[str, Any]) -> str | None:
    try:
        vault = order["payment_source"]["paypal"]["attributes"]["vault"]
    except (KeyError, TypeError):
        return None
    value = vault.get("id") if isinstance(vault, dict) else None
    return str(value) if value else None


def _refund_call(options: dict[str, str]) -> Any:
    # a closure per part: the loop variable must not be captured late
    def call(sdk: Any) -> Any:
        return sdk.payments.refund_captured_payment(options)

    return call


#: The shapes of PayPal's secrets (``paygate_secret_patterns``): OAuth access
#: tokens (``A21AA...``) and the ``Basic`` credentials of the token call. The
#: configured client secret is scrubbed as itself (a ``*secret*`` key). PayPal's
#: ids (``5O190127TN364715T``, ``0VF52814937998046``) match none of them.
SECRET_PATTERNS = (
    r"\bA21AA[A-Za-z0-9._-]{16,}",
    r"(?i:basic)\s+[A-Za-z0-9+/=]{8,}",
)


class PayPalProvider:
    """paygate's PayPal provider plugin (entry point ``paypal`` in group ``paygate``)."""

    def __init__(self) -> None:
        self._settings = Settings()
        self._client: PayPalClient | None = None
        self._test_mode = True

    def __repr__(self) -> str:
        return f"PayPalProvider(environment={self._settings.environment!r})"

    @property
    def client(self) -> PayPalClient:
        if self._client is None:
            self._client = PayPalClient(self._settings)
        return self._client

    # -- set-up ------------------------------------------------------------

    @paygate.hookimpl
    def paygate_configure(self, config: Config) -> None:
        self._test_mode = config.test_mode
        self._settings = Settings.from_config(config.section(NAME), test_mode=config.test_mode)
        self._client = None

    @paygate.hookimpl
    def paygate_secret_patterns(self) -> list[str]:
        patterns = list(SECRET_PATTERNS)
        settings = getattr(self, "_settings", None)
        if settings is not None and settings.client_id and settings.client_secret:
            # The token call's Basic credential, should PayPal echo it bare.
            pair = f"{settings.client_id}:{settings.client_secret}".encode()
            patterns.append(re.escape(base64.b64encode(pair).decode()))
        return patterns

    @paygate.hookimpl
    def paygate_provider_info(self) -> ProviderInfo:
        return ProviderInfo(
            name=NAME,
            display_name="PayPal",
            version=__version__,
            currencies=CURRENCIES,
            payment_methods=frozenset({"paypal", "stored"}),
            card_brands=frozenset(),
            capabilities=Capabilities(
                authorize=True,
                capture=True,
                partial_capture=True,
                multiple_captures=True,
                void=True,
                refund=True,
                partial_refund=True,
                multiple_refunds=True,
                # PayPal has no zero/$1 check for a PayPal account: the payer's
                # approval (or a vault setup token) is the check.
                verify=False,
                recurring=True,
                store_payment_method=True,
                three_d_secure=False,
                webhooks=True,
                reauthorize=True,
            ),
            test_mode=self._settings.environment != "live",
        )

    # -- payments ----------------------------------------------------------

    @paygate.hookimpl
    def paygate_authorize(self, request: PaymentRequest) -> ProviderResult:
        method = request.method
        if isinstance(method, StoredPaymentMethod):
            return self._charge_vaulted(request, method)
        if not isinstance(method, PayPalWallet):
            raise UnsupportedFeature(
                "the paypal provider takes PayPal wallets and vaulted PayPal accounts, not cards",
                param="method",
            )
        intent = "CAPTURE" if request.capture else "AUTHORIZE"
        experience: dict[str, Any] = {
            "return_url": request.return_url or method.return_url,
            "cancel_url": method.cancel_url,
            "user_action": "PAY_NOW",
            "shipping_preference": "NO_SHIPPING",
        }
        paypal: dict[str, Any] = {"experience_context": experience}
        if method.email:
            paypal["email_address"] = method.email
        if request.metadata.get("paypal_vault") == "on_success":
            # Save the PayPal account with this payment, sparing the payer a
            # second approval; the token comes back in provider_data["vault_id"]
            # after confirm.
            paypal["attributes"] = {
                "vault": {
                    "store_in_vault": "ON_SUCCESS",
                    "usage_type": "MERCHANT",
                    "customer_type": "CONSUMER",
                }
            }
        body = {
            "intent": intent,
            "purchase_units": [self._purchase_unit(request)],
            "payment_source": {"paypal": paypal},
        }
        key = request_id(request.idempotency_key)
        try:
            order = self.client.call(
                lambda sdk: sdk.orders.create_order(
                    {"body": json.dumps(body), "paypal_request_id": key, "prefer": _PREFER}
                )
            )
        except PayPalAPIError as err:
            return self._failed(err)
        approve = _link(order, "payer-action", "approve")
        order_id = str(order.get("id") or "")
        if not order_id or not approve:
            raise ProviderUnavailable(
                "PayPal created no order or no approval link",
                request_sent=True,
                retry_safe=True,
            )
        return ProviderResult(
            status=S.REQUIRES_ACTION,
            provider_reference=order_id,
            next_action=NextAction(
                type="approve",
                redirect_url=approve,
                return_url=experience["return_url"],
            ),
            provider_data={"intent": intent, "order_status": str(order.get("status", ""))},
            raw=order,
        )

    @paygate.hookimpl
    def paygate_charge_recurring(self, request: PaymentRequest) -> ProviderResult:
        method = request.method
        if not isinstance(method, StoredPaymentMethod):
            raise InvalidRequest(
                "charge_recurring needs a StoredPaymentMethod (a PayPal vault token)",
                param="method",
            )
        return self._charge_vaulted(request, method)

    def _charge_vaulted(
        self, request: PaymentRequest, method: StoredPaymentMethod
    ) -> ProviderResult:
        """Merchant-initiated charge of a Vault v3 payment token: no payer present."""
        if method.provider != NAME:
            raise InvalidRequest(
                f"stored method belongs to {method.provider!r}, not paypal", param="method"
            )
        intent = "CAPTURE" if request.capture or request.off_session else "AUTHORIZE"
        body = {
            "intent": intent,
            "purchase_units": [self._purchase_unit(request)],
            "payment_source": {
                "paypal": {
                    "vault_id": method.token,
                    "stored_credential": {
                        "payment_initiator": "MERCHANT",
                        "usage": "SUBSEQUENT",
                        "usage_pattern": "SUBSCRIPTION_PREPAID",
                    },
                }
            },
        }
        # PayPal requires PayPal-Request-Id on single-step orders like this one.
        key = request_id(request.idempotency_key)
        try:
            order = self.client.call(
                lambda sdk: sdk.orders.create_order(
                    {"body": json.dumps(body), "paypal_request_id": key, "prefer": _PREFER}
                )
            )
        except PayPalAPIError as err:
            return self._failed(err)
        return self._order_result(order, intent=intent, request_amount=request.amount)

    @paygate.hookimpl
    def paygate_confirm(self, request: ConfirmRequest) -> ProviderResult:
        data = request.provider_data
        if data.get("setup_token"):
            return self._finish_vault_setup(request)
        order_id = self._order_id(request.provider_reference)
        intent = data.get("intent") or ("CAPTURE" if request.capture else "AUTHORIZE")
        key = request_id(request.idempotency_key)
        options = {"id": order_id, "paypal_request_id": key, "prefer": _PREFER}
        try:
            if intent == "CAPTURE":
                order = self.client.call(lambda sdk: sdk.orders.capture_order(options))
            else:
                order = self.client.call(lambda sdk: sdk.orders.authorize_order(options))
        except PayPalAPIError as err:
            return self._failed(err, reference=order_id)
        return self._order_result(order, intent=intent, request_amount=request.amount)

    @paygate.hookimpl
    def paygate_capture(self, request: CaptureRequest) -> ProviderResult:
        auth_id = self._authorization_id(request.provider_data)
        body = {"amount": to_paypal(request.amount), "final_capture": request.final}
        key = request_id(request.idempotency_key)
        try:
            capture = self.client.call(
                lambda sdk: sdk.payments.capture_authorized_payment(
                    {
                        "authorization_id": auth_id,
                        "body": json.dumps(body),
                        "paypal_request_id": key,
                        "prefer": _PREFER,
                    }
                )
            )
        except PayPalAPIError as err:
            return self._failed(err, reference=request.provider_reference)
        capture_id = str(capture.get("id") or "")
        if capture.get("status") in ("DECLINED", "FAILED"):
            return self._declined_capture(capture, request.provider_reference)
        moved = from_paypal(capture.get("amount")) or request.amount
        captures = _ledger(request.provider_data.get("captures"))
        captures.append((capture_id, moved.minor_units))
        total = request.captured + moved
        status = (
            S.CAPTURED if request.final or total >= request.authorized else S.PARTIALLY_CAPTURED
        )
        return ProviderResult(
            status=status,
            provider_reference=request.provider_reference,
            operation_reference=capture_id,
            amount=moved,
            provider_data={
                "captures": _unledger(captures),
                "capture_status": str(capture.get("status", "")),
            },
            raw=capture,
        )

    @paygate.hookimpl
    def paygate_void(self, request: VoidRequest) -> ProviderResult:
        auth_id = self._authorization_id(request.provider_data)
        key = request_id(request.idempotency_key)
        try:
            answer = self.client.call(
                lambda sdk: sdk.payments.void_payment(
                    {"authorization_id": auth_id, "paypal_request_id": key, "prefer": _PREFER}
                )
            )
        except PayPalAPIError as err:
            return self._failed(err, reference=request.provider_reference)
        return ProviderResult(
            status=S.VOIDED,
            provider_reference=request.provider_reference,
            operation_reference=auth_id,
            raw=answer,
        )

    @paygate.hookimpl
    def paygate_refund(self, request: RefundRequest) -> ProviderResult:
        captures = _ledger(request.provider_data.get("captures"))
        if not captures:
            raise InvalidState("nothing captured at PayPal for this transaction: nothing to refund")
        refunded = dict(_ledger(request.provider_data.get("refunded")))
        currency = request.amount.currency
        remaining = request.amount.minor_units
        plan: list[tuple[str, int]] = []
        # Oldest capture first: PayPal refunds per capture, the host refunds per payment.
        for capture_id, captured_minor in captures:
            room = captured_minor - refunded.get(capture_id, 0)
            if remaining <= 0:
                break
            if room > 0:
                take = min(room, remaining)
                plan.append((capture_id, take))
                remaining -= take
        if remaining > 0:
            raise InvalidRequest(
                "refund exceeds what is left to refund at PayPal",
                code=ErrorCode.INVALID_AMOUNT,
                param="amount",
            )
        refund_ids: list[str] = []
        raws: list[dict[str, Any]] = []
        for part, (capture_id, minor) in enumerate(plan):
            body: dict[str, Any] = {
                "amount": to_paypal(Money.from_minor(minor, currency)),
                "custom_id": request.transaction_id,
            }
            if request.reason:
                body["note_to_payer"] = request.reason[:255]
            options = {
                "capture_id": capture_id,
                "body": json.dumps(body),
                "paypal_request_id": request_id(request.idempotency_key, part),
                "prefer": _PREFER,
            }
            try:
                answer = self.client.call(_refund_call(options))
            except PayPalAPIError as err:
                if part == 0:
                    return self._failed(err, reference=request.provider_reference)
                # An earlier part went through: report the error; a retry with the
                # same idempotency key replays the parts PayPal already did.
                raise err.to_exception() from None
            if answer.get("status") in ("FAILED", "CANCELLED"):
                raise InvalidState(f"PayPal refund {answer.get('status')} for capture {capture_id}")
            refund_ids.append(str(answer.get("id") or ""))
            refunded[capture_id] = refunded.get(capture_id, 0) + minor
            raws.append(answer)
        total = request.refunded + request.amount
        status = S.REFUNDED if total >= request.captured else S.PARTIALLY_REFUNDED
        return ProviderResult(
            status=status,
            provider_reference=request.provider_reference,
            operation_reference=",".join(refund_ids),
            amount=request.amount,
            provider_data={"refunded": _unledger(list(refunded.items()))},
            raw=raws[0] if len(raws) == 1 else {"refunds": raws},
        )

    def reauthorize(
        self, authorization_id: str, amount: Money, *, idempotency_key: str
    ) -> ProviderResult:
        """Reauthorize a PayPal authorization once its 3-day honor period is over.

        Not a hook: the core has no reauthorize operation yet. Call it on the
        plugin instance; the result's ``provider_data["authorization_id"]`` is
        the new authorization to capture against.
        """
        body = {"amount": to_paypal(amount)}
        key = request_id(idempotency_key)
        try:
            answer = self.client.call(
                lambda sdk: sdk.payments.reauthorize_payment(
                    {
                        "authorization_id": authorization_id,
                        "body": json.dumps(body),
                        "paypal_request_id": key,
                        "prefer": _PREFER,
                    }
                )
            )
        except PayPalAPIError as err:
            return self._failed(err)
        new_id = str(answer.get("id") or "")
        return ProviderResult(
            status=S.AUTHORIZED,
            operation_reference=new_id,
            amount=from_paypal(answer.get("amount")) or amount,
            provider_data={"authorization_id": new_id, "reauthorized_from": authorization_id},
            raw=answer,
        )

    # -- vault -------------------------------------------------------------

    @paygate.hookimpl
    def paygate_store_payment_method(self, request: StoreRequest) -> ProviderResult:
        method = request.method
        if not isinstance(method, PayPalWallet):
            raise UnsupportedFeature(
                "the paypal provider saves PayPal accounts only", param="method"
            )
        body = {
            "payment_source": {
                "paypal": {
                    "usage_type": "MERCHANT",
                    "customer_type": "CONSUMER",
                    "permit_multiple_payment_tokens": False,
                    "experience_context": {
                        "return_url": method.return_url,
                        "cancel_url": method.cancel_url,
                        "shipping_preference": "NO_SHIPPING",
                    },
                }
            }
        }
        key = request_id(request.idempotency_key)
        try:
            setup = self.client.call(
                lambda sdk: sdk.vault.create_setup_token(
                    {"body": json.dumps(body), "paypal_request_id": key}
                )
            )
        except PayPalAPIError as err:
            return self._failed(err)
        setup_id = str(setup.get("id") or "")
        approve = _link(setup, "approve", "payer-action")
        if not setup_id or not approve:
            raise ProviderUnavailable(
                "PayPal returned no setup token or approval link", request_sent=True
            )
        return ProviderResult(
            status=S.REQUIRES_ACTION,
            provider_reference=setup_id,
            next_action=NextAction(
                type="approve", redirect_url=approve, return_url=method.return_url
            ),
            provider_data={"setup_token": setup_id},
            raw=setup,
        )

    def _finish_vault_setup(self, request: ConfirmRequest) -> ProviderResult:
        setup_id = request.provider_data["setup_token"]
        body = {"payment_source": {"token": {"id": setup_id, "type": "SETUP_TOKEN"}}}
        key = request_id(request.idempotency_key)
        try:
            token = self.client.call(
                lambda sdk: sdk.vault.create_payment_token(
                    {"body": json.dumps(body), "paypal_request_id": key}
                )
            )
        except PayPalAPIError as err:
            return self._failed(err, reference=setup_id)
        token_id = str(token.get("id") or "")
        raw_customer = token.get("customer")
        customer: dict[str, Any] = raw_customer if isinstance(raw_customer, dict) else {}
        stored = StoredPaymentMethod(
            provider=NAME,
            token=token_id,
            customer_reference=str(customer.get("id")) if customer.get("id") else None,
            method_kind="paypal",
        )
        return ProviderResult(
            status=S.AUTHORIZED,
            provider_reference=setup_id,
            operation_reference=token_id,
            stored_method=stored,
            provider_data={"vault_id": token_id},
            raw=token,
        )

    # -- reconciling -------------------------------------------------------

    @paygate.hookimpl
    def paygate_fetch_transaction(self, request: FetchRequest) -> ProviderResult | None:
        """PayPal's view, read-only (``GET /v2/checkout/orders/{id}``).

        Orders v2 cannot be searched by ``custom_id``: without a
        ``provider_reference`` the outcome stays unknown and we say so
        (retrying the operation with the same idempotency key is safe:
        PayPal replays the stored answer for the same ``PayPal-Request-Id``).
        """
        if not request.provider_reference or request.provider_data.get("setup_token"):
            raise ProviderUnavailable(
                "PayPal cannot look an order up by transaction id; retry the operation "
                "with the same idempotency key (PayPal-Request-Id replays its answer)",
                request_sent=True,
                retry_safe=True,
            )
        if request.of_operation is Operation.REFUND:
            # The order lists its refunds, not the PayPal-Request-Id each came
            # with: its state cannot say whether *this* refund happened, and
            # answering with it would settle a refund PayPal never received.
            raise ProviderUnavailable(
                "PayPal cannot look a refund up by its request id; retry the refund with "
                "the same idempotency key (PayPal-Request-Id replays its answer)",
                request_sent=True,
                retry_safe=True,
            )
        order_id = self._order_id(request.provider_reference)
        try:
            order = self.client.call(lambda sdk: sdk.orders.get_order({"id": order_id}))
        except PayPalAPIError as err:
            if err.object_not_found():
                return None
            if err.code is ErrorCode.NOT_FOUND:
                # A 404 that is not PayPal saying "no such order" (the token
                # call failed, a misrouted api_base, a proxy's page): the
                # order may exist, so the operation must stay unknown.
                raise ProviderUnavailable(
                    f"PayPal could not say whether order {order_id} exists ({err.message})",
                    request_sent=err.request_sent,
                    status_code=err.status,
                    retry_safe=True,
                ) from None
            raise err.to_exception() from None
        return self._order_result(
            order,
            intent=str(order.get("intent") or request.provider_data.get("intent") or "AUTHORIZE"),
            request_amount=request.amount,
            known=request.provider_data,
            of_operation=request.of_operation,
        )

    # -- webhooks ----------------------------------------------------------

    @paygate.hookimpl
    def paygate_parse_webhook(self, request: WebhookRequest) -> WebhookEvent:
        from paygate_paypal.webhooks import parse

        return parse(self.client, request)

    # -- fees --------------------------------------------------------------

    @paygate.hookimpl
    def paygate_calculate_fees(self, context: FeeContext) -> list[FeeLine] | None:
        from paygate_paypal.fees import fee_lines

        return fee_lines(context, self._settings.fees)

    # -- helpers -----------------------------------------------------------

    @staticmethod
    def _purchase_unit(request: PaymentRequest) -> dict[str, Any]:
        unit: dict[str, Any] = {
            # so an order whose answer was lost can be recognised, and webhooks
            # (captures and authorizations carry custom_id) lead back to it
            "custom_id": request.transaction_id,
            "amount": to_paypal(request.amount),
        }
        if request.description:
            unit["description"] = request.description[:127]
        invoice = request.metadata.get("invoice_id")
        if invoice:
            unit["invoice_id"] = invoice[:127]
        return unit

    @staticmethod
    def _order_id(reference: str | None) -> str:
        if not reference:
            raise InvalidState("this transaction has no PayPal order yet")
        return reference

    @staticmethod
    def _authorization_id(data: Mapping[str, str]) -> str:
        auth_id = data.get("authorization_id")
        if not auth_id:
            raise InvalidState(
                "no PayPal authorization for this transaction: confirm it after payer approval"
            )
        return auth_id

    def _failed(self, err: PayPalAPIError, *, reference: str | None = None) -> ProviderResult:
        """A decline becomes a failed result; any other error is raised."""
        if not is_decline(err.code):
            raise err.to_exception() from None
        return ProviderResult(
            status=S.FAILED,
            provider_reference=reference,
            error=ErrorInfo(code=err.code.value, message=err.message, decline_code=err.reason),
            raw=err.body,
        )

    def _declined_capture(
        self, capture: Mapping[str, Any], reference: str | None
    ) -> ProviderResult:
        details = capture.get("status_details")
        reason = str(details.get("reason")) if isinstance(details, dict) else "DECLINED"
        return ProviderResult(
            status=S.FAILED,
            provider_reference=reference,
            operation_reference=str(capture.get("id") or "") or None,
            error=ErrorInfo(
                code=ErrorCode.CARD_DECLINED.value,
                message=f"PayPal capture {capture.get('status')}: {reason}",
                decline_code=reason,
            ),
            raw=dict(capture),
        )

    def _order_result(
        self,
        order: Mapping[str, Any],
        *,
        intent: str,
        request_amount: Money | None,
        known: Mapping[str, str] | None = None,
        of_operation: Operation | None = None,
    ) -> ProviderResult:
        """Translate an order (after authorize/capture, or fetched) into a result."""
        order_id = str(order.get("id") or "")
        payments = _payments(order)
        data: dict[str, str] = {"intent": intent, "order_status": str(order.get("status", ""))}
        vault_id = _vault_id(order)
        if vault_id:
            data["vault_id"] = vault_id
        captures = [c for c in payments.get("captures", []) if isinstance(c, dict)]
        auths = [a for a in payments.get("authorizations", []) if isinstance(a, dict)]
        refunds = [r for r in payments.get("refunds", []) if isinstance(r, dict)]
        status_name = str(order.get("status", ""))
        if status_name in ("CREATED", "SAVED", "APPROVED", "PAYER_ACTION_REQUIRED"):
            return ProviderResult(
                status=S.REQUIRES_ACTION, provider_reference=order_id, provider_data=data,
                raw=dict(order),
            )  # fmt: skip
        if status_name == "VOIDED":
            return ProviderResult(
                status=S.VOIDED, provider_reference=order_id, provider_data=data, raw=dict(order)
            )
        good_captures = [c for c in captures if c.get("status") not in ("DECLINED", "FAILED")]
        if captures and not good_captures:
            return self._declined_capture(captures[-1], order_id)
        if auths:
            auth = auths[-1]
            data["authorization_id"] = str(auth.get("id") or "")
        if good_captures:
            amounts = [from_paypal(c.get("amount")) for c in good_captures]
            if any(m is None for m in amounts):
                raise ProviderUnavailable(
                    "PayPal returned a capture without amount", request_sent=True
                )
            moved = [m for m in amounts if m is not None]
            data["captures"] = _unledger(
                [
                    (str(c.get("id")), m.minor_units)
                    for c, m in zip(good_captures, moved, strict=True)
                ]
            )
            total = sum(moved[1:], start=moved[0])
            refunded_minor = sum(
                (from_paypal(r.get("amount")) or Money.zero(total.currency)).minor_units
                for r in refunds
                if r.get("status") not in ("FAILED", "CANCELLED")
            )
            if refunded_minor and refunded_minor >= total.minor_units:
                status = S.REFUNDED
            elif refunded_minor:
                status = S.PARTIALLY_REFUNDED
            elif (
                auths
                and request_amount is not None
                and total < request_amount
                and auths[-1].get("status") not in ("CAPTURED", "VOIDED", "EXPIRED")
            ):
                status = S.PARTIALLY_CAPTURED
            else:
                status = S.CAPTURED
            last = good_captures[-1]
            return ProviderResult(
                status=status,
                provider_reference=order_id,
                operation_reference=str(last.get("id") or ""),
                amount=total if of_operation is not None else from_paypal(last.get("amount")),
                provider_data=data,
                raw=dict(order),
            )
        if auths:
            auth = auths[-1]
            auth_status = str(auth.get("status", ""))
            if auth_status in ("DENIED",):
                return ProviderResult(
                    status=S.FAILED,
                    provider_reference=order_id,
                    operation_reference=data["authorization_id"],
                    error=ErrorInfo(
                        code=ErrorCode.CARD_DECLINED.value,
                        message="PayPal denied the authorization",
                        decline_code="AUTHORIZATION_DENIED",
                    ),
                    raw=dict(order),
                )
            status = S.VOIDED if auth_status in ("VOIDED", "EXPIRED") else S.AUTHORIZED
            return ProviderResult(
                status=status,
                provider_reference=order_id,
                operation_reference=data["authorization_id"],
                amount=from_paypal(auth.get("amount")),
                provider_data=data,
                raw=dict(order),
            )
        raise ProviderUnavailable(
            f"PayPal order in status {status_name[:40]!r} without a payment", request_sent=True
        )

"""Stored payment methods: save a card or wallet at the provider, and finish
saving one the payer had to approve first (PayPal's vault)."""

from __future__ import annotations

from collections.abc import Mapping

from paygate.errors import InvalidRequest, InvalidState, PluginError
from paygate.facade.checks import choose_provider, validate_method
from paygate.facade.engine import Engine
from paygate.ids import new_id as _new_id
from paygate.ledger import OperationState
from paygate.models import (
    Card,
    Customer,
    ErrorInfo,
    PayPalWallet,
    StoredPaymentMethod,
    TransactionStatus,
    construct,
)
from paygate.operations import ConfirmRequest, Operation, ProviderResult, StoreRequest
from paygate.validation import check_customer as _check_customer
from paygate.validation import check_key as _check_key
from paygate.validation import check_metadata as _check_metadata
from paygate.validation import check_method_texts

S = TransactionStatus


class StoredMethods:
    """Save payment methods for later recurring charges."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def store_payment_method(
        self,
        method: Card | PayPalWallet | StoredPaymentMethod,
        *,
        customer: Customer | None = None,
        provider: str | None = None,
        idempotency_key: str | None = None,
    ) -> StoredPaymentMethod:
        """Save a card or wallet at the provider for later ``charge_recurring``;
        or a token the payer's browser made at the provider (Stripe.js's
        ``pm_...``), which the provider then keeps for this customer."""
        cust = _check_customer(customer)
        key = _check_key(idempotency_key)
        if isinstance(method, StoredPaymentMethod) and method.status != "active":
            raise InvalidRequest(
                "this payment method waits for the payer's approval: "
                "finish it with confirm_payment_method",
                param="method",
            )
        checked = validate_method(
            self.engine,
            method,
            Operation.STORE_PAYMENT_METHOD,
            None,
            cust,
            provider if isinstance(provider, str) else None,
        )
        info = choose_provider(
            self.engine, provider, Operation.STORE_PAYMENT_METHOD, None, checked, cust
        )
        self.engine.require(info, "store_payment_method", "stored payment methods")
        existing = self.engine.earlier(key, idempotency_key is None)
        request = construct(
            StoreRequest,
            operation=Operation.STORE_PAYMENT_METHOD,
            provider=info.name,
            transaction_id=existing.transaction_id if existing else _new_id("spm"),
            idempotency_key=key,
            provider_reference=None,
            provider_data={},
            metadata={},
            config={},
            method=checked,
            customer=cust,
        )
        record = self.engine.precheck(request, existing)
        if record is not None:
            if record.state is OperationState.FAILED:
                self.engine.raise_failure(record.error or {}, None, record.operation)
            if record.result.get("stored_method") is None:
                return self._pending_method(request, ProviderResult.model_validate(record.result))
            return StoredPaymentMethod.model_validate(record.result["stored_method"])
        result, _ = self.engine.execute(request, fresh_key=idempotency_key is None)
        if result is not None and result.status is S.REQUIRES_ACTION and not result.stored_method:
            return self._pending_method(request, result)
        if result is None or (result.stored_method is None and result.status is not S.FAILED):
            raise PluginError(f"provider {info.name!r} stored nothing", plugin=info.name)
        if result.status is S.FAILED or result.stored_method is None:
            error = result.error or ErrorInfo(code="card_declined", message="declined")
            self.engine.raise_failure(error.model_dump(), None, "store_payment_method")
            raise AssertionError("unreachable")
        return result.stored_method

    @staticmethod
    def _pending_method(request: StoreRequest, result: ProviderResult) -> StoredPaymentMethod:
        """A method the provider saves only once the payer approves it."""
        if not result.provider_reference or result.next_action is None:
            raise PluginError(
                f"provider {request.provider!r} asked for payer action without a reference "
                "and a next action",
                plugin=request.provider,
            )
        return StoredPaymentMethod(
            provider=request.provider,
            token=result.provider_reference,
            customer_reference=request.customer.id if request.customer else None,
            method_kind="paypal" if request.method.kind == "paypal" else "card",
            status="requires_action",
            next_action=result.next_action,
            setup_id=request.transaction_id,
            provider_data=dict(result.provider_data),
        )

    def confirm_payment_method(
        self,
        pending: StoredPaymentMethod,
        *,
        params: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> StoredPaymentMethod:
        """Finish saving a method once the payer approved it (PayPal vault).

        :param pending: what :meth:`store_payment_method` returned with
            ``status="requires_action"``.
        :returns: the saved, ``active`` method for :meth:`charge_recurring`.
        """
        if not isinstance(pending, StoredPaymentMethod):
            raise InvalidRequest("pending must be a paygate.StoredPaymentMethod", param="method")
        if pending.status != "requires_action" or not pending.setup_id:
            raise InvalidState("this payment method is already saved; nothing to confirm")
        check_method_texts(pending)
        key = _check_key(idempotency_key)
        extra = _check_metadata(params, "params")
        info = self.engine.plugin_manager.provider_info(pending.provider)
        self.engine.require(info, "store_payment_method", "stored payment methods")
        request = construct(
            ConfirmRequest,
            operation=Operation.CONFIRM,
            provider=info.name,
            transaction_id=pending.setup_id,
            idempotency_key=key,
            provider_reference=pending.token,
            provider_data=dict(pending.provider_data),
            metadata={},
            config={},
            amount=None,
            capture=False,
            params=extra,
        )
        record = self.engine.precheck(request, self.engine.earlier(key, idempotency_key is None))
        if record is not None:
            if record.state is OperationState.FAILED:
                self.engine.raise_failure(record.error or {}, None, "confirm")
            return StoredPaymentMethod.model_validate(record.result["stored_method"])
        result, _ = self.engine.execute(request, fresh_key=idempotency_key is None)
        if result is None or result.status is S.FAILED or result.stored_method is None:
            error = (result.error if result else None) or ErrorInfo(
                code="processing_error", message="the provider saved no payment method"
            )
            self.engine.raise_failure(error.model_dump(), None, "confirm")
            raise AssertionError("unreachable")
        return result.stored_method


__all__ = ["StoredMethods"]

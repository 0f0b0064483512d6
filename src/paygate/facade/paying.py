"""Payment operations: authorize, purchase, recurring charges, the card check.

Each creates a transaction: the host's values are checked, the method
validated, a provider chosen, and the operation run through the
:class:`~paygate.facade.engine.Engine` with a new transaction id (or, for a
retry of an unknown outcome, the first call's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from paygate.errors import InvalidRequest, PaygateError, PluginError
from paygate.facade.checks import PaymentMethodType, choose_provider, validate_method
from paygate.ids import derived_key
from paygate.ids import new_id as _new_id
from paygate.models import (
    Customer,
    ProviderInfo,
    StoredPaymentMethod,
    Transaction,
    TransactionStatus,
    construct,
)
from paygate.money import Money
from paygate.operations import Operation, PaymentRequest
from paygate.validation import MAX_URL
from paygate.validation import check_amount as _check_amount
from paygate.validation import check_customer as _check_customer
from paygate.validation import check_key as _check_key
from paygate.validation import check_metadata as _check_metadata
from paygate.validation import check_text as _check_text

if TYPE_CHECKING:
    from paygate.facade.engine import Engine
    from paygate.facade.follow_ups import FollowUps

S = TransactionStatus


@dataclass(frozen=True)
class PaymentKind:
    """What one creating operation asks of the provider."""

    #: capture at once (purchase) or hold (authorize, verify)
    capture: bool
    #: the payer is absent: a stored method only (recurring charges)
    off_session: bool = False
    #: the capability the provider must claim, and how a refusal names it
    require: tuple[str, str] | None = None


#: The operations that create a transaction: one body (:meth:`PaymentOperations.pay`),
#: these differences.
KINDS: dict[Operation, PaymentKind] = {
    Operation.AUTHORIZE: PaymentKind(
        capture=False, require=("authorize", "separate authorization")
    ),
    Operation.PURCHASE: PaymentKind(capture=True),
    Operation.CHARGE_RECURRING: PaymentKind(
        capture=True, off_session=True, require=("recurring", "recurring charges")
    ),
    Operation.VERIFY: PaymentKind(capture=False, require=("verify", "card verification")),
}


class PaymentOperations:
    """The operations that create a transaction."""

    def __init__(self, engine: Engine, follow_ups: FollowUps) -> None:
        self.engine = engine
        self.follow_ups = follow_ups

    def pay(
        self,
        operation: Operation,
        amount: object,
        method: object,
        *,
        customer: object = None,
        provider: object = None,
        description: object = None,
        metadata: object = None,
        idempotency_key: object = None,
        return_url: object = None,
    ) -> Transaction:
        """Run ``operation`` (one of :data:`KINDS`): the body of ``authorize``,
        ``purchase``, ``charge_recurring`` and ``verify``."""
        kind = KINDS[operation]
        if kind.off_session and not isinstance(method, StoredPaymentMethod):
            raise InvalidRequest(
                f"{operation.value} needs a paygate.StoredPaymentMethod (from "
                "store_payment_method)",
                param="method",
            )
        money = _check_amount(amount)
        cust = _check_customer(customer)
        meta = _check_metadata(metadata)
        desc = _check_text(description, "description")
        ret = _check_text(return_url, "return_url", MAX_URL)
        key = _check_key(idempotency_key)
        checked = validate_method(
            self.engine,
            method,
            operation,
            money,
            cust,
            provider if isinstance(provider, str) else None,
        )
        info = choose_provider(self.engine, provider, operation, money, checked, cust)
        if kind.require is not None:
            self.engine.require(info, *kind.require)
        if operation is Operation.VERIFY:
            money = self._verify_amount(info, money.currency)
        existing = self.engine.earlier(key, idempotency_key is None)
        request = construct(
            PaymentRequest,
            operation=operation,
            provider=info.name,
            # A retry of an unknown outcome keeps the first call's transaction.
            transaction_id=existing.transaction_id if existing else _new_id("txn"),
            idempotency_key=key,
            provider_reference=None,
            provider_data={},
            metadata=meta,
            config={},
            amount=money,
            method=checked,
            customer=cust,
            capture=kind.capture,
            off_session=kind.off_session,
            description=desc,
            return_url=ret,
        )
        return self.engine.finish(request, existing, fresh_key=idempotency_key is None)

    @staticmethod
    def _verify_amount(info: ProviderInfo, currency: str) -> Money:
        """What ``verify`` holds at this provider (its ``verify_amounts``)."""
        try:
            return _check_amount(info.verify_amount(currency))
        except PaygateError:
            raise PluginError(
                f"provider {info.name!r} declares no valid verify amount for {currency}",
                plugin=info.name,
            ) from None

    def verify(
        self,
        method: PaymentMethodType,
        *,
        currency: str = "USD",
        customer: Customer | None = None,
        provider: str | None = None,
        idempotency_key: str | None = None,
    ) -> Transaction:
        """The card check: authorize a small amount in ``currency`` and void it at once.

        The amount is the provider's ``ProviderInfo.verify_amounts[currency]``,
        else 1 unit of the currency (1.00 USD).

        :returns: the voided transaction (or ``requires_action`` when the
            issuer wants 3-D Secure first: confirm, then void it).
        """
        key = _check_key(idempotency_key)
        tx = self.pay(
            Operation.VERIFY,
            Money(1, currency),  # the provider's verify amount replaces it
            method,
            customer=customer,
            provider=provider,
            idempotency_key=key,
            metadata={"paygate_verify": "1"},
        )
        if tx.status is S.AUTHORIZED:
            tx = self.follow_ups.void(tx.id, idempotency_key=derived_key(key, "void"))
        return tx


__all__ = ["PaymentOperations"]

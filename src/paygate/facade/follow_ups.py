"""Follow-up operations on an existing transaction: capture, void, refund, confirm.

Each loads the transaction, answers a retried call with the first call's
outcome before the state checks (that outcome may have made them fail), then
checks the state and amounts against the ledger and runs the operation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from paygate.errors import (
    ErrorCode,
    IdempotencyConflict,
    InvalidRequest,
    InvalidState,
    NotFound,
)
from paygate.facade.engine import Engine
from paygate.ledger import OperationRecord, OperationState
from paygate.ledger.base import conflict_for, retryable
from paygate.ledger.fingerprint import fingerprint
from paygate.models import Transaction, TransactionStatus, construct
from paygate.money import Money
from paygate.operations import (
    CaptureRequest,
    ConfirmRequest,
    Operation,
    OperationRequest,
    RefundRequest,
    VoidRequest,
)
from paygate.validation import MAX_REASON, check_transaction_id
from paygate.validation import check_amount as _check_amount
from paygate.validation import check_key as _check_key
from paygate.validation import check_metadata as _check_metadata
from paygate.validation import check_text as _check_text

S = TransactionStatus


class FollowUps:
    """Operations on a transaction the ledger already has."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _early_replay(
        self,
        record: OperationRecord | None,
        tx: Transaction,
        cls: type[OperationRequest],
        operation: Operation,
        amount: object = None,
        **fields: Any,
    ) -> Transaction | None:
        """A retried follow-up call returns what the first one did, before the
        state checks that the first call's own success would now fail.

        "The same call" is the whole request, as the ledger's digest has it
        (amount, reason, ``final``, ``params``...), not only its operation and
        amount: a refund with the key of an earlier one and another reason is
        another request. ``amount=None`` ("all that is left") stands for the
        amount the first call took.
        """
        if record is None or retryable(record):
            return None
        same = record.transaction_id == tx.id and record.operation == operation.value
        if same:
            money = record.amount if amount is None else _check_amount(amount)
            request = self._follow_up(
                cls, operation, tx, record.idempotency_key, amount=money, **fields
            )
            same = fingerprint(request) == record.request_digest
        if not same:
            raise IdempotencyConflict(
                f"idempotency key already used for a different {record.operation} request; "
                "use a new key for a new request"
            )
        if record.state is OperationState.PENDING:
            raise conflict_for(record, record)
        return self.engine.replay(record)

    def load(self, transaction_id: object) -> Transaction:
        check_transaction_id(transaction_id)
        assert isinstance(transaction_id, str)
        tx = self.engine.ledger.get_transaction(transaction_id)
        if tx is None:
            raise NotFound(f"no transaction {transaction_id!r}")
        return tx

    def transaction(self, transaction_id: str) -> Transaction:
        """The transaction as the ledger has it."""
        return self.load(transaction_id)

    def capture(
        self,
        transaction_id: str,
        amount: Money | None = None,
        *,
        final: bool = True,
        idempotency_key: str | None = None,
    ) -> Transaction:
        """Capture all (``amount=None``) or part of an authorization.

        ``final=False`` keeps the rest capturable (providers with
        ``multiple_captures``); otherwise the rest is released.
        """
        tx = self.load(transaction_id)
        key = _check_key(idempotency_key)
        if not isinstance(final, bool):
            raise InvalidRequest("final must be True or False", param="final")
        existing = self.engine.earlier(key, idempotency_key is None)
        if done := self._early_replay(
            existing, tx, CaptureRequest, Operation.CAPTURE, amount, final=final
        ):
            return done
        info = self.engine.plugin_manager.provider_info(tx.provider)
        self.engine.require(info, "capture", "captures")
        if tx.status not in (S.AUTHORIZED, S.PARTIALLY_CAPTURED) or (
            tx.provider_data.get("capture_closed") == "1"
        ):
            raise InvalidState(f"cannot capture a {tx.status.value} transaction")
        left = tx.amount - tx.captured
        money = self._within(
            tx, amount, left, "capture", f"only {left} is left of the {tx.amount} authorized"
        )
        if money < left:
            self.engine.require(info, "partial_capture", "partial capture")
        if tx.captured or not final:
            self.engine.require(info, "multiple_captures", "several captures")
        request = self._follow_up(
            CaptureRequest,
            Operation.CAPTURE,
            tx,
            key,
            amount=money,
            authorized=tx.amount,
            captured=tx.captured,
            final=final,
        )
        return self.engine.finish(request, existing, fresh_key=idempotency_key is None)

    @staticmethod
    def _within(tx: Transaction, amount: object, left: Money, operation: str, why: str) -> Money:
        """``amount``, or all that is ``left`` for None: in the transaction's
        currency and not above ``left`` (``why`` says what is left)."""
        money = left if amount is None else _check_amount(amount)
        if money.currency != tx.currency:
            raise InvalidRequest(
                f"{operation} in {money.currency} of a {tx.currency} transaction",
                code=ErrorCode.INVALID_CURRENCY,
                param="amount",
            )
        if money > left:
            raise InvalidRequest(
                f"cannot {operation} {money}: {why}",
                code=ErrorCode.INVALID_AMOUNT,
                param="amount",
            )
        return money

    @staticmethod
    def _follow_up(
        cls: type[OperationRequest],
        operation: Operation,
        tx: Transaction,
        key: str,
        **fields: Any,
    ) -> Any:
        """A request about an existing transaction: its references, plus ``fields``."""
        return construct(
            cls,
            operation=operation,
            provider=tx.provider,
            transaction_id=tx.id,
            idempotency_key=key,
            provider_reference=tx.provider_reference,
            provider_data=dict(tx.provider_data),
            metadata={},
            config={},
            **fields,
        )

    def void(self, transaction_id: str, *, idempotency_key: str | None = None) -> Transaction:
        """Cancel an authorization (or release what a partial capture left)."""
        tx = self.load(transaction_id)
        key = _check_key(idempotency_key)
        existing = self.engine.earlier(key, idempotency_key is None)
        if done := self._early_replay(existing, tx, VoidRequest, Operation.VOID, tx.amount):
            return done
        self.engine.require(self.engine.plugin_manager.provider_info(tx.provider), "void", "voids")
        if tx.status not in (S.AUTHORIZED, S.REQUIRES_ACTION, S.PARTIALLY_CAPTURED) or (
            tx.provider_data.get("capture_closed") == "1"
        ):
            raise InvalidState(f"cannot void a {tx.status.value} transaction")
        request = self._follow_up(
            VoidRequest,
            Operation.VOID,
            tx,
            key,
            amount=tx.amount,
        )
        return self.engine.finish(request, existing, fresh_key=idempotency_key is None)

    def refund(
        self,
        transaction_id: str,
        amount: Money | None = None,
        *,
        reason: str | None = None,
        idempotency_key: str | None = None,
    ) -> Transaction:
        """Give back all that is left (``amount=None``) or part of a capture.

        Several partial refunds may follow one another up to the captured
        amount; more is ``InvalidRequest`` with code ``invalid_amount``.
        """
        tx = self.load(transaction_id)
        key = _check_key(idempotency_key)
        why = _check_text(reason, "reason", MAX_REASON)
        existing = self.engine.earlier(key, idempotency_key is None)
        if done := self._early_replay(
            existing, tx, RefundRequest, Operation.REFUND, amount, reason=why
        ):
            return done
        info = self.engine.plugin_manager.provider_info(tx.provider)
        left = tx.captured - tx.refunded
        if not tx.captured:
            raise InvalidState(f"cannot refund a {tx.status.value} transaction: nothing captured")
        if not left:
            raise InvalidRequest(
                f"nothing left to refund: all {tx.captured} was refunded",
                code=ErrorCode.INVALID_AMOUNT,
                param="amount",
            )
        money = self._within(
            tx, amount, left, "refund", f"only {left} of the {tx.captured} captured is left"
        )
        self.engine.require(info, "refund", "refunds")
        if money < tx.captured:
            self.engine.require(info, "partial_refund", "partial refunds")
        if tx.refunded:
            self.engine.require(info, "multiple_refunds", "several refunds")
        request = self._follow_up(
            RefundRequest,
            Operation.REFUND,
            tx,
            key,
            amount=money,
            captured=tx.captured,
            refunded=tx.refunded,
            reason=why,
        )
        return self.engine.finish(request, existing, fresh_key=idempotency_key is None)

    def confirm(
        self,
        transaction_id: str,
        *,
        params: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Transaction:
        """Finish a ``requires_action`` transaction once the payer is back
        (3-D Secure done, PayPal order approved)."""
        tx = self.load(transaction_id)
        key = _check_key(idempotency_key)
        extra = _check_metadata(params, "params")
        existing = self.engine.earlier(key, idempotency_key is None)
        capture = self._creating_operation(tx) == Operation.PURCHASE.value
        if done := self._early_replay(
            existing,
            tx,
            ConfirmRequest,
            Operation.CONFIRM,
            tx.amount,
            capture=capture,
            params=extra,
        ):
            return done
        if tx.status is not S.REQUIRES_ACTION:
            raise InvalidState(f"cannot confirm a {tx.status.value} transaction")
        request = self._follow_up(
            ConfirmRequest,
            Operation.CONFIRM,
            tx,
            key,
            amount=tx.amount,
            capture=capture,
            params=extra,
        )
        return self.engine.finish(request, existing, fresh_key=idempotency_key is None)

    def _creating_operation(self, tx: Transaction) -> str | None:
        """The operation that made ``tx`` (``purchase`` captures on confirm)."""
        first = self.engine.ledger.operations(transaction_id=tx.id)
        return first[0].operation if first else None


__all__ = ["FollowUps"]

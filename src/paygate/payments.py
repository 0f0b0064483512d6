"""The facade: ``paygate.Payments``. One API, whatever the gateway.

Every call validates its input first (nothing invalid reaches a provider),
routes to exactly one provider, and goes through the plugin hooks so that the
ledger, redaction and any host wrapper see it. ``Payments`` is safe to share
between threads.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paygate.builtins.ledger import clean_transaction, error_dict, result_record
from paygate.config import Config
from paygate.errors import (
    DECLINE_CODES,
    CardDeclined,
    ErrorCode,
    IdempotencyConflict,
    InvalidRequest,
    InvalidState,
    NotFound,
    PaygateError,
    PermissionDenied,
    PluginError,
    ProviderUnavailable,
    UnsupportedFeature,
)
from paygate.ledger import LedgerStore, OperationRecord, OperationState
from paygate.ledger.base import StaleFinish, conflict_for, retryable
from paygate.ledger.fingerprint import fingerprint
from paygate.manager import PaygatePluginManager, make_plugin_manager
from paygate.models import (
    Card,
    Customer,
    ErrorInfo,
    PayPalWallet,
    ProviderInfo,
    StoredPaymentMethod,
    Transaction,
    TransactionStatus,
    WebhookEvent,
    construct,
    utcnow,
)
from paygate.money import Money
from paygate.operations import (
    CaptureRequest,
    ConfirmRequest,
    FetchRequest,
    Operation,
    OperationRequest,
    PaymentRequest,
    ProviderResult,
    RefundRequest,
    RoutingRequest,
    StoreRequest,
    ValidationContext,
    VoidRequest,
    WebhookRequest,
)
from paygate.redaction import get_logger
from paygate.transitions import apply_outcome

if TYPE_CHECKING:
    from paygate.builtins.ledger import LedgerPlugin
    from paygate.pricing.models import FeeBreakdown, LineItem, Quote

log = get_logger("paygate.payments")
S = TransactionStatus
PaymentMethodType = Card | PayPalWallet | StoredPaymentMethod

_HOOK_OF: dict[Operation, str] = {
    Operation.AUTHORIZE: "paygate_authorize",
    Operation.PURCHASE: "paygate_authorize",
    Operation.VERIFY: "paygate_authorize",
    Operation.CAPTURE: "paygate_capture",
    Operation.VOID: "paygate_void",
    Operation.REFUND: "paygate_refund",
    Operation.CONFIRM: "paygate_confirm",
    Operation.CHARGE_RECURRING: "paygate_charge_recurring",
    Operation.STORE_PAYMENT_METHOD: "paygate_store_payment_method",
    Operation.FETCH_TRANSACTION: "paygate_fetch_transaction",
    Operation.PARSE_WEBHOOK: "paygate_parse_webhook",
}

MAX_METADATA_KEYS = 50
MAX_METADATA_KEY = 40
MAX_METADATA_VALUE = 500
MAX_DESCRIPTION = 1000
MAX_KEY_LENGTH = 255


@dataclass
class ReconcileReport:
    """What :meth:`Payments.reconcile` found and settled."""

    checked: int = 0
    settled: int = 0
    succeeded: int = 0
    failed: int = 0
    still_unknown: int = 0
    details: list[dict[str, str]] = field(default_factory=list)


def _new_id(prefix: str) -> str:
    # 96 random bits: unique, not secret. The random module is seeded from the
    # OS and reseeded in forked children, and costs no system call per id.
    return f"{prefix}_{random.getrandbits(96):024x}"


def _check_key(key: object) -> str:
    if key is None:
        return _new_id("pgk")
    if not isinstance(key, str):
        raise InvalidRequest(
            f"idempotency_key must be a string, not {type(key).__name__}", param="idempotency_key"
        )
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise InvalidRequest(
            f"idempotency_key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters",
            param="idempotency_key",
        )
    return key


def _check_amount(amount: object, *, param: str = "amount") -> Money:
    if not isinstance(amount, Money):
        raise InvalidRequest(
            f"{param} must be paygate.Money (e.g. Money('10.00', 'USD')), not "
            f"{type(amount).__name__}",
            code=ErrorCode.INVALID_AMOUNT,
            param=param,
        )
    if not amount.is_positive():
        raise InvalidRequest(
            f"{param} must be greater than zero, got {amount}",
            code=ErrorCode.INVALID_AMOUNT,
            param=param,
        )
    return amount


def _check_metadata(metadata: object) -> dict[str, str]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidRequest("metadata must be a mapping of strings", param="metadata")
    if len(metadata) > MAX_METADATA_KEYS:
        raise InvalidRequest(f"metadata has more than {MAX_METADATA_KEYS} keys", param="metadata")
    out: dict[str, str] = {}
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidRequest("metadata keys and values must be strings", param="metadata")
        if not 1 <= len(key) <= MAX_METADATA_KEY or len(value) > MAX_METADATA_VALUE:
            raise InvalidRequest(
                f"metadata keys are 1 to {MAX_METADATA_KEY} characters and values at most "
                f"{MAX_METADATA_VALUE}",
                param="metadata",
            )
        out[key] = value
    return out


def _check_text(value: object, param: str, limit: int = MAX_DESCRIPTION) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidRequest(f"{param} must be a string of at most {limit} characters", param=param)
    return value


def _check_customer(customer: object) -> Customer | None:
    if customer is None:
        return None
    if not isinstance(customer, Customer):
        raise InvalidRequest("customer must be paygate.Customer", param="customer")
    if customer.role != "owner":
        raise PermissionDenied(
            f"a {customer.role.replace('_', '-')} cannot pay or buy; only the account owner can",
            param="customer",
        )
    return customer


def _method_kind(method: PaymentMethodType) -> str:
    return method.kind


class Payments:
    """Take payments through one API.

    :param config: a mapping, a :class:`~paygate.config.Config`, or the path
        of a TOML file. ``None``: ``PAYGATE_CONFIG`` if set, else defaults
        (the sandbox provider and an SQLite file ledger).
    :param plugins: extra plugin objects or classes to register.
    :param ledger: a host-provided :class:`~paygate.ledger.LedgerStore`.
    :param load_entrypoints: load installed plugins (entry-point group ``paygate``).
    """

    def __init__(
        self,
        config: Config | Mapping[str, Any] | str | Path | None = None,
        *,
        plugins: Iterable[object] | None = None,
        ledger: LedgerStore | None = None,
        load_entrypoints: bool = True,
    ) -> None:
        self.config = Config.load(config)
        self.plugin_manager: PaygatePluginManager = make_plugin_manager(
            self.config, plugins=plugins or (), load_entrypoints=load_entrypoints
        )
        ledger_plugin: LedgerPlugin | None = self.plugin_manager.get_plugin("ledger")
        assert ledger_plugin is not None  # essential built-in, cannot be disabled
        self._ledger_plugin = ledger_plugin
        if ledger is not None:
            self._ledger_plugin.use_store(ledger)
        self.rounding = self.config.rounding
        # Handed to pricing and fee hooks; built once, not per call.
        self._settings = self.config.as_dict()

    # -- introspection -----------------------------------------------------------
    @property
    def ledger(self) -> LedgerStore:
        store = self._ledger_plugin.store
        assert store is not None
        return store

    @property
    def hook(self) -> Any:
        return self.plugin_manager.hook

    def providers(self) -> list[ProviderInfo]:
        """Every installed provider's manifest."""
        return [info for _, info in self.plugin_manager.providers().values()]

    def provider(self, name: str) -> ProviderInfo:
        return self.plugin_manager.provider_info(name)

    def plugin(self, name: str) -> Any:
        """The registered plugin object called ``name`` (``payments.plugin("sandbox")``)."""
        plugin = self.plugin_manager.get_plugin(name)
        if plugin is None:
            raise NotFound(f"no plugin named {name!r}")
        return plugin

    def close(self) -> None:
        self.ledger.close()

    def __enter__(self) -> Payments:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Payments(providers={sorted(self.plugin_manager.providers())})"

    # -- the pipeline ------------------------------------------------------------
    def _validate_method(
        self,
        method: object,
        operation: Operation,
        amount: Money | None,
        customer: Customer | None,
        provider: str | None,
    ) -> PaymentMethodType:
        if not isinstance(method, (Card, PayPalWallet, StoredPaymentMethod)):
            raise InvalidRequest(
                "method must be paygate.Card, paygate.PayPalWallet or "
                f"paygate.StoredPaymentMethod, not {type(method).__name__}",
                param="method",
            )
        if not self.plugin_manager.implemented("paygate_validate_payment_method"):
            # No validator installed: no context to build, no hook to call.
            return method
        context = construct(
            ValidationContext,
            operation=operation,
            amount=amount,
            customer=customer,
            provider=provider,
            now=datetime.now(UTC),
            config={},
            facts={},
        )
        problems: list[InvalidRequest] = []
        for found in self._call_plugins(
            "paygate_validate_payment_method", method=method, context=context
        ):
            if found:
                problems.extend(found)
        if problems:
            first = problems[0]
            if not isinstance(first, PaygateError):
                raise PluginError(
                    "a validator returned a non-PaygateError problem", plugin="unknown"
                )
            raise first
        brand = context.facts.get("brand")
        if isinstance(method, Card) and brand and method.brand != brand:
            method = method.model_copy(update={"brand": brand})
        return method

    def _choose_provider(
        self,
        provider: object,
        operation: Operation,
        amount: Money | None,
        method: PaymentMethodType,
        customer: Customer | None,
    ) -> ProviderInfo:
        pm = self.plugin_manager
        if isinstance(method, StoredPaymentMethod):
            if provider is not None and provider != method.provider:
                raise InvalidRequest(
                    f"this stored method belongs to {method.provider!r}, not {provider!r}",
                    param="provider",
                )
            provider = method.provider
        if provider is not None:
            if not isinstance(provider, str):
                raise InvalidRequest("provider must be a provider name", param="provider")
            info = pm.provider_info(provider)
        else:
            kind = _method_kind(method)
            candidates = pm.candidates(kind, amount.currency if amount else None)
            chosen = self._call_plugins(
                "paygate_select_provider",
                request=construct(
                    RoutingRequest,
                    operation=operation,
                    amount=amount,
                    method_kind=kind,
                    card_brand=getattr(method, "brand", None),
                    customer=customer,
                    config={},
                ),
                candidates=candidates,
            )
            if chosen is None:
                what = f"{amount.currency} " if amount else ""
                raise UnsupportedFeature(
                    f"no installed provider takes {what}{kind} payments; installed: "
                    f"{', '.join(sorted(pm.providers())) or 'none'}",
                    param="provider",
                )
            info = pm.provider_info(chosen)
        if amount is not None and not info.supports_currency(amount.currency):
            raise UnsupportedFeature(
                f"provider {info.name!r} does not take {amount.currency}",
                code=ErrorCode.INVALID_CURRENCY,
                param="currency",
            )
        if _method_kind(method) not in info.payment_methods:
            raise UnsupportedFeature(
                f"provider {info.name!r} does not take {_method_kind(method)} payments",
                param="method",
            )
        brand = getattr(method, "brand", None)
        narrowed = info.card_brands is not None and isinstance(method, Card)
        if narrowed and brand and brand not in (info.card_brands or ()):
            raise InvalidRequest(
                f"{info.name} does not accept {brand} cards; it accepts "
                f"{', '.join(sorted(info.card_brands or ()))}",
                code=ErrorCode.UNSUPPORTED_BRAND,
                param="number",
            )
        return info

    def _call_plugins(self, hook_name: str, caller: Any = None, **kwargs: Any) -> Any:
        """Call a collecting or routing hook; a plugin's bug becomes ``PluginError``.

        Done here, not by the guard's wrappers, because these run on every
        payment and every quote: a ``try`` costs nothing until it catches.
        """
        pm = self.plugin_manager
        try:
            return (caller or getattr(pm.hook, hook_name))(**kwargs)
        except PaygateError:
            raise
        except Exception as exc:
            raise pm.plugin_error(hook_name, exc) from exc

    def _require(self, info: ProviderInfo, capability: str, what: str) -> None:
        if not getattr(info.capabilities, capability):
            raise UnsupportedFeature(f"provider {info.name!r} does not support {what}")

    def _earlier(self, key: str, generated: bool) -> OperationRecord | None:
        """The ledger's record of ``key``: read once per call.

        None without reading for a key the facade generated just now (96
        random bits cannot have been used before); the ledger's ``begin``
        still refuses a recorded key atomically.
        """
        return None if generated else self.ledger.find_operation(key)

    def _precheck(
        self, request: OperationRequest, existing: OperationRecord | None
    ) -> OperationRecord | None:
        """Replay, refuse, or let run a call whose key was used before (``existing``).

        Returns the earlier record when this call must replay its outcome.
        """
        if existing is None:
            return None
        digest = fingerprint(request)
        if existing.request_digest != digest or existing.operation != request.operation.value:
            raise conflict_for(
                existing,
                OperationRecord(
                    idempotency_key=request.idempotency_key,
                    operation=request.operation.value,
                    provider=request.provider,
                    transaction_id=request.transaction_id,
                    request_digest=digest,
                ),
            )
        if existing.state is OperationState.PENDING:
            raise conflict_for(existing, existing)
        if retryable(existing):
            return None
        return existing

    def _replay(self, record: OperationRecord) -> Transaction:
        tx = self.ledger.get_transaction(record.transaction_id)
        if record.state is OperationState.FAILED:
            self._raise_failure(record.error or {}, tx, record.operation)
        if tx is None:
            raise NotFound(f"the recorded transaction {record.transaction_id} is missing")
        return tx

    @staticmethod
    def _raise_failure(error: Mapping[str, Any], tx: Transaction | None, operation: str) -> None:
        code = str(error.get("code") or ErrorCode.PROCESSING_ERROR.value)
        message = str(error.get("message") or f"the {operation} failed")
        try:
            std = ErrorCode(code)
        except ValueError:
            std = ErrorCode.PROCESSING_ERROR
        if std in DECLINE_CODES or operation in (
            "authorize",
            "purchase",
            "verify",
            "charge_recurring",
            "confirm",
        ):
            raise CardDeclined(
                message,
                code=std if std in DECLINE_CODES else ErrorCode.CARD_DECLINED,
                transaction=tx,
                decline_code=error.get("decline_code"),
            )
        if std is ErrorCode.INVALID_STATE:
            raise InvalidState(message)
        if std is ErrorCode.UNSUPPORTED_FEATURE:
            raise UnsupportedFeature(message)
        raise PaygateError(message, code=std)

    def _execute(
        self, request: OperationRequest, *, fresh_key: bool = False
    ) -> tuple[ProviderResult | None, Transaction | None]:
        """Run the operation hook of ``request``'s provider.

        ``fresh_key``: the facade generated the idempotency key for this very
        call, so no other request can carry it and the ledger need not take
        the request's digest (it exists to tell a retry from a reused key).
        """
        hook_name = _HOOK_OF[request.operation]
        pm = self.plugin_manager
        if not pm.provider_implements(request.provider, hook_name):
            raise UnsupportedFeature(
                f"provider {request.provider!r} does not implement {hook_name}"
            )
        caller = pm.routed(hook_name, request.provider)
        ledger = self._ledger_plugin
        if fresh_key:
            ledger.fresh_keys.add(request.idempotency_key)
        try:
            result = caller(request=request)
        except PaygateError as exc:
            if isinstance(exc, ProviderUnavailable) and exc.transaction is None:
                exc.transaction = ledger.take(request.transaction_id)
            else:
                ledger.take(request.transaction_id)
            raise
        except Exception as exc:
            ledger.take(request.transaction_id)
            raise pm.plugin_error(hook_name, exc) from exc
        finally:
            if fresh_key:
                ledger.fresh_keys.discard(request.idempotency_key)
        if result is not None and not isinstance(result, ProviderResult):
            ledger.take(request.transaction_id)
            raise PluginError(
                f"provider {request.provider!r} returned {type(result).__name__} from "
                f"{hook_name}, expected ProviderResult",
                plugin=request.provider,
            )
        return result, ledger.take(request.transaction_id)

    def _finish(
        self, request: OperationRequest, existing: OperationRecord | None, *, fresh_key: bool
    ) -> Transaction:
        record = self._precheck(request, existing)
        if record is not None:
            return self._replay(record)
        result, tx = self._execute(request, fresh_key=fresh_key)
        if result is None:
            raise UnsupportedFeature(
                f"provider {request.provider!r} returned nothing for {request.operation.value}"
            )
        if tx is None:
            raise NotFound(f"no transaction {request.transaction_id}")
        if result.status is S.FAILED:
            error = result.error or ErrorInfo(code="processing_error", message="failed")
            self._raise_failure(error.model_dump(), tx, request.operation.value)
        return tx

    def _early_replay(
        self,
        record: OperationRecord | None,
        tx: Transaction,
        operation: Operation,
        amount: object = None,
    ) -> Transaction | None:
        """A retried follow-up call returns what the first one did, before the
        state checks that the first call's own success would now fail."""
        if record is None or retryable(record):
            return None
        same_amount = amount is None or (isinstance(amount, Money) and amount == record.amount)
        if record.transaction_id != tx.id or record.operation != operation.value or not same_amount:
            raise IdempotencyConflict(
                f"idempotency key already used for a different {record.operation} request; "
                "use a new key for a new request"
            )
        if record.state is OperationState.PENDING:
            raise conflict_for(record, record)
        return self._replay(record)

    # -- payments ----------------------------------------------------------------
    def _pay(
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
        capture: bool,
        off_session: bool = False,
        require: tuple[str, str] | None = None,
    ) -> Transaction:
        money = _check_amount(amount)
        cust = _check_customer(customer)
        meta = _check_metadata(metadata)
        desc = _check_text(description, "description")
        ret = _check_text(return_url, "return_url", 2048)
        key = _check_key(idempotency_key)
        checked = self._validate_method(
            method, operation, money, cust, provider if isinstance(provider, str) else None
        )
        info = self._choose_provider(provider, operation, money, checked, cust)
        if require is not None:
            self._require(info, *require)
        existing = self._earlier(key, idempotency_key is None)
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
            capture=capture,
            off_session=off_session,
            description=desc,
            return_url=ret,
        )
        return self._finish(request, existing, fresh_key=idempotency_key is None)

    def authorize(
        self,
        amount: Money,
        method: PaymentMethodType,
        *,
        customer: Customer | None = None,
        provider: str | None = None,
        description: str | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        return_url: str | None = None,
    ) -> Transaction:
        """Hold ``amount`` on the payment method; capture it later.

        :returns: the transaction, ``authorized`` or ``requires_action``.
        :raises CardDeclined: the issuer refused (``.code``, ``.transaction``).
        """
        return self._pay(
            Operation.AUTHORIZE,
            amount,
            method,
            customer=customer,
            provider=provider,
            description=description,
            metadata=metadata,
            idempotency_key=idempotency_key,
            return_url=return_url,
            capture=False,
            require=("authorize", "separate authorization"),
        )

    def purchase(
        self,
        amount: Money,
        method: PaymentMethodType,
        *,
        customer: Customer | None = None,
        provider: str | None = None,
        description: str | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        return_url: str | None = None,
    ) -> Transaction:
        """Authorize and capture at once.

        :returns: the transaction, ``captured`` or ``requires_action``.
        """
        return self._pay(
            Operation.PURCHASE,
            amount,
            method,
            customer=customer,
            provider=provider,
            description=description,
            metadata=metadata,
            idempotency_key=idempotency_key,
            return_url=return_url,
            capture=True,
        )

    def charge_recurring(
        self,
        amount: Money,
        stored_method: StoredPaymentMethod,
        *,
        customer: Customer | None = None,
        description: str | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Transaction:
        """Charge a stored method without the payer present (renewals)."""
        if not isinstance(stored_method, StoredPaymentMethod):
            raise InvalidRequest(
                "charge_recurring needs a paygate.StoredPaymentMethod (from store_payment_method)",
                param="method",
            )
        return self._pay(
            Operation.CHARGE_RECURRING,
            amount,
            stored_method,
            customer=customer,
            description=description,
            metadata=metadata,
            idempotency_key=idempotency_key,
            capture=True,
            off_session=True,
            require=("recurring", "recurring charges"),
        )

    def verify(
        self,
        method: PaymentMethodType,
        *,
        currency: str = "USD",
        customer: Customer | None = None,
        provider: str | None = None,
        idempotency_key: str | None = None,
    ) -> Transaction:
        """The card check: authorize 1.00 in ``currency`` and void it at once.

        :returns: the voided transaction (or ``requires_action`` when the
            issuer wants 3-D Secure first: confirm, then void it).
        """
        key = _check_key(idempotency_key)
        tx = self._pay(
            Operation.VERIFY,
            Money(1, currency),
            method,
            customer=customer,
            provider=provider,
            idempotency_key=key,
            capture=False,
            metadata={"paygate_verify": "1"},
            require=("verify", "card verification"),
        )
        if tx.status is S.AUTHORIZED:
            tx = self.void(tx.id, idempotency_key=f"{key[:250]}:void")
        return tx

    # -- follow-up operations ----------------------------------------------------
    def _load(self, transaction_id: object) -> Transaction:
        if not isinstance(transaction_id, str) or not 1 <= len(transaction_id) <= 64:
            raise InvalidRequest("transaction_id must be a transaction id string", param="id")
        tx = self.ledger.get_transaction(transaction_id)
        if tx is None:
            raise NotFound(f"no transaction {transaction_id!r}")
        return tx

    def transaction(self, transaction_id: str) -> Transaction:
        """The transaction as the ledger has it."""
        return self._load(transaction_id)

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
        tx = self._load(transaction_id)
        key = _check_key(idempotency_key)
        existing = self._earlier(key, idempotency_key is None)
        if done := self._early_replay(existing, tx, Operation.CAPTURE, amount):
            return done
        info = self.plugin_manager.provider_info(tx.provider)
        self._require(info, "capture", "captures")
        if tx.status not in (S.AUTHORIZED, S.PARTIALLY_CAPTURED) or (
            tx.provider_data.get("capture_closed") == "1"
        ):
            raise InvalidState(f"cannot capture a {tx.status.value} transaction")
        left = tx.amount - tx.captured
        money = left if amount is None else _check_amount(amount)
        if money.currency != tx.currency:
            raise InvalidRequest(
                f"capture in {money.currency} of a {tx.currency} transaction",
                code=ErrorCode.INVALID_CURRENCY,
                param="amount",
            )
        if money > left:
            raise InvalidRequest(
                f"cannot capture {money}: only {left} is left of the {tx.amount} authorized",
                code=ErrorCode.INVALID_AMOUNT,
                param="amount",
            )
        if money < left:
            self._require(info, "partial_capture", "partial capture")
        if tx.captured or not final:
            self._require(info, "multiple_captures", "several captures")
        if not isinstance(final, bool):
            raise InvalidRequest("final must be True or False", param="final")
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
        return self._finish(request, existing, fresh_key=idempotency_key is None)

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
        tx = self._load(transaction_id)
        key = _check_key(idempotency_key)
        existing = self._earlier(key, idempotency_key is None)
        if done := self._early_replay(existing, tx, Operation.VOID):
            return done
        self._require(self.plugin_manager.provider_info(tx.provider), "void", "voids")
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
        return self._finish(request, existing, fresh_key=idempotency_key is None)

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
        tx = self._load(transaction_id)
        key = _check_key(idempotency_key)
        why = _check_text(reason, "reason", 500)
        existing = self._earlier(key, idempotency_key is None)
        if done := self._early_replay(existing, tx, Operation.REFUND, amount):
            return done
        info = self.plugin_manager.provider_info(tx.provider)
        left = tx.captured - tx.refunded
        if not tx.captured:
            raise InvalidState(f"cannot refund a {tx.status.value} transaction: nothing captured")
        if not left:
            raise InvalidRequest(
                f"nothing left to refund: all {tx.captured} was refunded",
                code=ErrorCode.INVALID_AMOUNT,
                param="amount",
            )
        money = left if amount is None else _check_amount(amount)
        if money.currency != tx.currency:
            raise InvalidRequest(
                f"refund in {money.currency} of a {tx.currency} transaction",
                code=ErrorCode.INVALID_CURRENCY,
                param="amount",
            )
        if money > left:
            raise InvalidRequest(
                f"cannot refund {money}: only {left} of the {tx.captured} captured is left",
                code=ErrorCode.INVALID_AMOUNT,
                param="amount",
            )
        self._require(info, "refund", "refunds")
        if money < tx.captured:
            self._require(info, "partial_refund", "partial refunds")
        if tx.refunded:
            self._require(info, "multiple_refunds", "several refunds")
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
        return self._finish(request, existing, fresh_key=idempotency_key is None)

    def confirm(
        self,
        transaction_id: str,
        *,
        params: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Transaction:
        """Finish a ``requires_action`` transaction once the payer is back
        (3-D Secure done, PayPal order approved)."""
        tx = self._load(transaction_id)
        key = _check_key(idempotency_key)
        extra = _check_metadata(params)
        existing = self._earlier(key, idempotency_key is None)
        if done := self._early_replay(existing, tx, Operation.CONFIRM):
            return done
        if tx.status is not S.REQUIRES_ACTION:
            raise InvalidState(f"cannot confirm a {tx.status.value} transaction")
        first = self.ledger.operations(transaction_id=tx.id)
        capture = bool(first) and first[0].operation == Operation.PURCHASE.value
        request = self._follow_up(
            ConfirmRequest,
            Operation.CONFIRM,
            tx,
            key,
            amount=tx.amount,
            capture=capture,
            params=extra,
        )
        return self._finish(request, existing, fresh_key=idempotency_key is None)

    def store_payment_method(
        self,
        method: Card | PayPalWallet,
        *,
        customer: Customer | None = None,
        provider: str | None = None,
        idempotency_key: str | None = None,
    ) -> StoredPaymentMethod:
        """Save a card or wallet at the provider for later ``charge_recurring``."""
        cust = _check_customer(customer)
        key = _check_key(idempotency_key)
        if isinstance(method, StoredPaymentMethod):
            raise InvalidRequest("this payment method is already stored", param="method")
        checked = self._validate_method(
            method,
            Operation.STORE_PAYMENT_METHOD,
            None,
            cust,
            provider if isinstance(provider, str) else None,
        )
        info = self._choose_provider(provider, Operation.STORE_PAYMENT_METHOD, None, checked, cust)
        self._require(info, "store_payment_method", "stored payment methods")
        existing = self._earlier(key, idempotency_key is None)
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
        record = self._precheck(request, existing)
        if record is not None:
            if record.state is OperationState.FAILED:
                self._raise_failure(record.error or {}, None, record.operation)
            if record.result.get("stored_method") is None:
                return self._pending_method(request, ProviderResult.model_validate(record.result))
            return StoredPaymentMethod.model_validate(record.result["stored_method"])
        result, _ = self._execute(request, fresh_key=idempotency_key is None)
        if result is not None and result.status is S.REQUIRES_ACTION and not result.stored_method:
            return self._pending_method(request, result)
        if result is None or (result.stored_method is None and result.status is not S.FAILED):
            raise PluginError(f"provider {info.name!r} stored nothing", plugin=info.name)
        if result.status is S.FAILED or result.stored_method is None:
            error = result.error or ErrorInfo(code="card_declined", message="declined")
            self._raise_failure(error.model_dump(), None, "store_payment_method")
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
        key = _check_key(idempotency_key)
        extra = _check_metadata(params)
        info = self.plugin_manager.provider_info(pending.provider)
        self._require(info, "store_payment_method", "stored payment methods")
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
        record = self._precheck(request, self._earlier(key, idempotency_key is None))
        if record is not None:
            if record.state is OperationState.FAILED:
                self._raise_failure(record.error or {}, None, "confirm")
            return StoredPaymentMethod.model_validate(record.result["stored_method"])
        result, _ = self._execute(request, fresh_key=idempotency_key is None)
        if result is None or result.status is S.FAILED or result.stored_method is None:
            error = (result.error if result else None) or ErrorInfo(
                code="processing_error", message="the provider saved no payment method"
            )
            self._raise_failure(error.model_dump(), None, "confirm")
            raise AssertionError("unreachable")
        return result.stored_method

    # -- webhooks ----------------------------------------------------------------
    def parse_webhook(
        self, provider: str, headers: Mapping[str, str], body: bytes | str
    ) -> WebhookEvent:
        """Verify a webhook delivery and return it as a neutral event.

        A delivery seen before comes back with ``duplicate=True``: acknowledge
        it, do not apply it again. A new event is applied to the stored
        transaction it names only when it moves it forward and needs no money
        paygate did not move itself (see docs/reliability.md): a late
        ``payment.authorized`` after the capture changes nothing.

        :raises SignatureVerificationError: bad, missing or stale signature.
        """
        if not isinstance(provider, str):
            raise InvalidRequest("provider must be a provider name", param="provider")
        info = self.plugin_manager.provider_info(provider)
        self._require(info, "webhooks", "webhooks")
        if not isinstance(headers, Mapping):
            raise InvalidRequest("headers must be a mapping", param="headers")
        raw = body.encode("utf-8", "replace") if isinstance(body, str) else body
        if not isinstance(raw, bytes):
            raise InvalidRequest("body must be the raw bytes received", param="body")
        request = construct(
            WebhookRequest,
            provider=info.name,
            headers={str(k): str(v) for k, v in headers.items()},
            body=raw,
            received_at=datetime.now(UTC),
            config={},
        )
        caller = self.plugin_manager.routed("paygate_parse_webhook", info.name)
        event = self._call_plugins("paygate_parse_webhook", caller, request=request)
        if not isinstance(event, WebhookEvent):
            raise PluginError(f"provider {info.name!r} returned no WebhookEvent", plugin=info.name)
        return event

    # -- reconciliation ----------------------------------------------------------
    def reconcile(self, *, pending_older_than: float = 300.0) -> ReconcileReport:
        """Settle every operation whose outcome is unknown by asking its provider.

        Operations still ``pending`` after ``pending_older_than`` seconds (their
        process died mid-call) are treated as unknown too.
        """
        if (
            isinstance(pending_older_than, bool)
            or not isinstance(pending_older_than, (int, float))
            or not 0 <= pending_older_than < 10**9
        ):
            raise InvalidRequest(
                "pending_older_than must be a number of seconds >= 0",
                param="pending_older_than",
            )
        report = ReconcileReport()
        cutoff = utcnow() - timedelta(seconds=pending_older_than)
        records = self.ledger.operations(state=OperationState.UNKNOWN) + [
            r
            for r in self.ledger.operations(state=OperationState.PENDING)
            if r.created_at is not None and r.created_at <= cutoff
        ]
        for record in records:
            report.checked += 1
            try:
                outcome = self._settle(record)
            except StaleFinish:
                # A retry with the same key (or another reconcile) got there first.
                outcome = "settled_elsewhere"
            except PaygateError as exc:
                outcome = "unknown"
                log.warning("reconcile: %s still unknown: %s", record.transaction_id, exc.message)
            except Exception as exc:  # a provider plugin's bug must not stop the sweep
                outcome = "unknown"
                log.warning(
                    "reconcile: %s still unknown: %s in paygate_fetch_transaction",
                    record.transaction_id,
                    type(exc).__name__,
                )
            report.details.append(
                {
                    "transaction_id": record.transaction_id,
                    "operation": record.operation,
                    "idempotency_key": record.idempotency_key,
                    "outcome": outcome,
                }
            )
            if outcome == "unknown":
                report.still_unknown += 1
            elif outcome == "settled_elsewhere":
                pass
            else:
                report.settled += 1
                if outcome == "succeeded":
                    report.succeeded += 1
                else:
                    report.failed += 1
        return report

    def _settle(self, record: OperationRecord) -> str:
        op = Operation(record.operation)
        if op in (Operation.FETCH_TRANSACTION, Operation.PARSE_WEBHOOK):
            return "unknown"
        pm = self.plugin_manager
        if record.provider not in pm.providers() or not pm.provider_implements(
            record.provider, "paygate_fetch_transaction"
        ):
            return "unknown"
        tx = self.ledger.get_transaction(record.transaction_id)
        request = _rebuild_request(record, tx)
        fetch = construct(
            FetchRequest,
            operation=Operation.FETCH_TRANSACTION,
            provider=record.provider,
            transaction_id=record.transaction_id,
            idempotency_key=record.idempotency_key,
            provider_reference=record.provider_reference or (tx.provider_reference if tx else None),
            provider_data=dict(tx.provider_data) if tx else {},
            metadata={},
            config={},
            of_operation=op,
            amount=record.amount,
        )
        result = pm.routed("paygate_fetch_transaction", record.provider)(request=fetch)
        if result is not None and not isinstance(result, ProviderResult):
            raise PluginError(
                f"provider {record.provider!r} returned {type(result).__name__} from "
                "paygate_fetch_transaction",
                plugin=record.provider,
            )
        now = utcnow()
        recorded_method = record.request.get("payment_method")

        def settled(cur: Transaction | None, new: Transaction | None) -> Transaction | None:
            # A payment whose process died before its first write is created
            # here, from the request summary (the method as displayed, never more).
            if cur is None and new is not None:
                new = new.model_copy(update={"payment_method": recorded_method})
            return clean_transaction(new)

        if result is None:
            # The provider has no trace of it: it never happened.
            self.ledger.finish(
                record.idempotency_key,
                OperationState.FAILED,
                apply=lambda cur: settled(
                    cur,
                    apply_outcome(
                        cur,
                        request,
                        None,
                        PaygateError(
                            "the provider never received this operation",
                            code=ErrorCode.PROCESSING_ERROR,
                        ),
                        unknown=False,
                        now=now,
                    ),
                ),
                transaction_id=record.transaction_id,
                error={
                    "code": "processing_error",
                    "message": "never reached the provider",
                    "request_sent": False,
                },
                now=now,
                expected=(record.state,),
            )
            return "failed"
        state = OperationState.FAILED if result.status is S.FAILED else OperationState.SUCCEEDED
        self.ledger.finish(
            record.idempotency_key,
            state,
            apply=lambda cur: settled(
                cur, apply_outcome(cur, request, result, None, unknown=False, now=now)
            ),
            transaction_id=record.transaction_id,
            provider_reference=result.provider_reference,
            operation_reference=result.operation_reference,
            error=error_dict(result.error),
            result=result_record(result),
            now=now,
            expected=(record.state,),
        )
        return "succeeded" if state is OperationState.SUCCEEDED else "failed"

    # -- pricing -----------------------------------------------------------------
    def quote(
        self,
        items: Iterable[LineItem],
        *,
        cycle: str = "monthly",
        customer: Customer | None = None,
        currency: str | None = None,
    ) -> Quote:
        """Price ``items`` with every plugin's adjustments and buyer fees.

        Every line is shown; lines add up exactly to the total.
        """
        from paygate.pricing.models import LineItem, PricingContext

        lines = (
            list(items)
            if isinstance(items, Iterable) and not isinstance(items, (str, bytes))
            else None
        )
        if not lines or not all(isinstance(i, LineItem) for i in lines):
            raise InvalidRequest(
                "items must be a non-empty list of paygate.LineItem", param="items"
            )
        if cycle not in ("monthly", "annual"):
            raise InvalidRequest("cycle must be 'monthly' or 'annual'", param="cycle")
        if customer is not None and not isinstance(customer, Customer):
            raise InvalidRequest("customer must be paygate.Customer", param="customer")
        currencies = {i.unit_price.currency for i in lines}
        if len(currencies) > 1:
            raise InvalidRequest(
                f"all items must share one currency, got {sorted(currencies)}",
                code=ErrorCode.INVALID_CURRENCY,
                param="currency",
            )
        ccy = currencies.pop()
        if currency is not None and currency != ccy:
            raise InvalidRequest(
                f"items are priced in {ccy}, not {currency}",
                code=ErrorCode.INVALID_CURRENCY,
                param="currency",
            )
        context = construct(
            PricingContext,
            items=tuple(lines),
            cycle="annual" if cycle == "annual" else "monthly",
            customer=customer,
            currency=ccy,
            config=self._settings,
        )
        adjustments = [
            adj
            for found in self._call_plugins("paygate_price_adjustments", context=context)
            if found
            for adj in found
        ]
        from paygate.pricing.engine import build_quote

        return build_quote(context, adjustments, rounding=self.rounding)

    def fees(
        self,
        amount: Money,
        *,
        provider: str | None = None,
        kind: str = "payment",
        card_country: str | None = None,
        merchant_country: str | None = None,
        currency_conversion: bool = False,
        method_kind: str = "card",
    ) -> FeeBreakdown:
        """What a payment of ``amount`` costs and what the merchant receives.

        Fee lines come from every non-provider plugin (platform service fee)
        and from the chosen provider only (its processing fee).
        """
        from paygate.pricing.engine import build_fee_breakdown
        from paygate.pricing.models import FeeContext

        money = _check_amount(amount)
        name = provider or self.config.default_provider
        if not isinstance(name, str):
            raise InvalidRequest("provider must be a provider name", param="provider")
        self.plugin_manager.provider_info(name)
        context = construct(
            FeeContext,
            amount=money,
            provider=name,
            kind=str(kind),
            card_country=card_country,
            merchant_country=merchant_country,
            currency_conversion=bool(currency_conversion),
            method_kind=method_kind,
            config=self._settings,
        )
        caller = self.plugin_manager.routed("paygate_calculate_fees", name)
        lines = [
            line
            for found in self._call_plugins("paygate_calculate_fees", caller, context=context)
            if found
            for line in found
        ]
        return build_fee_breakdown(context, lines, rounding=self.rounding)


@dataclass(frozen=True)
class _RecordedMethod:
    """Stands for the payment method of a rebuilt request: the ledger keeps
    only how it was displayed, never the card itself."""

    text: str | None
    kind: str = "card"

    def display(self) -> str:
        return self.text or "unknown"


@dataclass(frozen=True)
class _RecordedCustomer:
    id: str


def _rebuild_request(record: OperationRecord, tx: Transaction | None) -> OperationRequest:
    """The request an operation was made with, from what the ledger kept."""
    data = record.request
    op = Operation(record.operation)
    common: dict[str, Any] = {
        "operation": op,
        "provider": record.provider,
        "transaction_id": record.transaction_id,
        "idempotency_key": record.idempotency_key,
        "provider_reference": record.provider_reference,
        "provider_data": {},
        "metadata": dict(data.get("metadata") or {}),
        "config": {},
    }
    amount: Any = record.amount
    if amount is None and isinstance(data.get("amount"), dict):
        amount = Money.from_dict(data["amount"])
    if op in (Operation.CAPTURE, Operation.REFUND) and (amount is None or tx is None):
        raise InvalidState(f"the ledger lacks what {op.value} {record.idempotency_key} needs")
    if op is Operation.CAPTURE:
        assert amount is not None and tx is not None
        return construct(
            CaptureRequest,
            **common,
            amount=amount,
            authorized=tx.amount,
            captured=tx.captured,
            final=bool(data.get("final", True)),
        )
    if op is Operation.REFUND:
        assert amount is not None and tx is not None
        return construct(
            RefundRequest,
            **common,
            amount=amount,
            captured=tx.captured,
            refunded=tx.refunded,
            reason=data.get("reason"),
        )
    if op is Operation.VOID:
        return construct(VoidRequest, **common, amount=amount)
    if op is Operation.CONFIRM:
        return construct(
            ConfirmRequest, **common, amount=amount, capture=bool(data.get("capture")), params={}
        )
    customer_id = data.get("customer_id")
    # Only what apply_outcome reads of them (display, id) is stood in for.
    customer: Any = _RecordedCustomer(str(customer_id)) if customer_id else None
    method: Any = _RecordedMethod(data.get("payment_method"))
    if op is Operation.STORE_PAYMENT_METHOD:
        return construct(StoreRequest, **common, method=method, customer=customer)
    return construct(
        PaymentRequest,
        **common,
        amount=amount,
        method=method,
        customer=customer,
        capture=bool(data.get("capture")),
        off_session=bool(data.get("off_session")),
        description=data.get("description"),
        return_url=None,
    )


__all__ = ["Payments", "ReconcileReport"]

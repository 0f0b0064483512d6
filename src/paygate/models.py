"""Provider-neutral value objects: payment methods, customers, transactions.

Every model here is a pydantic v2 model. Those that are values are frozen.
Construction errors are raised as :class:`~paygate.errors.InvalidRequest`
naming the field, never as pydantic's ``ValidationError``, and never echo the
input (``hide_input_in_errors``): a card number typed in the wrong field
must not end up in an exception message.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Final, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from paygate.errors import ErrorCode, InvalidRequest
from paygate.money import Money


def _sane_decimal(value: Decimal) -> bool:
    """Finite, and no more than 40 digits either side of the point."""
    return value.is_finite() and -40 <= value.adjusted() <= 40


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def utcnow() -> datetime:
    return datetime.now(UTC)


def _invalid_from(exc: ValidationError, model: str) -> InvalidRequest:
    err = exc.errors(include_input=False, include_url=False)[0]
    loc = ".".join(str(p) for p in err.get("loc", ())) or None
    code = ErrorCode.INVALID_AMOUNT if loc and "amount" in loc else ErrorCode.INVALID_REQUEST
    where = f"{model}.{loc}" if loc else model
    return InvalidRequest(f"{where}: {err['msg']}", code=code, param=loc)


class PaygateModel(BaseModel):
    """Base of every paygate model: typed errors, no input echoed in them."""

    model_config = ConfigDict(
        hide_input_in_errors=True, extra="forbid", arbitrary_types_allowed=True
    )

    def __init__(self, /, **data: Any) -> None:
        for key, value in data.items():
            if type(value) is Decimal and not _sane_decimal(value):
                # Pydantic would turn Decimal("1E+999999999999") into an int
                # field's value digit by digit: refused before it tries.
                raise InvalidRequest(
                    f"{type(self).__name__}.{key}: number out of range", param=str(key)
                )
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise _invalid_from(exc, type(self).__name__) from None


_M = TypeVar("_M", bound=BaseModel)
_DEFAULTS: dict[type[BaseModel], tuple[dict[str, Any], tuple[tuple[str, Any], ...]]] = {}


_FIELD_NAMES: dict[type[BaseModel], frozenset[str]] = {}


def field_names(cls: type[BaseModel]) -> frozenset[str]:
    """The names of ``cls``'s fields, remembered per class.

    ``cls.model_fields`` is a property that costs about half a microsecond
    per read; the hot path asks several times per operation.
    """
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = frozenset(cls.model_fields)
    return names


def construct(cls: type[_M], **values: Any) -> _M:
    """Build a model from values that are already valid, without validating.

    What ``model_construct`` does, minus its per-call walk over the fields'
    metadata: the hot path builds a handful of these per payment. Only for
    values the core itself produced or validated.
    """
    spec = _DEFAULTS.get(cls)
    if spec is None:
        static: dict[str, Any] = {}
        factories: list[tuple[str, Any]] = []
        for name, info in cls.model_fields.items():
            if info.default_factory is not None:
                factories.append((name, info.default_factory))
            elif not info.is_required():
                static[name] = info.default
        spec = _DEFAULTS[cls] = (static, tuple(factories))
    static, factory_specs = spec
    data = {**static, **values}
    for name, factory in factory_specs:
        if name not in values:
            data[name] = factory()
    return trusted(cls, data, values)


def trusted(cls: type[_M], data: dict[str, Any], fields_set: Iterable[str]) -> _M:
    """An instance of ``cls`` whose state is ``data``, taken as is.

    ``data`` must hold every field, already valid (in declaration order, so
    dumps and reprs read as for a validated model); ``fields_set`` becomes
    ``model_fields_set``. The one place that writes a model's state directly:
    :func:`construct` and the pricing engine's line builders go through it.
    """
    obj = _new(cls)
    _set_dict(obj, data)
    _set_fields_set(obj, set(fields_set))
    _set_extra(obj, None)
    _set_private(obj, None)
    return obj


# BaseModel's own slots, set through their descriptors: object.__setattr__
# looks each name up again on every call (models here are frozen, so their
# __setattr__ refuses).
_new = object.__new__
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


class FrozenModel(PaygateModel):
    model_config = ConfigDict(
        hide_input_in_errors=True, extra="forbid", frozen=True, arbitrary_types_allowed=True
    )


# -- payment methods ---------------------------------------------------------


def _digits(value: str) -> str:
    if value.isdigit():  # the usual case, and the same result: no per-character pass
        return value
    return "".join(ch for ch in value if ch.isdigit())


class Card(FrozenModel):
    """A payment card. ``number`` and ``cvc`` are secrets.

    They are stored as :class:`pydantic.SecretStr`: ``repr``, ``str``, model
    dumps and JSON show ``**********``. Only ``brand`` and ``last4`` are shown.
    Read the real values with ``card.number.get_secret_value()`` (provider
    plugins only).
    """

    kind: Literal["card"] = "card"
    number: SecretStr
    exp_month: int
    exp_year: int
    cvc: SecretStr | None = None
    holder: str | None = Field(default=None, max_length=200)
    brand: str | None = None

    def __init__(
        self,
        number: str | int | SecretStr | None = None,
        exp_month: int | None = None,
        exp_year: int | None = None,
        cvc: str | int | SecretStr | None = None,
        holder: str | None = None,
        /,
        **data: Any,
    ) -> None:
        if number is not None:
            data["number"] = number
        if exp_month is not None:
            data["exp_month"] = exp_month
        if exp_year is not None:
            data["exp_year"] = exp_year
        if cvc is not None:
            data["cvc"] = cvc
        if holder is not None:
            data["holder"] = holder
        for secret in ("number", "cvc"):
            value = data.get(secret)
            if isinstance(value, int) and not isinstance(value, bool):
                data[secret] = str(value)
            elif value is not None and not isinstance(value, (str, SecretStr)):
                raise InvalidRequest(
                    f"card {secret} must be a string", code=ErrorCode.INVALID_REQUEST, param=secret
                )
        number_value = data.get("number")
        if isinstance(number_value, str) and len(number_value) > 64:
            raise InvalidRequest(
                "card number is too long", code=ErrorCode.INVALID_NUMBER, param="number"
            )
        super().__init__(**data)

    @property
    def last4(self) -> str:
        return _digits(self.number.get_secret_value())[-4:]

    @property
    def digits(self) -> str:
        """The PAN with spaces and dashes removed. Secret: do not log."""
        return _digits(self.number.get_secret_value())

    def display(self) -> str:
        """``Visa •••• 4242``: the only form of the card ever shown."""
        return f"{(self.brand or 'card').title()} •••• {self.last4}"

    def __str__(self) -> str:
        return self.display()


class PayPalWallet(FrozenModel):
    """Pay with a PayPal account: the payer approves on PayPal's site.

    :ivar return_url: where PayPal sends the payer after approval.
    :ivar cancel_url: where PayPal sends the payer who cancels.
    """

    kind: Literal["paypal"] = "paypal"
    email: str | None = Field(default=None, max_length=254)
    return_url: str = "https://example.com/paygate/return"
    cancel_url: str = "https://example.com/paygate/cancel"


class NextAction(FrozenModel):
    """What the payer must do before ``Payments.confirm``: open ``redirect_url``."""

    type: Literal["redirect", "approve"] = "redirect"
    redirect_url: str
    return_url: str | None = None


class StoredPaymentMethod(FrozenModel):
    """A method saved at a provider (Stripe ``pm_...``, PayPal vault token).

    A provider that needs the payer's approval before it saves a method
    (PayPal's vault) gives back one with ``status="requires_action"``: send
    the payer to ``next_action.redirect_url``, then call
    ``Payments.confirm_payment_method`` to get the usable one.
    """

    kind: Literal["stored"] = "stored"
    provider: str
    token: str = Field(min_length=1, max_length=255)
    customer_reference: str | None = None
    brand: str | None = None
    last4: str | None = None
    method_kind: Literal["card", "paypal"] = "card"
    status: Literal["active", "requires_action"] = "active"
    next_action: NextAction | None = None
    setup_id: str | None = None
    provider_data: dict[str, str] = Field(default_factory=dict)


PaymentMethod = Annotated[Card | PayPalWallet | StoredPaymentMethod, Field(discriminator="kind")]


class Customer(FrozenModel):
    """Who pays. ``country`` is ISO 3166-1 alpha-2."""

    id: str = Field(min_length=1, max_length=255)
    email: str | None = Field(default=None, max_length=254)
    name: str | None = Field(default=None, max_length=200)
    country: str | None = Field(default=None, min_length=2, max_length=2)
    nonprofit: bool = False
    role: Literal["owner", "multi_user", "sub_account"] = "owner"


# -- provider manifest -------------------------------------------------------


class Capabilities(FrozenModel):
    """What a provider can do. The core refuses what is not claimed."""

    authorize: bool = True
    capture: bool = True
    partial_capture: bool = False
    multiple_captures: bool = False
    void: bool = True
    refund: bool = True
    partial_refund: bool = True
    multiple_refunds: bool = False
    verify: bool = False
    recurring: bool = False
    store_payment_method: bool = False
    three_d_secure: bool = False
    webhooks: bool = False
    reauthorize: bool = False

    def names(self) -> list[str]:
        return [name for name, on in self.model_dump().items() if on]


#: The hooks a provider must implement for each capability it claims: the
#: conformance kit checks them and ``paygate new-plugin`` scaffolds them.
CAPABILITY_HOOKS: Final[dict[str, tuple[str, ...]]] = {
    "authorize": ("paygate_authorize",),
    "capture": ("paygate_capture",),
    "partial_capture": ("paygate_capture",),
    "multiple_captures": ("paygate_capture",),
    "void": ("paygate_void",),
    "refund": ("paygate_refund",),
    "partial_refund": ("paygate_refund",),
    "multiple_refunds": ("paygate_refund",),
    "verify": ("paygate_authorize", "paygate_void"),
    "recurring": ("paygate_charge_recurring", "paygate_store_payment_method"),
    "store_payment_method": ("paygate_store_payment_method",),
    "three_d_secure": ("paygate_confirm",),
    "webhooks": ("paygate_parse_webhook",),
    "reauthorize": (),
}


class ProviderInfo(FrozenModel):
    """A provider plugin's manifest (``paygate_provider_info``).

    ``currencies``/``countries``/``card_brands`` of ``None`` mean "any".
    """

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    display_name: str = ""
    version: str = ""
    currencies: frozenset[str] | None = None
    countries: frozenset[str] | None = None
    payment_methods: frozenset[Literal["card", "paypal", "stored"]] = frozenset({"card"})
    card_brands: frozenset[str] | None = None
    capabilities: Capabilities = Capabilities()
    test_mode: bool = True
    #: What ``Payments.verify`` authorizes (and voids) per currency, in major
    #: units (``{"JPY": Decimal("100")}``); a currency not named here: 1 unit
    #: (1.00 USD, 1 JPY), which is below some gateways' minimum charge.
    verify_amounts: dict[str, Decimal] = Field(default_factory=dict)

    def supports_currency(self, currency: str) -> bool:
        return self.currencies is None or currency in self.currencies

    def verify_amount(self, currency: str) -> Money:
        """The amount ``verify`` holds in ``currency`` (see ``verify_amounts``)."""
        return Money(self.verify_amounts.get(currency, Decimal(1)), currency)


# -- results -----------------------------------------------------------------


class TransactionStatus(StrEnum):
    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    PARTIALLY_CAPTURED = "partially_captured"
    VOIDED = "voided"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"
    REQUIRES_ACTION = "requires_action"
    FAILED = "failed"
    #: the request left and no answer came back; ``Payments.reconcile`` settles it
    UNKNOWN = "unknown"


class ErrorInfo(FrozenModel):
    """A failure recorded on a transaction (never a secret in ``message``)."""

    code: str
    message: str
    decline_code: str | None = None
    param: str | None = None


class Refund(FrozenModel):
    id: str
    amount: Money
    provider_reference: str | None = None
    reason: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class Capture(FrozenModel):
    id: str
    amount: Money
    provider_reference: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class Transaction(FrozenModel):
    """The provider-neutral view of one payment, as the ledger keeps it."""

    id: str
    provider: str
    provider_reference: str | None = None
    status: TransactionStatus
    amount: Money
    captured: Money
    refunded: Money
    refunds: tuple[Refund, ...] = ()
    captures: tuple[Capture, ...] = ()
    next_action: NextAction | None = None
    error: ErrorInfo | None = None
    payment_method: str | None = None
    customer_id: str | None = None
    description: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    provider_data: dict[str, str] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    @property
    def currency(self) -> str:
        return self.amount.currency

    @property
    def refundable(self) -> Money:
        return self.captured - self.refunded

    @property
    def capturable(self) -> Money:
        if self.status not in (TransactionStatus.AUTHORIZED, TransactionStatus.PARTIALLY_CAPTURED):
            return Money.zero(self.amount.currency)
        return self.amount - self.captured


class WebhookEvent(FrozenModel):
    """A verified provider event, in neutral terms.

    ``type`` is one of ``payment.succeeded``, ``payment.failed``,
    ``payment.authorized``, ``payment.captured``, ``payment.voided``,
    ``payment.refunded``, ``payment.requires_action``, ``dispute.opened``,
    ``payment_method.saved`` or ``other``.

    ``amount`` is what the event states about the payment: the amount paid,
    captured or disputed; for ``payment.refunded`` it is the **total refunded
    on the payment to date** (cumulative: a second partial refund of 20 after
    one of 30 says 50), so a consumer that missed or re-received a delivery
    still knows where the payment stands. ``None`` when the provider did not
    say; the single refund's own amount, when known, is in ``data``.
    """

    id: str = Field(min_length=1, max_length=255)
    provider: str
    type: str
    provider_type: str = Field(max_length=255)
    provider_reference: str | None = Field(default=None, max_length=255)
    transaction_id: str | None = Field(default=None, max_length=255)
    amount: Money | None = None
    created_at: datetime = Field(default_factory=utcnow)
    data: dict[str, Any] = Field(default_factory=dict)
    duplicate: bool = False

    @field_validator("id", "provider_type", "provider_reference", "transaction_id")
    @classmethod
    def _storable(cls, value: str | None) -> str | None:
        # The ledger stores these: a NUL or a lone surrogate would fail the
        # database write (PostgreSQL refuses NUL) after the signature passed.
        if value is not None and ("\x00" in value or not _encodable(value)):
            raise ValueError("must be valid text without NUL characters")
        return value


__all__ = [
    "Capabilities",
    "Capture",
    "Card",
    "Customer",
    "ErrorInfo",
    "FrozenModel",
    "NextAction",
    "PayPalWallet",
    "PaygateModel",
    "PaymentMethod",
    "ProviderInfo",
    "Refund",
    "StoredPaymentMethod",
    "Transaction",
    "TransactionStatus",
    "WebhookEvent",
    "construct",
    "trusted",
    "utcnow",
]

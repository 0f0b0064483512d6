"""The provider conformance suite: the whole plugin contract as pytest tests.

A plugin author writes one small module::

    from paygate.testing.conformance import ProviderConformance

    class TestTinyGate(ProviderConformance):
        provider = "tinygate"

and pytest collects every ``test_*`` method below for that provider. What the
provider claims in its :class:`~paygate.ProviderInfo` is exercised; what it
does not claim must be refused by the core with ``unsupported_feature``
before the provider is called. Everything goes through the public facade
(:class:`paygate.Payments`); a :class:`~paygate.testing.recorder.RequestRecorder`
registered as an extra plugin records what the provider received.

Points an author may override (all optional):

* ``provider_config`` (a **fixture**): the configuration tables, e.g.
  ``{"tinygate": {"api_key": ..., "api_base": server_url}}``. As a fixture it
  may request the author's own fixtures: a ``responses`` mock (recorded mode),
  a local fake server, or credentials (real sandbox).
* ``requires_env``: environment variables without which the suite skips
  (``("STRIPE_API_KEY",)`` for the real sandbox).
* ``card(outcome)``: the test payment method for an outcome (see
  :data:`OUTCOMES`), or ``None`` when the gateway has none.
* ``amount(currency)``, ``complete_action(run, tx)``, ``make_webhook(run, tx)``,
  ``sent_idempotency_keys(run)``, ``invalid_amounts()``, ``make_payments(...)``,
  ``extra_plugins()``, ``known_gaps``.
"""

from __future__ import annotations

import logging
import os
import secrets as _secrets
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date as _date
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

from paygate.errors import (
    DECLINE_CODES,
    CardDeclined,
    ErrorCode,
    InvalidRequest,
    PaygateError,
    SignatureVerificationError,
    UnsupportedFeature,
)
from paygate.models import (
    Card,
    Customer,
    PayPalWallet,
    ProviderInfo,
    StoredPaymentMethod,
    Transaction,
    TransactionStatus,
    WebhookEvent,
)
from paygate.money import Money, currency_exponent
from paygate.operations import FetchRequest, Operation, ProviderResult
from paygate.testing.plugin import record_stubs
from paygate.testing.recorder import RecordedRequest, RequestRecorder
from paygate.testing.secrets import assert_no_secrets

#: Cards in tests expire three years from now, so they never age into declines.
EXP_YEAR = _date.today().year + 3

if TYPE_CHECKING:
    from paygate.payments import Payments

S = TransactionStatus
PaymentMethodT = Card | PayPalWallet

#: Outcomes ``card()`` is asked for.
OUTCOMES: tuple[str, ...] = (
    "success",
    "decline",
    "insufficient_funds",
    "expired_card",
    "incorrect_cvc",
    "processing_error",
    "three_d_secure",
)

#: The standard code each decline outcome must produce.
DECLINES: dict[str, ErrorCode] = {
    "decline": ErrorCode.CARD_DECLINED,
    "insufficient_funds": ErrorCode.INSUFFICIENT_FUNDS,
    "expired_card": ErrorCode.EXPIRED_CARD,
    "incorrect_cvc": ErrorCode.INCORRECT_CVC,
    "processing_error": ErrorCode.PROCESSING_ERROR,
}

#: Stripe's public test cards, which the built-in sandbox follows too.
STRIPE_TEST_CARDS: dict[str, str] = {
    "success": "4242424242424242",
    "decline": "4000000000000002",
    "insufficient_funds": "4000000000009995",
    "expired_card": "4000000000000069",
    "incorrect_cvc": "4000000000000127",
    "processing_error": "4000000000000119",
    "three_d_secure": "4000002760003184",
}

#: Hooks a claimed capability needs the provider to implement.
CAPABILITY_HOOKS: dict[str, tuple[str, ...]] = {
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

#: Capabilities that only make sense on top of another one.
CAPABILITY_IMPLIES: dict[str, tuple[str, ...]] = {
    "partial_capture": ("capture",),
    "multiple_captures": ("capture", "partial_capture"),
    "partial_refund": ("refund",),
    "multiple_refunds": ("refund", "partial_refund"),
    "verify": ("authorize", "void"),
    "recurring": ("store_payment_method",),
    "capture": ("authorize",),
    "void": ("authorize",),
}

#: ``WebhookEvent.type`` values (see :class:`paygate.WebhookEvent`).
WEBHOOK_TYPES = frozenset(
    {
        "payment.succeeded",
        "payment.failed",
        "payment.authorized",
        "payment.captured",
        "payment.voided",
        "payment.refunded",
        "payment.requires_action",
        "dispute.opened",
        "payment_method.saved",
        "other",
    }
)

#: Operation hooks that move money; their idempotency key must reach the provider.
MUTATING_HOOKS = (
    "paygate_authorize",
    "paygate_capture",
    "paygate_void",
    "paygate_refund",
    "paygate_charge_recurring",
)

_SECRET_CONFIG_WORDS = ("key", "secret", "token", "password")


def _secret_config_values(value: Any, name: str = "") -> Iterator[str]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _secret_config_values(item, str(key).lower())
    elif (
        isinstance(value, str)
        and len(value) >= 8
        and any(word in name for word in _SECRET_CONFIG_WORDS)
    ):
        yield value


def _stub_hooks(pm: Any, plugin: object) -> set[str]:
    """The plugin's hook implementations that raise ``NotImplementedError``
    (the stubs ``paygate new-plugin`` writes)."""
    stubs = set()
    for caller in pm.get_hookcallers(plugin) or []:
        for impl in caller.get_hookimpls():
            code = getattr(impl.function, "__code__", None)
            if (
                impl.plugin is plugin
                and code is not None
                and "NotImplementedError" in code.co_names
            ):
                stubs.add(caller.name)
    return stubs


@dataclass
class ConformanceRun:
    """What one conformance test works with: the facade, the recorder, the manifest."""

    suite: ProviderConformance
    payments: Payments
    recorder: RequestRecorder
    info: ProviderInfo
    config: dict[str, Any]
    #: Payment methods handed out during this test (for the secrets checks).
    methods: list[PaymentMethodT] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def currency(self) -> str:
        """The currency the suite pays in: USD when listed, else the first listed."""
        if self.info.currencies is None or "USD" in self.info.currencies:
            return "USD"
        return sorted(self.info.currencies)[0]

    def amount(self, currency: str | None = None) -> Money:
        return self.suite.amount(currency or self.currency)

    def part(self, total: Money, numerator: int, denominator: int) -> Money:
        """``numerator/denominator`` of ``total``, rounded down to a step the
        gateways accept in every currency (a multiple of 10 minor units)."""
        minor = total.minor_units * numerator // denominator
        step = 10 if total.exponent == 3 else 1
        return Money.from_minor(max(step, minor - minor % step), total.currency)

    def method(self, outcome: str = "success", *, required: bool = False) -> PaymentMethodT:
        """The author's test method for ``outcome``; skip (or fail) when there is none."""
        method = self.suite.card(outcome)
        if method is None:
            message = f"{self.suite.provider}: card({outcome!r}) returned None"
            if required:
                pytest.fail(message + ", but the provider claims what needs it")
            pytest.skip(message + " (no test payment method for this outcome)")
        self.methods.append(method)
        return method

    def require(self, capability: str) -> None:
        if not getattr(self.info.capabilities, capability):
            pytest.skip(f"{self.name} does not claim {capability}")

    def require_not(self, capability: str) -> None:
        if getattr(self.info.capabilities, capability):
            pytest.skip(f"{self.name} claims {capability} (exercised by its own test)")

    def settle(self, tx: Transaction) -> Transaction:
        """Finish a ``requires_action`` payment the way the author says a payer would."""
        if tx.status is S.REQUIRES_ACTION:
            params = self.suite.complete_action(self, tx)
            tx = self.payments.confirm(tx.id, params=params)
        return tx

    def purchase(self, amount: Money | None = None, outcome: str = "success") -> Transaction:
        money = amount or self.amount()
        tx = self.payments.purchase(money, self.method(outcome), provider=self.name)
        return self.settle(tx)

    def authorize(self, amount: Money | None = None, outcome: str = "success") -> Transaction:
        money = amount or self.amount()
        tx = self.payments.authorize(money, self.method(outcome), provider=self.name)
        return self.settle(tx)

    def calls(self, hook: str) -> list[RecordedRequest]:
        return self.recorder.of(hook)

    def transactions(self) -> list[Transaction]:
        ids = dict.fromkeys(op.transaction_id for op in self.payments.ledger.operations())
        found = [self.payments.ledger.get_transaction(tx_id) for tx_id in ids]
        return [tx for tx in found if tx is not None]

    def secrets(self) -> list[str]:
        """The PANs used and the secret-looking configuration values."""
        out = [m.digits for m in self.methods if isinstance(m, Card)]
        out.extend(_secret_config_values(self.config))
        out.extend(self.suite.extra_secrets(self))
        return out

    def assert_refused(self, hook: str, action: Any) -> UnsupportedFeature:
        """``action()`` must raise ``unsupported_feature`` and never reach ``hook``."""
        before = len(self.calls(hook))
        with pytest.raises(UnsupportedFeature) as info:
            action()
        assert info.value.code is ErrorCode.UNSUPPORTED_FEATURE, info.value
        reached = len(self.calls(hook)) - before
        assert reached == 0, f"{hook} reached the provider {reached} time(s) although refused"
        return info.value


class ProviderConformance:
    """Subclass as ``Test<Provider>`` and set :attr:`provider`."""

    #: The provider name (``ProviderInfo.name``) under test.
    provider: ClassVar[str] = ""
    #: Environment variables needed (real sandbox credentials); the suite
    #: skips with a one-line reason when one is missing or empty.
    requires_env: ClassVar[tuple[str, ...]] = ()
    #: Load installed plugins. Only the entry point named like the provider
    #: (and those in :attr:`also_load`) is kept, so other installed plugins
    #: cannot make this provider pass or fail.
    load_entrypoints: ClassVar[bool] = True
    also_load: ClassVar[tuple[str, ...]] = ()
    #: Currencies paid in by ``test_amounts_in_every_currency``: ``None`` means
    #: every currency ``ProviderInfo`` lists, or :attr:`sample_currencies` when
    #: it lists none (``None`` = any currency).
    currencies_to_test: ClassVar[tuple[str, ...] | None] = None
    sample_currencies: ClassVar[tuple[str, ...]] = ("USD", "EUR", "GBP", "JPY", "KWD")
    #: ``{"test_name": "why"}``: tests skipped with that reason, shown in the report.
    known_gaps: ClassVar[Mapping[str, str]] = {}
    #: The payer used for stored methods and recurring charges.
    customer: ClassVar[Customer] = Customer(id="cus_conformance", email="payer@example.com")

    # -- the author's points ---------------------------------------------------
    @pytest.fixture
    def provider_config(self) -> dict[str, Any]:
        """Configuration tables for the provider (override as a fixture)."""
        return {}

    def card(self, outcome: str = "success") -> PaymentMethodT | None:
        """The test payment method for ``outcome`` (see :data:`OUTCOMES`).

        Default: Stripe's public test cards (the built-in sandbox follows them).
        Return ``None`` for an outcome the gateway cannot produce.
        """
        number = STRIPE_TEST_CARDS.get(outcome)
        return None if number is None else Card(number, 12, EXP_YEAR, "123")

    def amount(self, currency: str) -> Money:
        """A payment amount every gateway accepts in ``currency``."""
        if currency_exponent(currency) == 0:
            return Money(1000, currency)
        return Money(20, currency)

    def complete_action(self, run: ConformanceRun, transaction: Transaction) -> dict[str, str]:
        """What the payer's return brings back after ``next_action`` (3-D Secure,
        PayPal approval): the ``params`` for :meth:`paygate.Payments.confirm`.
        Do here what the payer would do (call the local server's approve URL...)."""
        return {}

    def approve_payment_method(
        self, run: ConformanceRun, pending: StoredPaymentMethod
    ) -> dict[str, str]:
        """Do what the payer would do to approve saving a method that came back
        ``requires_action`` (PayPal's vault); return the ``params`` for
        :meth:`paygate.Payments.confirm_payment_method`."""
        return {}

    def make_webhook(
        self, run: ConformanceRun, transaction: Transaction
    ) -> tuple[dict[str, str], bytes] | None:
        """A correctly signed webhook delivery about ``transaction``: ``(headers, body)``.

        Default: the provider plugin's own ``make_webhook(event_type,
        transaction_id)`` helper when it has one (the sandbox does).
        """
        plugin = run.payments.plugin_manager.providers()[run.name][0]
        maker = getattr(plugin, "make_webhook", None)
        if maker is None:
            return None
        headers, body = maker("payment.captured", transaction.id)
        return dict(headers), bytes(body)

    def sent_idempotency_keys(self, run: ConformanceRun) -> Collection[str] | None:
        """The idempotency keys seen on the wire (from your ``responses`` mock
        or local server), or ``None`` when the suite cannot observe the wire."""
        return None

    def invalid_amounts(self) -> Sequence[Money]:
        """Amounts the gateway cannot take; each must raise ``invalid_amount``
        before any request is sent (Stripe: KWD not a multiple of 10 fils)."""
        return ()

    def extra_secrets(self, run: ConformanceRun) -> Sequence[str]:
        """More strings that must never appear in logs, results or the ledger."""
        return ()

    def extra_plugins(self) -> Sequence[object]:
        """Plugin objects to register besides the installed ones (an
        uninstalled provider class under development, for instance)."""
        return ()

    def make_payments(self, config: dict[str, Any], plugins: Sequence[object]) -> Payments:
        """Build the facade under test. ``plugins`` holds the recorder: keep it."""
        from paygate.payments import Payments

        return Payments(config, plugins=plugins, load_entrypoints=self.load_entrypoints)

    # -- the harness -----------------------------------------------------------
    @pytest.fixture(autouse=True)
    def _conformance_gate(self, request: pytest.FixtureRequest) -> None:
        # Autouse fixtures run first: a missing credential skips before the
        # author's provider_config (which may need it) is even built.
        missing = [name for name in self.requires_env if not os.environ.get(name)]
        if missing:
            pytest.skip(f"{self.provider} conformance needs {', '.join(missing)} (not set)")
        gap = self.known_gaps.get(getattr(request.node, "originalname", request.node.name))
        if gap:
            pytest.skip(f"known gap of {self.provider}: {gap}")

    @pytest.fixture
    def conformance(
        self,
        request: pytest.FixtureRequest,
        provider_config: dict[str, Any],
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
    ) -> Iterator[ConformanceRun]:
        if not self.provider:
            pytest.fail(f"{type(self).__name__}: set provider = '<ProviderInfo.name>'")
        keep = {self.provider, *self.also_load}
        others = {ep.name for ep in entry_points(group="paygate")} - keep
        disabled = os.environ.get("PAYGATE_DISABLED_PLUGINS", "")
        monkeypatch.setenv("PAYGATE_DISABLED_PLUGINS", ",".join(sorted(others | {disabled} - {""})))
        # No PAYGATE_DEBUG here: it makes the core scrub every log record of
        # the process, which would hide what the provider itself logs.
        monkeypatch.delenv("PAYGATE_DEBUG", raising=False)
        caplog.set_level(logging.DEBUG)
        config: dict[str, Any] = {"database_url": "memory", "test_mode": True}
        config.update(provider_config)
        recorder = RequestRecorder()
        payments = self.make_payments(config, [recorder, *self.extra_plugins()])
        pm = payments.plugin_manager
        if self.provider not in pm.providers():
            errors = "; ".join(message for _, message in pm.load_errors) or "none"
            pytest.fail(
                f"provider {self.provider!r} is not registered (installed providers: "
                f"{', '.join(sorted(pm.providers()))}; load errors: {errors}). Install the "
                "plugin (pip install -e .) or return it from extra_plugins()."
            )
        plugin, info = pm.providers()[self.provider]
        record_stubs(request.config, self.provider, _stub_hooks(pm, plugin))
        try:
            yield ConformanceRun(self, payments, recorder, info, config)
        finally:
            payments.close()

    # -- manifest and hooks -----------------------------------------------------
    def test_provider_info_is_well_formed(self, conformance: ConformanceRun) -> None:
        info = conformance.info
        assert isinstance(info, ProviderInfo)
        assert info.name == self.provider
        assert info.test_mode, "conformance runs in test mode: ProviderInfo.test_mode is False"
        assert info.payment_methods, "ProviderInfo.payment_methods is empty"
        if info.currencies is not None:
            assert info.currencies, "currencies=frozenset() takes nothing; use None for any"
            for currency in sorted(info.currencies):
                Money.zero(currency)  # raises InvalidRequest for a non-ISO code
        claimed = set(info.capabilities.names())
        problems = [
            f"{cap} without {needed}"
            for cap in sorted(claimed)
            for needed in CAPABILITY_IMPLIES.get(cap, ())
            if needed not in claimed
        ]
        if "recurring" in claimed and "stored" not in info.payment_methods:
            problems.append("recurring without 'stored' in payment_methods")
        assert not problems, "inconsistent capabilities: " + "; ".join(problems)

    def test_claimed_capabilities_have_their_hooks(self, conformance: ConformanceRun) -> None:
        pm = conformance.payments.plugin_manager
        claimed = conformance.info.capabilities.names()
        needed: dict[str, list[str]] = {"paygate_authorize": ["every payment"]}
        for cap in claimed:
            for hook in CAPABILITY_HOOKS.get(cap, ()):
                needed.setdefault(hook, []).append(cap)
        if "paypal" in conformance.info.payment_methods:
            needed.setdefault("paygate_confirm", []).append("paypal approval")
        missing = [
            f"{hook} (for {', '.join(caps)})"
            for hook, caps in sorted(needed.items())
            if not pm.provider_implements(self.provider, hook)
        ]
        assert not missing, "claimed but not implemented: " + "; ".join(missing)

    # -- payments -----------------------------------------------------------------
    def test_purchase(self, conformance: ConformanceRun) -> None:
        amount = conformance.amount()
        tx = conformance.purchase(amount)
        assert tx.status is S.CAPTURED, tx.status
        assert tx.provider == self.provider
        assert tx.provider_reference, "the provider returned no provider_reference"
        assert tx.amount == amount and tx.captured == amount
        request = conformance.calls("paygate_authorize")[0].request
        assert request.amount == amount and request.capture is True
        assert request.transaction_id == tx.id

    def test_secret_patterns_spare_ids_and_catch_configured_secrets(
        self, conformance: ConformanceRun
    ) -> None:
        """The provider's ``paygate_secret_patterns`` compile, match none of the
        ids it returned, and every configured secret value is scrubbed."""
        import re

        from paygate.redaction import scrub_text

        pm = conformance.payments.plugin_manager
        plugin = pm.providers()[conformance.name][0]
        patterns: list[re.Pattern[str]] = []
        for impl in pm.hook.paygate_secret_patterns.get_hookimpls():
            if impl.plugin is plugin:
                declared: Any = impl.function() or []
                for p in declared:
                    patterns.append(p if isinstance(p, re.Pattern) else re.compile(p))
        tx = conformance.purchase()
        ids = [tx.provider_reference or "", *tx.provider_data.values()]
        ids += [c.provider_reference or "" for c in tx.captures]
        for value in filter(None, ids):
            for pattern in patterns:
                assert pattern.search(value) is None, (
                    f"secret pattern {pattern.pattern!r} matches the provider's own id"
                )
        assert conformance.payments.transaction(tx.id).provider_reference == tx.provider_reference
        for secret in _secret_config_values(conformance.config):
            assert secret not in scrub_text(f"echo {secret} echo"), (
                "a configured secret is not scrubbed"
            )

    def test_authorize_then_capture(self, conformance: ConformanceRun) -> None:
        conformance.require("authorize")
        conformance.require("capture")
        amount = conformance.amount()
        tx = conformance.authorize(amount)
        assert tx.status is S.AUTHORIZED, tx.status
        assert tx.captured.is_zero()
        tx = conformance.payments.capture(tx.id)
        assert tx.status is S.CAPTURED, tx.status
        assert tx.captured == amount
        (capture,) = conformance.calls("paygate_capture")
        assert capture.request.amount == amount
        assert capture.request.provider_reference == tx.provider_reference

    def test_partial_capture(self, conformance: ConformanceRun) -> None:
        conformance.require("partial_capture")
        amount = conformance.amount()
        part = conformance.part(amount, 2, 5)
        tx = conformance.authorize(amount)
        tx = conformance.payments.capture(tx.id, part)
        assert tx.status in (S.CAPTURED, S.PARTIALLY_CAPTURED), tx.status
        assert tx.captured == part
        assert conformance.calls("paygate_capture")[-1].request.amount == part

    def test_partial_capture_refused_when_not_claimed(self, conformance: ConformanceRun) -> None:
        conformance.require("capture")
        conformance.require_not("partial_capture")
        amount = conformance.amount()
        tx = conformance.authorize(amount)
        part = conformance.part(amount, 2, 5)
        conformance.assert_refused(
            "paygate_capture", lambda: conformance.payments.capture(tx.id, part)
        )

    def test_multiple_captures(self, conformance: ConformanceRun) -> None:
        conformance.require("multiple_captures")
        amount = conformance.amount()
        first = conformance.part(amount, 3, 10)
        tx = conformance.authorize(amount)
        tx = conformance.payments.capture(tx.id, first, final=False)
        assert tx.status is S.PARTIALLY_CAPTURED, tx.status
        tx = conformance.payments.capture(tx.id, amount - first)
        assert tx.status is S.CAPTURED, tx.status
        assert tx.captured == amount
        keys = [c.idempotency_key for c in conformance.calls("paygate_capture")]
        assert len(keys) == 2 and len(set(keys)) == 2

    def test_multiple_captures_refused_when_not_claimed(self, conformance: ConformanceRun) -> None:
        conformance.require("capture")
        conformance.require_not("multiple_captures")
        amount = conformance.amount()
        tx = conformance.authorize(amount)
        conformance.assert_refused(
            "paygate_capture", lambda: conformance.payments.capture(tx.id, amount, final=False)
        )

    def test_void(self, conformance: ConformanceRun) -> None:
        conformance.require("void")
        tx = conformance.authorize()
        tx = conformance.payments.void(tx.id)
        assert tx.status is S.VOIDED, tx.status
        assert tx.captured.is_zero()
        (void,) = conformance.calls("paygate_void")
        assert void.request.provider_reference == tx.provider_reference

    def test_refund_in_full(self, conformance: ConformanceRun) -> None:
        conformance.require("refund")
        amount = conformance.amount()
        tx = conformance.purchase(amount)
        tx = conformance.payments.refund(tx.id)
        assert tx.status is S.REFUNDED, tx.status
        assert tx.refunded == amount
        (refund,) = conformance.calls("paygate_refund")
        assert refund.request.amount == amount

    def test_partial_refund(self, conformance: ConformanceRun) -> None:
        conformance.require("partial_refund")
        amount = conformance.amount()
        part = conformance.part(amount, 2, 5)
        tx = conformance.purchase(amount)
        tx = conformance.payments.refund(tx.id, part)
        assert tx.status is S.PARTIALLY_REFUNDED, tx.status
        assert tx.refunded == part
        assert conformance.calls("paygate_refund")[-1].request.amount == part

    def test_partial_refund_refused_when_not_claimed(self, conformance: ConformanceRun) -> None:
        conformance.require("refund")
        conformance.require_not("partial_refund")
        amount = conformance.amount()
        tx = conformance.purchase(amount)
        part = conformance.part(amount, 2, 5)
        conformance.assert_refused(
            "paygate_refund", lambda: conformance.payments.refund(tx.id, part)
        )

    def test_multiple_refunds(self, conformance: ConformanceRun) -> None:
        conformance.require("multiple_refunds")
        amount = conformance.amount()
        first, second = conformance.part(amount, 3, 10), conformance.part(amount, 1, 5)
        tx = conformance.purchase(amount)
        tx = conformance.payments.refund(tx.id, first)
        tx = conformance.payments.refund(tx.id, second)
        assert tx.status is S.PARTIALLY_REFUNDED, tx.status
        tx = conformance.payments.refund(tx.id)
        assert tx.status is S.REFUNDED, tx.status
        assert tx.refunded == amount
        assert len(tx.refunds) == 3
        calls = conformance.calls("paygate_refund")
        assert [c.request.amount for c in calls] == [first, second, amount - first - second]
        references = [c.result.operation_reference for c in calls if c.result is not None]
        assert len(set(references)) == 3, (
            f"each refund needs its own operation_reference (the refund's id): got {references}"
        )

    def test_multiple_refunds_refused_when_not_claimed(self, conformance: ConformanceRun) -> None:
        conformance.require("partial_refund")
        conformance.require_not("multiple_refunds")
        amount = conformance.amount()
        tx = conformance.purchase(amount)
        tx = conformance.payments.refund(tx.id, conformance.part(amount, 3, 10))
        conformance.assert_refused(
            "paygate_refund",
            lambda: conformance.payments.refund(tx.id, conformance.part(amount, 1, 5)),
        )

    def test_refund_refused_when_not_claimed(self, conformance: ConformanceRun) -> None:
        conformance.require_not("refund")
        tx = conformance.purchase()
        conformance.assert_refused("paygate_refund", lambda: conformance.payments.refund(tx.id))

    def test_authorize_refused_when_not_claimed(self, conformance: ConformanceRun) -> None:
        conformance.require_not("authorize")
        method = conformance.method("success")
        conformance.assert_refused(
            "paygate_authorize",
            lambda: conformance.payments.authorize(
                conformance.amount(), method, provider=self.provider
            ),
        )

    def test_verify(self, conformance: ConformanceRun) -> None:
        conformance.require("verify")
        tx = conformance.payments.verify(
            conformance.method("success"), currency=conformance.currency, provider=self.provider
        )
        assert tx.status in (S.VOIDED, S.REQUIRES_ACTION), tx.status
        (auth,) = conformance.calls("paygate_authorize")
        assert auth.request.amount == Money(1, conformance.currency)
        assert auth.request.capture is False
        if tx.status is S.VOIDED:
            assert len(conformance.calls("paygate_void")) == 1

    def test_verify_refused_when_not_claimed(self, conformance: ConformanceRun) -> None:
        conformance.require_not("verify")
        method = conformance.method("success")
        conformance.assert_refused(
            "paygate_authorize",
            lambda: conformance.payments.verify(
                method, currency=conformance.currency, provider=self.provider
            ),
        )

    # -- stored methods and recurring ------------------------------------------------
    def test_store_payment_method_and_charge_recurring(self, conformance: ConformanceRun) -> None:
        conformance.require("store_payment_method")
        stored = conformance.payments.store_payment_method(
            conformance.method("success"), customer=self.customer, provider=self.provider
        )
        assert isinstance(stored, StoredPaymentMethod)
        assert stored.provider == self.provider
        if stored.status == "requires_action":
            # Saving waits for the payer (PayPal's vault): approve, then confirm.
            assert stored.next_action is not None, "requires_action without a next_action"
            params = self.approve_payment_method(conformance, stored)
            stored = conformance.payments.confirm_payment_method(stored, params=params)
            assert stored.status == "active"
        assert stored.token
        if not conformance.info.capabilities.recurring:
            return
        amount = conformance.amount()
        tx = conformance.payments.charge_recurring(amount, stored, customer=self.customer)
        assert tx.status is S.CAPTURED, tx.status
        assert tx.captured == amount
        (charge,) = conformance.calls("paygate_charge_recurring")
        assert charge.request.off_session is True
        assert charge.request.method == stored

    def test_store_payment_method_refused_when_not_claimed(
        self, conformance: ConformanceRun
    ) -> None:
        conformance.require_not("store_payment_method")
        method = conformance.method("success")
        conformance.assert_refused(
            "paygate_store_payment_method",
            lambda: conformance.payments.store_payment_method(
                method, customer=self.customer, provider=self.provider
            ),
        )

    def test_recurring_refused_when_not_claimed(self, conformance: ConformanceRun) -> None:
        conformance.require_not("recurring")
        stored = StoredPaymentMethod(provider=self.provider, token="tok_conformance")  # noqa: S106 - a fake token
        conformance.assert_refused(
            "paygate_charge_recurring",
            lambda: conformance.payments.charge_recurring(conformance.amount(), stored),
        )

    # -- 3-D Secure -------------------------------------------------------------------
    def test_three_d_secure(self, conformance: ConformanceRun) -> None:
        conformance.require("three_d_secure")
        amount = conformance.amount()
        method = conformance.method("three_d_secure", required=True)
        tx = conformance.payments.authorize(
            amount, method, provider=self.provider, return_url="https://shop.example/back"
        )
        assert tx.status is S.REQUIRES_ACTION, tx.status
        assert tx.next_action is not None, "requires_action without next_action"
        assert tx.next_action.redirect_url.startswith(("https://", "http://"))
        tx = conformance.payments.confirm(tx.id, params=self.complete_action(conformance, tx))
        assert tx.status is S.AUTHORIZED, tx.status
        if conformance.info.capabilities.capture:
            tx = conformance.payments.capture(tx.id)
            assert tx.status is S.CAPTURED and tx.captured == amount

    # -- webhooks ---------------------------------------------------------------------
    def test_webhook_is_verified_and_parsed(self, conformance: ConformanceRun) -> None:
        conformance.require("webhooks")
        tx = conformance.purchase()
        delivery = self.make_webhook(conformance, tx)
        if delivery is None:
            pytest.fail(
                f"{self.provider} claims webhooks: implement make_webhook(run, transaction) "
                "in the conformance class to produce a signed delivery"
            )
        headers, body = delivery
        event = conformance.payments.parse_webhook(self.provider, headers, body)
        assert isinstance(event, WebhookEvent)
        assert event.provider == self.provider
        assert event.id, "a webhook event needs the provider's event id (for deduplication)"
        assert event.type in WEBHOOK_TYPES, f"{event.type!r} is not a neutral event type"
        assert tx.id == event.transaction_id or (
            event.provider_reference is not None
            and event.provider_reference == tx.provider_reference
        ), "the event names neither the transaction id nor the provider reference"

    def test_webhook_with_a_bad_signature_is_rejected(self, conformance: ConformanceRun) -> None:
        conformance.require("webhooks")
        tx = conformance.purchase()
        delivery = self.make_webhook(conformance, tx)
        if delivery is None:
            pytest.fail(
                f"{self.provider} claims webhooks: implement make_webhook(run, transaction)"
            )
        headers, body = delivery
        tampered = body.replace(b"}", b', "tampered": true}', 1) if b"}" in body else body + b"x"
        with pytest.raises(SignatureVerificationError):
            conformance.payments.parse_webhook(self.provider, headers, tampered)
        with pytest.raises(SignatureVerificationError):
            conformance.payments.parse_webhook(
                self.provider, {"Content-Type": "application/json"}, body
            )

    def test_webhooks_refused_when_not_claimed(self, conformance: ConformanceRun) -> None:
        conformance.require_not("webhooks")
        conformance.assert_refused(
            "paygate_parse_webhook",
            lambda: conformance.payments.parse_webhook(self.provider, {}, b"{}"),
        )

    # -- errors -----------------------------------------------------------------------
    @pytest.mark.parametrize("outcome", list(DECLINES))
    def test_decline_uses_a_standard_error_code(
        self, conformance: ConformanceRun, outcome: str
    ) -> None:
        method = conformance.method(outcome)
        amount = conformance.amount()

        def pay() -> None:
            tx = conformance.payments.purchase(amount, method, provider=self.provider)
            conformance.settle(tx)  # some gateways decline only once the payer is back

        with pytest.raises(CardDeclined) as info:
            pay()
        expected = DECLINES[outcome]
        declined = info.value
        assert declined.transaction is not None, "CardDeclined without its failed transaction"
        assert declined.transaction.status is S.FAILED
        failed = [
            c.result
            for c in conformance.recorder.calls
            if isinstance(c.result, ProviderResult) and c.result.status is S.FAILED
        ]
        assert failed, "the decline did not come back as ProviderResult(status=failed)"
        error = failed[-1].error
        assert error is not None, "a failed ProviderResult needs error=ErrorInfo(...)"
        assert error.code in {c.value for c in ErrorCode}, f"{error.code!r} is not a standard code"
        assert ErrorCode(error.code) in DECLINE_CODES, f"{error.code!r} is not a decline code"
        assert error.code == expected.value, (
            f"{outcome}: expected {expected.value}, got {error.code}"
        )
        assert declined.code is expected

    def test_invalid_amounts_are_refused_before_sending(self, conformance: ConformanceRun) -> None:
        amounts = list(self.invalid_amounts())
        if not amounts:
            pytest.skip(f"{self.provider}: invalid_amounts() lists none")
        for amount in amounts:
            method = conformance.method("success")
            with pytest.raises(InvalidRequest) as info:
                conformance.payments.purchase(amount, method, provider=self.provider)
            assert info.value.code is ErrorCode.INVALID_AMOUNT, f"{amount}: {info.value!r}"
            sent = self.sent_idempotency_keys(conformance)
            if sent is not None:
                keys = {c.idempotency_key for c in conformance.calls("paygate_authorize")}
                assert not keys & set(sent), f"{amount} was sent to the gateway"

    # -- money ------------------------------------------------------------------------
    def test_amounts_in_every_currency(self, conformance: ConformanceRun) -> None:
        info = conformance.info
        if self.currencies_to_test is not None:
            currencies = list(self.currencies_to_test)
        elif info.currencies is not None:
            currencies = sorted(info.currencies)
        else:
            currencies = list(self.sample_currencies)
        failures: list[str] = []
        for currency in currencies:
            amount = self.amount(currency)
            try:
                tx = conformance.purchase(amount)
            except PaygateError as exc:
                failures.append(f"{currency}: {type(exc).__name__}({exc.code.value}): {exc}")
                continue
            sent = conformance.calls("paygate_authorize")[-1].request.amount
            if tx.status is not S.CAPTURED or tx.captured != amount or sent != amount:
                failures.append(
                    f"{currency}: asked {amount}, provider got {sent}, "
                    f"transaction {tx.status.value} with {tx.captured} captured"
                )
        assert not failures, (
            f"{len(failures)} of {len(currencies)} currencies failed: " + "; ".join(failures)
        )

    # -- idempotency ------------------------------------------------------------------
    def test_idempotency_keys_reach_the_provider(self, conformance: ConformanceRun) -> None:
        key = "conformance-" + _secrets.token_hex(8)
        amount = conformance.amount()
        method = conformance.method("success")
        tx = conformance.payments.purchase(
            amount, method, provider=self.provider, idempotency_key=key
        )
        (auth,) = conformance.calls("paygate_authorize")
        assert auth.request.idempotency_key == key
        assert auth.request.transaction_id == tx.id
        again = conformance.payments.purchase(
            amount, method, provider=self.provider, idempotency_key=key
        )
        assert again.id == tx.id, "a retried call with the same key made a new transaction"
        assert len(conformance.calls("paygate_authorize")) == 1, "a retry reached the provider"
        tx = conformance.settle(tx)
        if conformance.info.capabilities.refund:
            conformance.payments.refund(tx.id)
        keys = [c.idempotency_key for c in conformance.recorder.calls if c.hook in MUTATING_HOOKS]
        assert all(keys), "a mutating request carried no idempotency key"
        assert len(set(keys)) == len(keys), f"idempotency keys reused across operations: {keys}"
        sent = self.sent_idempotency_keys(conformance)
        if sent is None:
            return
        not_sent = [k for k in keys if k not in set(sent)]
        assert not not_sent, f"idempotency keys not sent to the gateway: {not_sent}"

    def _fetch(
        self, conformance: ConformanceRun, reference: str | None
    ) -> tuple[Transaction, ProviderResult | None]:
        pm = conformance.payments.plugin_manager
        if not pm.provider_implements(self.provider, "paygate_fetch_transaction"):
            pytest.skip(f"{self.provider} does not implement paygate_fetch_transaction")
        tx = conformance.purchase()
        auth = conformance.calls("paygate_authorize")[0]
        request = FetchRequest(
            operation=Operation.FETCH_TRANSACTION,
            provider=self.provider,
            transaction_id=tx.id,
            idempotency_key=auth.idempotency_key or "",
            provider_reference=tx.provider_reference if reference == "known" else None,
            provider_data=dict(tx.provider_data),
            of_operation=Operation.PURCHASE,
            amount=tx.amount,
        )
        result = pm.routed("paygate_fetch_transaction", self.provider)(request=request)
        return tx, result

    def test_fetch_transaction_by_reference(self, conformance: ConformanceRun) -> None:
        tx, result = self._fetch(conformance, "known")
        assert isinstance(result, ProviderResult), "fetch by provider_reference found nothing"
        assert result.provider_reference == tx.provider_reference
        assert result.status is S.CAPTURED, result.status

    def test_fetch_transaction_when_the_answer_was_lost(self, conformance: ConformanceRun) -> None:
        # The first call's answer never came back: no provider_reference is
        # known, only the idempotency key and the transaction id sent as metadata.
        tx, result = self._fetch(conformance, None)
        assert isinstance(result, ProviderResult), (
            "fetch by idempotency key / transaction id found nothing"
        )
        assert result.provider_reference == tx.provider_reference
        assert result.status is S.CAPTURED, result.status

    # -- secrets ----------------------------------------------------------------------
    def test_no_secret_in_logs_results_or_ledger(
        self, conformance: ConformanceRun, caplog: pytest.LogCaptureFixture
    ) -> None:
        # Another test may have installed the core's scrubbing record factory
        # (PAYGATE_DEBUG does, for the whole process): log raw records here,
        # so what is checked is what the provider wrote, not what the core cleaned.
        factory = logging.getLogRecordFactory()
        logging.setLogRecordFactory(logging.LogRecord)
        try:
            caught = self._secrets_flow(conformance)
        finally:
            logging.setLogRecordFactory(factory)
        secrets = conformance.secrets()
        assert secrets, "the suite used no test card: nothing to look for"
        assert_no_secrets(caplog.text, secrets=secrets, what="the logs")
        assert_no_secrets("\n".join(caught), secrets=secrets, what="the errors raised")
        for call in conformance.recorder.calls:
            assert_no_secrets(repr(call.result), secrets=secrets, what=f"the result of {call.hook}")
            if call.exception is not None:
                assert_no_secrets(str(call.exception), secrets=secrets, what=f"{call.hook} error")
        ledger = conformance.payments.ledger
        assert_no_secrets(
            repr(ledger.operations()), secrets=secrets, what="the ledger's operations"
        )
        assert_no_secrets(
            repr(conformance.transactions()), secrets=secrets, what="the ledger's transactions"
        )

    def _secrets_flow(self, conformance: ConformanceRun) -> list[str]:
        caught: list[str] = []
        tx = conformance.purchase()
        if conformance.info.capabilities.refund:
            conformance.payments.refund(tx.id)
        declining = self.card("decline")
        if declining is not None:
            conformance.methods.append(declining)
            try:
                declined = conformance.payments.purchase(
                    conformance.amount(), declining, provider=self.provider
                )
                conformance.settle(declined)
            except PaygateError as exc:
                caught.append(f"{exc!s} {exc!r}")
        if conformance.info.capabilities.store_payment_method:
            # A failing store is test_store_payment_method_and_charge_recurring's
            # business; here only what it leaves behind matters.
            try:
                stored = conformance.payments.store_payment_method(
                    conformance.method("success"), customer=self.customer, provider=self.provider
                )
                caught.append(repr(stored))
            except PaygateError as exc:
                caught.append(f"{exc!s} {exc!r}")
        return caught


__all__ = [
    "CAPABILITY_HOOKS",
    "DECLINES",
    "OUTCOMES",
    "STRIPE_TEST_CARDS",
    "ConformanceRun",
    "ProviderConformance",
]

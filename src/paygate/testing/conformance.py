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
* ``amount(currency)``, ``complete_action(run, tx)``,
  ``make_webhook(run, tx, event_type=..., signed_at=...)``,
  ``sent_idempotency_keys(run)``, ``wire_amount(sent, amount)``,
  ``bad_credentials(config)``, ``invalid_amounts()``, ``make_payments(...)``,
  ``extra_plugins()``, ``idempotency_header``, ``waivers``, ``known_gaps``.

What reached the gateway is seen by the kit's own :class:`~paygate.testing.wire.Wire`
(at the transport of ``requests``), which also injects faults there: lost
answers, connection resets, timeouts, 5xx, 429 and 401. A check the author
cannot run is *waived* by name with a reason (:attr:`ProviderConformance.waivers`),
and every waiver is listed in the terminal summary.
"""

from __future__ import annotations

import inspect
import logging
import os
import secrets as _secrets
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import date as _date
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

from paygate.errors import (
    DECLINE_CODES,
    AuthenticationError,
    CardDeclined,
    ErrorCode,
    InvalidRequest,
    PaygateError,
    ProviderUnavailable,
    SignatureVerificationError,
    UnsupportedFeature,
)
from paygate.models import (
    CAPABILITY_HOOKS,
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
from paygate.testing.plugin import record_stubs, record_waiver
from paygate.testing.recorder import RecordedRequest, RequestRecorder
from paygate.testing.secrets import assert_no_secrets
from paygate.testing.wire import Wire, WireRequest

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

#: What each injected fault did, for failure messages.
FAULT_TEXT: dict[str, str] = {
    "drop": "the request reached the gateway and the connection closed before the answer",
    "reset": "the request reached the gateway and the connection was reset",
    "timeout": "the request reached the gateway and reading the answer timed out",
    "server_error": "the request reached the gateway, which answered HTTP 500",
}

#: Waiver names an author may declare in ``waivers`` (besides ``decline:<outcome>``).
WAIVABLE: dict[str, str] = {
    "wire": "the plugin does not talk through requests: the kit cannot see its wire",
    "webhook:stale": "make_webhook cannot sign a delivery with an old timestamp",
    "webhook:event_type": "make_webhook cannot produce another event type",
}


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
    #: What reached the gateway during this test, and where faults are injected.
    wire: Wire
    #: The pytest config, where waivers are recorded for the summary.
    pytest_config: pytest.Config | None = None
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
        """The author's test method for ``outcome``.

        ``None`` for a decline outcome fails unless ``waivers`` has
        ``"decline:<outcome>"`` (then the test is skipped and the waiver shown);
        ``None`` for ``success`` always fails.
        """
        method = self.suite.card(outcome)
        if method is None:
            message = f"{self.suite.provider}: card({outcome!r}) returned None"
            if outcome in DECLINES:
                self.waive(
                    f"decline:{outcome}",
                    message + ": return a test payment method the gateway declines with "
                    f"{DECLINES[outcome].value}, or declare waivers['decline:{outcome}'] = "
                    "'<why the gateway cannot produce it>'",
                )
            if required or outcome == "success":
                pytest.fail(message + ", but the provider claims what needs it")
            pytest.skip(message + " (no test payment method for this outcome)")
        self.methods.append(method)
        return method

    def waive(self, name: str, failure: str) -> None:
        """Skip (and record for the summary) when the author waived ``name``;
        else fail with ``failure``, which says what to do."""
        reason = self.suite.waivers.get(name)
        if not reason:
            pytest.fail(failure)
        if self.pytest_config is not None:
            record_waiver(self.pytest_config, self.suite.provider, name, reason)
        pytest.skip(f"waived by {self.suite.provider} ({name}): {reason}")

    def new_key(self) -> str:
        """A fresh idempotency key the test passes explicitly, to find its request on the wire."""
        return "conformance-" + _secrets.token_hex(8)

    def require_wire(self) -> None:
        """Skip, recording the waiver, when the author waived the wire checks."""
        if "wire" in self.suite.waivers:
            self.waive("wire", "")

    def sent_with_key(self, key: str, what: str) -> list[WireRequest]:
        """The wire requests whose idempotency header is ``key``; fail with
        what to fix when there are none."""
        self.require_wire()
        sent = self.wire.with_key(key)
        if sent:
            return sent
        header = self.suite.idempotency_header
        if not self.wire.requests:
            pytest.fail(
                f"{what}: the kit saw no HTTP request at all. The kit watches requests sent "
                "through the `requests` library (see writing-a-provider.md, 'The wire'); a "
                "plugin on another client declares waivers['wire'] and overrides "
                "sent_idempotency_keys(run)"
            )
        seen = sorted({f"{r.method} {r.path}" for r in self.wire.requests})
        pytest.fail(
            f"{what}: no request reached the gateway with the header {header}: {key} "
            f"(requests seen: {', '.join(seen)}). Send request.idempotency_key, unchanged, as "
            f"the {header} header of the operation's request (set idempotency_header on the "
            "suite if your gateway names it differently)"
        )

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
    #: ``{"test_name": "why"}``: tests skipped with that reason, shown in the
    #: terminal summary.
    known_gaps: ClassVar[Mapping[str, str]] = {}
    #: ``{"check": "why"}``: checks the gateway cannot support, declared
    #: instead of skipped silently, and listed in the terminal summary:
    #: ``"decline:<outcome>"`` (no test method declines that way), ``"wire"``
    #: (the plugin does not use ``requests``), ``"webhook:stale"``,
    #: ``"webhook:event_type"``. An undeclared gap fails its test.
    waivers: ClassVar[Mapping[str, str]] = {}
    #: The HTTP header that carries the idempotency key on the wire.
    idempotency_header: ClassVar[str] = "Idempotency-Key"
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
        self,
        run: ConformanceRun,
        transaction: Transaction,
        *,
        event_type: str = "payment.captured",
        signed_at: datetime | None = None,
    ) -> tuple[dict[str, str], bytes] | None:
        """A correctly signed webhook delivery about ``transaction``: ``(headers, body)``.

        :param event_type: the neutral type (:data:`WEBHOOK_TYPES`) the
            delivery must parse to: use your gateway's event name for it.
        :param signed_at: sign as of this instant (``None``: now); the suite
            asks for an hour-old delivery, which the plugin must refuse.
        :returns: ``None`` when you cannot produce that delivery (declare the
            ``"webhook:stale"`` or ``"webhook:event_type"`` waiver then).

        The delivery names the transaction the way your gateway would: its
        reference, and ``transaction.id`` in the metadata you sent with it.
        Default: the provider plugin's own ``make_webhook(event_type,
        transaction_id)`` helper when it has one, for a delivery signed now.
        """
        plugin = run.payments.plugin_manager.providers()[run.name][0]
        maker = getattr(plugin, "make_webhook", None)
        if maker is None or signed_at is not None:
            return None
        headers, body = maker(event_type, transaction.id)
        return dict(headers), bytes(body)

    def sent_idempotency_keys(self, run: ConformanceRun) -> Collection[str] | None:
        """The idempotency keys that reached the gateway.

        Default: the values of :attr:`idempotency_header` on the kit's wire.
        Override only when the plugin does not use ``requests`` (and declare
        the ``"wire"`` waiver): read them from your local server's log.
        ``None`` fails the checks that need it.
        """
        if "wire" in self.waivers:
            return None
        return run.wire.keys()

    def wire_amount(self, sent: WireRequest, amount: Money) -> int | None:
        """The amount ``sent`` carries, in the gateway's minor units.

        Default: :meth:`WireRequest.amount_minor` (an integer ``amount``
        field, or an ``amount`` object with a decimal ``value``). Override
        when your gateway spells amounts otherwise.
        """
        return sent.amount_minor(amount.exponent)

    def wire_minor_units(self, amount: Money) -> int:
        """What the gateway must receive for ``amount``: its minor units
        (override where your gateway's unit differs from ISO 4217's)."""
        return amount.minor_units

    def bad_credentials(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The configuration with wrong credentials, for the bad-key check.

        Default: every secret-looking setting (``api_key``, ``client_secret``...)
        of the provider's table replaced by a wrong value of the same shape
        (its prefix kept, so a local shape check lets it through). The wire
        answers 401 whatever the server thinks of it.
        """
        out = dict(config)
        section = dict(out.get(self.provider) or {})
        for name, value in section.items():
            if isinstance(value, str) and list(_secret_config_values({name: value})):
                prefix = value.rsplit("_", 1)[0] + "_" if "_" in value else ""
                section[name] = prefix + "Wrong" + _secrets.token_hex(12)
        out[self.provider] = section
        return out

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
        name = getattr(request.node, "originalname", request.node.name)
        gap = self.known_gaps.get(name)
        if gap:
            record_waiver(request.config, self.provider, name, gap)
            pytest.skip(f"known gap of {self.provider}: {gap}")
        unknown = [
            w
            for w in self.waivers
            if w not in WAIVABLE and w.removeprefix("decline:") not in DECLINES
        ]
        if unknown:
            pytest.fail(
                f"unknown waiver(s) {unknown}: one of {sorted(WAIVABLE)} or "
                f"decline:<{'|'.join(DECLINES)}>"
            )

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
        # Above the transport: a responses mock provider_config started stays
        # underneath the wire and keeps answering.
        with Wire(idempotency_header=self.idempotency_header) as wire:
            recorder = RequestRecorder()
            payments = self.make_payments(config, [recorder, *self.extra_plugins()])
            pm = payments.plugin_manager
            if self.provider not in pm.providers():
                errors = "; ".join(message for _, message in pm.load_errors) or "none"
                payments.close()
                pytest.fail(
                    f"provider {self.provider!r} is not registered (installed providers: "
                    f"{', '.join(sorted(pm.providers()))}; load errors: {errors}). Install the "
                    "plugin (pip install -e .) or return it from extra_plugins()."
                )
            plugin, info = pm.providers()[self.provider]
            record_stubs(request.config, self.provider, _stub_hooks(pm, plugin))
            try:
                yield ConformanceRun(self, payments, recorder, info, config, wire, request.config)
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
        calls = conformance.calls("paygate_capture")
        keys = [c.idempotency_key for c in calls]
        assert len(keys) == 2 and len(set(keys)) == 2
        references = [c.result.operation_reference for c in calls if c.result is not None]
        assert len(set(references)) == 2, (
            f"each capture needs its own operation_reference (the capture's id): got {references}"
        )

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
    def _webhook(
        self,
        conformance: ConformanceRun,
        tx: Transaction,
        *,
        event_type: str = "payment.captured",
        signed_at: datetime | None = None,
    ) -> tuple[dict[str, str], bytes] | None:
        params = inspect.signature(self.make_webhook).parameters
        if "event_type" not in params or "signed_at" not in params:
            pytest.fail(
                f"{type(self).__name__}.make_webhook(run, transaction) must also take the "
                "keyword arguments event_type='payment.captured' and signed_at=None "
                "(see ProviderConformance.make_webhook)"
            )
        return self.make_webhook(conformance, tx, event_type=event_type, signed_at=signed_at)

    def _delivery(
        self, conformance: ConformanceRun, tx: Transaction
    ) -> tuple[dict[str, str], bytes]:
        delivery = self._webhook(conformance, tx)
        if delivery is None:
            pytest.fail(
                f"{self.provider} claims webhooks: implement make_webhook(run, transaction, *, "
                "event_type, signed_at) in the conformance class to produce a signed delivery"
            )
        return delivery

    def test_webhook_is_verified_and_parsed(self, conformance: ConformanceRun) -> None:
        conformance.require("webhooks")
        tx = conformance.purchase()
        headers, body = self._delivery(conformance, tx)
        event = conformance.payments.parse_webhook(self.provider, headers, body)
        assert isinstance(event, WebhookEvent)
        assert event.provider == self.provider
        assert event.id, "a webhook event needs the provider's event id (for deduplication)"
        assert event.type in WEBHOOK_TYPES, f"{event.type!r} is not a neutral event type"
        assert event.type == "payment.captured", (
            f"a delivery made for event_type='payment.captured' parsed as {event.type!r}: "
            "map your gateway's event names to the neutral types"
        )
        assert event.transaction_id == tx.id, (
            f"the event's transaction_id is {event.transaction_id!r}, not {tx.id!r}: read the "
            "paygate transaction id you sent as metadata back from the event"
        )
        assert event.provider_reference in (None, tx.provider_reference), (
            f"the event's provider_reference {event.provider_reference!r} is not the payment's"
        )

    def test_webhook_event_type_follows_the_event(self, conformance: ConformanceRun) -> None:
        conformance.require("webhooks")
        tx = conformance.purchase()
        for wanted in ("payment.refunded", "payment.failed"):
            delivery = self._webhook(conformance, tx, event_type=wanted)
            if delivery is None:
                conformance.waive(
                    "webhook:event_type",
                    f"make_webhook(event_type={wanted!r}) returned None: produce your gateway's "
                    "event for that type, or declare waivers['webhook:event_type']",
                )
                return
            event = conformance.payments.parse_webhook(self.provider, *delivery)
            assert event.type == wanted, (
                f"a delivery made for event_type={wanted!r} parsed as {event.type!r}: map "
                "each of your gateway's event names to its neutral type (unknown ones to 'other')"
            )

    def test_stale_webhook_is_refused(self, conformance: ConformanceRun) -> None:
        conformance.require("webhooks")
        tx = conformance.purchase()
        signed_at = datetime.now(UTC) - timedelta(hours=1)
        delivery = self._webhook(conformance, tx, signed_at=signed_at)
        if delivery is None:
            conformance.waive(
                "webhook:stale",
                "make_webhook(signed_at=<an hour ago>) returned None: sign the delivery with "
                "that timestamp, or declare waivers['webhook:stale'] with the reason",
            )
            return
        try:
            event = conformance.payments.parse_webhook(self.provider, *delivery)
        except SignatureVerificationError:
            return
        pytest.fail(
            f"a delivery signed an hour ago was accepted (event {event.type}): refuse "
            "signatures older than your tolerance (5 minutes is usual) with "
            "SignatureVerificationError, or an attacker can replay old deliveries"
        )

    def test_webhook_with_a_bad_signature_is_rejected(self, conformance: ConformanceRun) -> None:
        conformance.require("webhooks")
        tx = conformance.purchase()
        headers, body = self._delivery(conformance, tx)
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
            key = conformance.new_key()
            with pytest.raises(InvalidRequest) as info:
                conformance.payments.purchase(
                    amount, method, provider=self.provider, idempotency_key=key
                )
            assert info.value.code is ErrorCode.INVALID_AMOUNT, f"{amount}: {info.value!r}"
            sent = self.sent_idempotency_keys(conformance)
            if sent is None:
                conformance.waive("wire", "sent_idempotency_keys(run) returned None")
            assert key not in set(sent or ()), (
                f"{amount} was sent to the gateway: refuse it before sending"
            )

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
            key = conformance.new_key()
            try:
                tx = conformance.settle(
                    conformance.payments.purchase(
                        amount,
                        conformance.method("success"),
                        provider=self.provider,
                        idempotency_key=key,
                    )
                )
            except PaygateError as exc:
                failures.append(f"{currency}: {type(exc).__name__}({exc.code.value}): {exc}")
                continue
            if tx.status is not S.CAPTURED or tx.captured != amount:
                failures.append(
                    f"{currency}: asked {amount}, transaction {tx.status.value} "
                    f"with {tx.captured} captured"
                )
            if "wire" not in self.waivers:
                failures.extend(self._wire_amount_problems(conformance, key, amount, "purchase"))
        assert not failures, (
            f"{len(failures)} of {len(currencies)} currencies failed: " + "; ".join(failures)
        )

    def _wire_amount_problems(
        self, conformance: ConformanceRun, key: str, amount: Money, what: str
    ) -> list[str]:
        """What is wrong with the amount the request keyed ``key`` carried."""
        sent = conformance.sent_with_key(key, f"the {what} of {amount}")
        expected = self.wire_minor_units(amount)
        found = self.wire_amount(sent[0], amount)
        if found is None:
            return [
                f"{amount.currency}: the kit found no amount in {sent[0].method} {sent[0].path} "
                "(override wire_amount(sent, amount) to read it)"
            ]
        if found != expected:
            return [
                f"{amount.currency}: the {what} of {amount} reached the gateway as {found} "
                f"minor units, not {expected}: send request.amount.minor_units"
            ]
        return []

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
        tx = conformance.settle(tx)
        if conformance.info.capabilities.refund:
            conformance.payments.refund(tx.id)
        keys = [c.idempotency_key for c in conformance.recorder.calls if c.hook in MUTATING_HOOKS]
        sent = self.sent_idempotency_keys(conformance)
        if sent is None:
            conformance.waive(
                "wire",
                "sent_idempotency_keys(run) returned None, so nothing checks that the keys "
                "reach the gateway: keep the default (the kit's wire) or read them from your "
                "local server",
            )
        not_sent = [k for k in keys if k not in set(sent or ())]
        assert not not_sent, (
            f"idempotency keys not sent to the gateway: {not_sent}. Send "
            f"request.idempotency_key as the {self.idempotency_header} header"
        )

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

    def _require_fetch(self, conformance: ConformanceRun) -> None:
        pm = conformance.payments.plugin_manager
        if not pm.provider_implements(self.provider, "paygate_fetch_transaction"):
            pytest.fail(
                f"{self.provider} does not implement paygate_fetch_transaction: without it "
                "reconcile cannot settle an operation whose answer was lost"
            )

    def _settle_by_reconcile(self, conformance: ConformanceRun, key: str, what: str) -> Transaction:
        """Run reconcile after ``what``'s answer (keyed ``key``) was lost; the transaction."""
        record = next(
            (r for r in conformance.payments.ledger.operations() if r.idempotency_key == key), None
        )
        assert record is not None, f"the ledger has no operation for {what}"
        report = conformance.payments.reconcile(pending_older_than=0)
        assert report.checked >= 1, (
            f"reconcile checked no operation after {what}'s answer was lost: the hook must "
            "raise ProviderUnavailable(request_sent=True) so the outcome stays unknown"
        )
        mine = [d for d in report.details if d["idempotency_key"] == key]
        assert mine and mine[0]["outcome"] == "succeeded", (
            f"reconcile could not settle {what} whose answer was lost ({mine or report.details}): "
            "paygate_fetch_transaction must find the operation by its idempotency key (or the "
            "transaction id you sent as metadata) and return its outcome"
        )
        tx = conformance.payments.transaction(record.transaction_id)
        assert tx is not None
        return tx

    def test_fetch_transaction_when_the_answer_was_lost(self, conformance: ConformanceRun) -> None:
        self._require_fetch(conformance)
        if "wire" in self.waivers:
            # No wire to lose an answer on: ask as reconcile would, without a
            # provider_reference (only the key and the transaction id are known).
            tx, result = self._fetch(conformance, None)
            assert isinstance(result, ProviderResult), (
                "fetch by idempotency key / transaction id found nothing"
            )
            assert result.provider_reference == tx.provider_reference
            assert result.status is S.CAPTURED, result.status
            return
        amount = conformance.amount()
        method = conformance.method("success")
        key, _error = self._lose(
            conformance,
            "drop",
            lambda k: conformance.payments.purchase(
                amount, method, provider=self.provider, idempotency_key=k
            ),
            "the purchase",
        )
        tx = self._settle_by_reconcile(conformance, key, "the purchase")
        assert tx.status is S.CAPTURED, (
            f"the purchase the gateway carried out was settled as {tx.status.value}"
        )
        assert tx.provider_reference, "reconcile settled the purchase without its reference"

    def test_fetch_transaction_honours_of_operation(self, conformance: ConformanceRun) -> None:
        conformance.require("refund")
        self._require_fetch(conformance)
        pm = conformance.payments.plugin_manager
        tx = conformance.purchase()
        never = FetchRequest(
            operation=Operation.FETCH_TRANSACTION,
            provider=self.provider,
            transaction_id=tx.id,
            idempotency_key=conformance.new_key(),
            provider_reference=tx.provider_reference,
            provider_data=dict(tx.provider_data),
            of_operation=Operation.REFUND,
            amount=tx.amount,
        )
        try:
            result = pm.routed("paygate_fetch_transaction", self.provider)(request=never)
        except ProviderUnavailable:
            return  # "cannot tell": the refund stays unknown, which is safe
        assert result is None or result.status is S.FAILED, (
            "asked about a refund the gateway never received (of_operation=refund, an "
            f"idempotency key never sent), fetch returned {result.status.value}: look the "
            "operation up by its own key and return None when the gateway has no trace of it "
            "(or raise ProviderUnavailable when you cannot tell). Answering with the "
            "payment's state would settle a refund that never happened"
        )

    def test_lost_refund_is_reconciled(self, conformance: ConformanceRun) -> None:
        conformance.require("refund")
        self._require_fetch(conformance)
        tx = conformance.purchase()
        key, _error = self._lose(
            conformance,
            "drop",
            lambda k: conformance.payments.refund(tx.id, idempotency_key=k),
            "the refund",
        )
        tx = self._settle_by_reconcile(conformance, key, "the refund")
        assert tx.status is S.REFUNDED and tx.refunded == tx.amount, (
            f"a refund the gateway carried out was settled as {tx.status.value} with "
            f"{tx.refunded} refunded: for of_operation=refund return that refund's outcome "
            "(status refunded/partially_refunded, operation_reference = the refund's id)"
        )
        assert tx.refunds and tx.refunds[-1].provider_reference, (
            "reconcile settled the lost refund without the refund's own id: for "
            "of_operation=refund return operation_reference = the gateway's refund id"
        )

    # -- the wire: faults between the plugin and the gateway -------------------------
    def _lose(
        self,
        conformance: ConformanceRun,
        fault: str,
        action: Any,
        what: str,
    ) -> tuple[str, PaygateError | None]:
        """Run ``action(key)`` with ``fault`` injected on the request keyed ``key``."""
        conformance.require_wire()
        key = conformance.new_key()
        conformance.wire.fail(fault, key=key)
        error: PaygateError | None = None
        try:
            conformance.settle(action(key))
        except PaygateError as exc:
            error = exc
        finally:
            conformance.wire.clear_faults()
        conformance.sent_with_key(key, what)
        return key, error

    @pytest.mark.parametrize("fault", ["drop", "reset", "timeout", "server_error"])
    def test_lost_answer_is_reported_as_unknown(
        self, conformance: ConformanceRun, fault: str
    ) -> None:
        amount = conformance.amount()
        method = conformance.method("success")
        key, error = self._lose(
            conformance,
            fault,
            lambda k: conformance.payments.purchase(
                amount, method, provider=self.provider, idempotency_key=k
            ),
            "the purchase",
        )
        if error is None:
            assert len(conformance.wire.with_key(key)) >= 2, (
                f"{FAULT_TEXT[fault]}, yet the purchase returned normally without asking "
                "again: raise ProviderUnavailable(request_sent=True)"
            )
            return  # retried inside the plugin with the same key: safe
        assert isinstance(error, ProviderUnavailable), (
            f"{FAULT_TEXT[fault]}: the host got {type(error).__name__} ({error.code.value}). "
            "Raise ProviderUnavailable(request_sent=True); a PluginError means an exception "
            "of your HTTP client escaped the hook"
        )
        assert error.request_sent is True, (
            f"{FAULT_TEXT[fault]}, and the plugin said request_sent=False: the ledger then "
            "records the purchase as failed and reconcile never looks at it, though the "
            "gateway may have charged. Only a connection never made is request_sent=False"
        )

    def test_rate_limit_is_reported_as_not_sent(self, conformance: ConformanceRun) -> None:
        amount = conformance.amount()
        method = conformance.method("success")
        key, error = self._lose(
            conformance,
            "rate_limited",
            lambda k: conformance.payments.purchase(
                amount, method, provider=self.provider, idempotency_key=k
            ),
            "the purchase",
        )
        if error is None:
            assert len(conformance.wire.with_key(key)) >= 2, (
                "the gateway answered 429, yet the purchase returned normally"
            )
            return
        assert isinstance(error, ProviderUnavailable), (
            f"a 429 reached the host as {type(error).__name__}: raise "
            "ProviderUnavailable(code=ErrorCode.RATE_LIMITED, request_sent=False)"
        )
        assert error.code is ErrorCode.RATE_LIMITED, (
            f"a 429 reached the host with code {error.code.value}: use ErrorCode.RATE_LIMITED"
        )
        assert error.request_sent is False, (
            "a 429 means the gateway refused before acting: request_sent=False (the host may "
            "retry with the same key; nothing is left for reconcile)"
        )

    def test_retry_after_a_lost_answer_sends_the_same_key(
        self, conformance: ConformanceRun
    ) -> None:
        amount = conformance.amount()
        method = conformance.method("success")

        def pay(key: str) -> Transaction:
            return conformance.payments.purchase(
                amount, method, provider=self.provider, idempotency_key=key
            )

        key, _error = self._lose(conformance, "drop", pay, "the purchase")
        tx = conformance.settle(pay(key))
        assert tx.status is S.CAPTURED, tx.status
        sent = conformance.wire.with_key(key)
        assert len(sent) >= 2, (
            "the host retried the purchase with the same idempotency key, but the retry "
            f"reached the gateway without the {self.idempotency_header}: {key} header, so the "
            "gateway cannot replay its first answer and may charge twice"
        )

    def test_every_money_moving_operation_reaches_the_gateway(
        self, conformance: ConformanceRun
    ) -> None:
        caps = conformance.info.capabilities
        payments = conformance.payments
        amount = conformance.amount()
        done: list[tuple[str, str, Money | None]] = []

        def key_for(what: str, money: Money | None) -> str:
            key = conformance.new_key()
            done.append((what, key, money))
            return key

        tx = conformance.settle(
            payments.purchase(
                amount,
                conformance.method("success"),
                provider=self.provider,
                idempotency_key=key_for("the purchase", amount),
            )
        )
        if caps.refund:
            part = conformance.part(amount, 2, 5) if caps.partial_refund else amount
            payments.refund(tx.id, part, idempotency_key=key_for("the refund", part))
        if caps.capture:
            auth = conformance.settle(
                payments.authorize(
                    amount,
                    conformance.method("success"),
                    provider=self.provider,
                    idempotency_key=key_for("the authorization", amount),
                )
            )
            part = conformance.part(amount, 2, 5) if caps.partial_capture else amount
            payments.capture(auth.id, part, idempotency_key=key_for("the capture", part))
        if caps.void:
            auth = conformance.settle(
                payments.authorize(
                    amount,
                    conformance.method("success"),
                    provider=self.provider,
                    idempotency_key=key_for("the authorization", amount),
                )
            )
            payments.void(auth.id, idempotency_key=key_for("the void", None))
        if "wire" in self.waivers:
            sent = set(self.sent_idempotency_keys(conformance) or ())
            missing = [what for what, key, _ in done if key not in sent]
            assert not missing, f"never reached the gateway with its key: {missing}"
            conformance.require_wire()
        problems: list[str] = []
        for what, key, money in done:
            conformance.sent_with_key(key, what)
            if money is not None:
                problems.extend(self._wire_amount_problems(conformance, key, money, what))
        assert not problems, "; ".join(problems)

    def test_each_capture_and_refund_has_its_own_operation_reference(
        self, conformance: ConformanceRun
    ) -> None:
        caps = conformance.info.capabilities
        if not caps.capture and not caps.refund:
            pytest.skip(f"{self.provider} claims neither capture nor refund")
        for _ in range(2):
            if caps.capture:
                conformance.payments.capture(conformance.authorize().id)
            if caps.refund:
                conformance.payments.refund(conformance.purchase().id)
        for hook in ("paygate_capture", "paygate_refund"):
            references = [
                c.result.operation_reference
                for c in conformance.calls(hook)
                if isinstance(c.result, ProviderResult) and c.result.operation_reference
            ]
            assert len(set(references)) == len(references), (
                f"{hook}: several operations returned the same operation_reference "
                f"{references}: return the gateway's id of each capture/refund"
            )

    def test_bad_credentials_fail_cleanly_without_the_key(
        self, conformance: ConformanceRun, caplog: pytest.LogCaptureFixture
    ) -> None:
        conformance.require_wire()
        bad = self.bad_credentials(conformance.config)
        keys = list(_secret_config_values(bad.get(self.provider) or {}))
        if not keys:
            pytest.fail(
                f"the [{self.provider}] configuration has no secret-looking setting (api_key, "
                "client_secret...): override bad_credentials(config) to configure wrong ones"
            )
        keys += list(self.extra_secrets(conformance))
        payments = self.make_payments(bad, [RequestRecorder(), *self.extra_plugins()])
        conformance.wire.fail("unauthorized", times=None)
        factory = logging.getLogRecordFactory()
        logging.setLogRecordFactory(logging.LogRecord)  # raw records: what the plugin wrote
        error: BaseException | None = None
        try:
            conformance.settle(
                payments.purchase(
                    conformance.amount(), conformance.method("success"), provider=self.provider
                )
            )
        except PaygateError as exc:
            error = exc
        finally:
            logging.setLogRecordFactory(factory)
            conformance.wire.clear_faults()
            payments.close()
        assert error is not None, "with wrong credentials (every request answered 401) it paid"
        texts: list[str] = []
        seen: set[int] = set()
        current: BaseException | None = error
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            texts += [str(current), repr(current), repr(current.args), repr(vars(current))]
            current = current.__cause__ or current.__context__
        assert_no_secrets(
            "\n".join(texts), secrets=keys, what="the error raised under bad credentials"
        )
        assert_no_secrets(caplog.text, secrets=keys, what="the logs under bad credentials")
        assert isinstance(error, AuthenticationError), (
            f"the gateway answered 401 and the host got {type(error).__name__} "
            f"({error.code.value if isinstance(error, PaygateError) else ''}): raise "
            "AuthenticationError for refused credentials"
        )

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

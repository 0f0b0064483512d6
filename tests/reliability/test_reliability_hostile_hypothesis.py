"""Hostile values through every public surface, on SQLite and PostgreSQL.

Hypothesis drives every public ``Payments`` method, every ``Money``
constructor and operation, and every CLI command (click's ``CliRunner``) with
surrogates, NUL, huge and tiny numbers, wrong types, and deep or huge
metadata. Proves, for each backend:

* only typed paygate errors come out (or click usage errors in the CLI);
* after the run no operation is ``pending``;
* no card number or CVC is in the ledger, the logs or any exception;
* every stored provider identifier is the one the provider returned.

Text the host passes to a provider (descriptions, metadata, reasons,
customer fields, ids and keys) is refused before the provider when it holds a
lone surrogate or a NUL (issue 15, item 4): the cases at the end pin that.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from reliability_workers import make_payments, reset_pg

import paygate
from paygate import Card, Customer, Money
from paygate.cli import main
from paygate.errors import PaygateError, PluginError
from paygate.ledger import OperationState
from paygate.pricing import LineItem
from paygate.testing.secrets import assert_no_secrets

PANS = ["4242424242424242", "5555555555554444", "378282246310005", "4000000000000002"]
HOSTILE_CHARS = ["\ud800", "caf\udce9", "\x00", "a\x00b", "\udfff\ud800", "\u202e", "\ufeff"]
PLAIN = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40)
# Every code point, lone surrogates and NUL included.
HOSTILE = st.one_of(
    st.text(max_size=40),
    st.sampled_from(HOSTILE_CHARS),
    st.builds(lambda a, b: a + b, st.text(max_size=10), st.sampled_from(HOSTILE_CHARS)),
    st.text(min_size=300, max_size=2000),
)
NUMBER = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [Decimal("1E+999999999999"), Decimal("1E-999999999999"), Decimal("-0"), 10**400]
    ),
    st.floats(allow_nan=True),
)
WRONG = st.one_of(
    st.none(),
    st.booleans(),
    NUMBER,
    st.binary(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(PLAIN, PLAIN, max_size=3),
    st.just(object()),
)
ANY = st.one_of(WRONG, HOSTILE)
CURRENCY = st.one_of(st.sampled_from(["USD", "JPY", "KWD", "usd", "XXX", ""]), HOSTILE, WRONG)
DEEP = st.recursive(PLAIN, lambda inner: st.dictionaries(PLAIN, inner, max_size=3), max_leaves=20)
# Metadata a host might send: clean text only (see the module docstring),
# but of every wrong shape and size.
METADATA = st.one_of(
    st.none(),
    st.dictionaries(PLAIN, PLAIN, max_size=5),
    st.dictionaries(st.text(alphabet="abc", max_size=4), PLAIN, min_size=200, max_size=300),
    st.dictionaries(PLAIN, st.text(min_size=1000, max_size=1500), max_size=2),
    DEEP,
    WRONG,
)
SMALL_MONEY = st.builds(
    lambda n, c: Money.from_minor(n, c),
    st.integers(min_value=1, max_value=10**6),
    st.sampled_from(["USD", "EUR", "JPY"]),
)
AMOUNT = st.one_of(SMALL_MONEY, WRONG)
CVC = st.sampled_from(["123", "9876", "12", "", "\ud800", "1\x002"])
CARD = st.builds(
    lambda n, m, y, c, h: (n, m, y, c, h),
    st.one_of(st.sampled_from(PANS), st.text(alphabet="0123456789 _/-", max_size=22), ANY),
    st.one_of(st.integers(-2, 14), ANY),
    st.one_of(st.integers(1990, 2100), ANY),
    st.one_of(CVC, ANY),
    st.one_of(st.none(), PLAIN, HOSTILE),
)
KEY = st.one_of(st.none(), st.text(alphabet="abc-_", min_size=1, max_size=20), WRONG)
TEXT_IN = st.one_of(st.none(), PLAIN, WRONG)

SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('hostile-h') / 'ledger.sqlite3'}"
    else:
        url = request.getfixturevalue("pg_schema_url")
        reset_pg(url)
    collector = _Collector()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(collector)
    root.setLevel(logging.DEBUG)
    payments = make_payments(url)
    good = Card(PANS[0], 12, 2034, "123")
    state: dict[str, Any] = {
        "url": url,
        "payments": payments,
        "tx": [
            payments.authorize(Money("50.00", "USD"), good).id,
            payments.purchase(Money("50.00", "USD"), good).id,
        ],
        "stored": payments.store_payment_method(good),
        "errors": [],
        "logs": collector,
        "calls": 0,
    }
    try:
        yield state
    finally:
        root.removeHandler(collector)
        root.setLevel(old_level)
        payments.close()


def _call(world: dict[str, Any], fn: Any, *args: Any, **kwargs: Any) -> Any:
    world["calls"] += 1
    try:
        return fn(*args, **kwargs)
    except PluginError as exc:
        # Only built-in plugins run here: a PluginError is an untyped error
        # (TypeError, OverflowError...) inside paygate's own code.
        raise AssertionError(f"untyped error inside a built-in plugin: {exc}") from exc
    except PaygateError as exc:
        world["errors"] += [str(exc), repr(exc), str(exc.to_dict())]
        return None


def _card(fields: tuple[Any, ...]) -> Any:
    try:
        return Card(*fields)
    except PaygateError:
        return fields[0]


def _tx(world: dict[str, Any], which: Any) -> Any:
    return world["tx"][which] if isinstance(which, int) and which in (0, 1) else which


@SETTINGS
# A Decimal this large once hung Card(): pydantic built the int digit by digit.
@example(
    op="purchase",
    amount=Money("1.00", "USD"),
    card=(PANS[0], 12, Decimal("1E+999999999999"), "123", None),
    customer=None,
    provider=None,
    description=None,
    metadata=None,
    key=None,
    use_stored=False,
)
@given(
    op=st.sampled_from(["authorize", "purchase", "verify", "store", "recurring"]),
    amount=AMOUNT,
    card=CARD,
    customer=st.one_of(st.none(), WRONG, st.builds(Customer, id=st.just("cus_h"))),
    provider=st.one_of(st.none(), st.just("sandbox"), HOSTILE, WRONG),
    description=TEXT_IN,
    metadata=METADATA,
    key=KEY,
    use_stored=st.booleans(),
)
def test_payment_methods(
    world: dict[str, Any],
    op: str,
    amount: Any,
    card: Any,
    customer: Any,
    provider: Any,
    description: Any,
    metadata: Any,
    key: Any,
    use_stored: bool,
) -> None:
    p = world["payments"]
    method = _card(card)
    if op in ("authorize", "purchase"):
        _call(
            world,
            getattr(p, op),
            amount,
            method,
            customer=customer,
            provider=provider,
            description=description,
            metadata=metadata,
            idempotency_key=key,
        )
    elif op == "verify":
        _call(world, p.verify, method, customer=customer, provider=provider, idempotency_key=key)
    elif op == "store":
        stored = _call(
            world, p.store_payment_method, method, customer=customer, idempotency_key=key
        )
        if stored is not None and stored.status == "requires_action":
            _call(world, p.confirm_payment_method, stored)
    else:
        target = world["stored"] if use_stored else method
        _call(
            world,
            p.charge_recurring,
            amount,
            target,
            customer=customer,
            metadata=metadata,
            idempotency_key=key,
        )


@SETTINGS
@given(
    op=st.sampled_from(["capture", "refund", "void", "confirm", "transaction"]),
    which=st.one_of(st.sampled_from([0, 1]), st.text(alphabet="txn_abc0123", max_size=30), WRONG),
    amount=st.one_of(st.none(), AMOUNT),
    key=KEY,
    reason=TEXT_IN,
    params=st.one_of(st.dictionaries(PLAIN, PLAIN, max_size=3), WRONG),
    final=st.one_of(st.booleans(), WRONG),
)
def test_follow_ups(
    world: dict[str, Any],
    op: str,
    which: Any,
    amount: Any,
    key: Any,
    reason: Any,
    params: Any,
    final: Any,
) -> None:
    p = world["payments"]
    tx = _tx(world, which)
    if op == "capture":
        _call(world, p.capture, tx, amount, final=final, idempotency_key=key)
    elif op == "refund":
        _call(world, p.refund, tx, amount, reason=reason, idempotency_key=key)
    elif op == "void":
        _call(world, p.void, tx, idempotency_key=key)
    elif op == "confirm":
        _call(world, p.confirm, tx, params=params, idempotency_key=key)
    else:
        _call(world, p.transaction, tx)


@SETTINGS
# The deliveries the outside review forged, always tried.
@example(
    body=b"{}",
    headers={"Paygate-Signature": f"t={'9' * 400},v1=00"},
    provider="sandbox",
    sign=False,
    event_id="e",
    amount=1,
)
@example(
    body=b"{}",
    headers={"Paygate-Signature": f"t={int(time.time())},v1=\u00e9"},
    provider="sandbox",
    sign=False,
    event_id="e",
    amount=1,
)
@example(body="\ud800", headers={}, provider="sandbox", sign=False, event_id="e", amount=1)
@example(body=b"", headers={}, provider="sandbox", sign=True, event_id="e" * 300, amount=1)
@example(body=b"", headers={}, provider="sandbox", sign=True, event_id="evt\x00", amount=None)
@given(
    body=st.one_of(st.binary(max_size=300), HOSTILE, WRONG),
    headers=st.one_of(
        WRONG,
        st.dictionaries(HOSTILE, HOSTILE, max_size=3),
        st.builds(lambda t, v: {"Paygate-Signature": f"t={t},v1={v}"}, HOSTILE, HOSTILE),
        st.builds(lambda n: {"Paygate-Signature": f"t={n},v1=00"}, NUMBER),
    ),
    provider=st.one_of(st.just("sandbox"), HOSTILE, WRONG),
    sign=st.booleans(),
    event_id=st.one_of(HOSTILE, st.text(min_size=250, max_size=400)),
    amount=st.one_of(NUMBER, WRONG),
)
def test_webhooks(
    world: dict[str, Any],
    body: Any,
    headers: Any,
    provider: Any,
    sign: bool,
    event_id: str,
    amount: Any,
) -> None:
    import json

    p = world["payments"]
    if sign:
        # Correctly signed hostile events go past the signature into parsing.
        payload = {
            "id": event_id,
            "type": "payment.captured",
            "created": 1,
            "data": {"transaction_id": world["tx"][0], "amount": amount, "currency": "USD"},
        }
        body = json.dumps(payload, default=str).encode("utf-8", "surrogatepass")
        headers = {"Paygate-Signature": p.plugin("sandbox").sign(body)}
    _call(world, p.parse_webhook, provider, headers, body)


@SETTINGS
@given(
    items=st.one_of(
        WRONG,
        st.lists(
            st.builds(
                lambda sku, price, qty, kind: (sku, price, qty, kind),
                st.one_of(PLAIN, HOSTILE),
                st.one_of(SMALL_MONEY, WRONG),
                st.one_of(st.integers(-3, 10**6), WRONG),
                st.sampled_from(["plan", "addon", "ticket", "toll_free_number", "junk"]),
            ),
            max_size=4,
        ),
    ),
    cycle=st.one_of(st.sampled_from(["monthly", "annual"]), ANY),
    amount=st.one_of(AMOUNT, st.builds(Money, st.just("123456789012.34"), st.just("USD"))),
    provider=st.one_of(st.none(), st.just("sandbox"), HOSTILE, WRONG),
    older=st.one_of(NUMBER, WRONG),
)
def test_quote_fees_reconcile(
    world: dict[str, Any], items: Any, cycle: Any, amount: Any, provider: Any, older: Any
) -> None:
    p = world["payments"]
    lines = items
    if isinstance(items, list) and all(isinstance(i, tuple) for i in items):
        lines = []
        for sku, price, qty, kind in items:
            try:
                lines.append(LineItem(sku=sku, unit_price=price, quantity=qty, kind=kind))
            except PaygateError:
                lines.append(sku)
    _call(world, p.quote, lines, cycle=cycle)
    _call(world, p.fees, amount, provider=provider)
    _call(world, p.reconcile, pending_older_than=older)


@settings(max_examples=200, deadline=None, database=None)
@given(
    amount=st.one_of(NUMBER, HOSTILE, WRONG),
    currency=CURRENCY,
    factor=st.one_of(NUMBER, HOSTILE, WRONG),
    ratios=st.one_of(st.lists(st.one_of(NUMBER, WRONG), max_size=4), WRONG),
    rounding=st.one_of(st.sampled_from(["ROUND_HALF_UP", "ROUND_UP"]), HOSTILE, WRONG),
    locale=st.one_of(st.sampled_from(["en_US", "de_DE", "xx"]), HOSTILE, WRONG),
    data=st.one_of(st.dictionaries(PLAIN, ANY, max_size=3), WRONG),
)
def test_money(
    amount: Any,
    currency: Any,
    factor: Any,
    ratios: Any,
    rounding: Any,
    locale: Any,
    data: Any,
) -> None:
    base = Money("12.34", "USD")
    attempts = [
        lambda: Money(amount, currency),
        lambda: Money.from_minor(amount, currency),
        lambda: Money.rounded(amount, currency, rounding),
        lambda: Money.zero(currency),
        lambda: Money.from_dict(data),
        lambda: base.multiply(factor, rounding),
        lambda: base * factor,
        lambda: base + Money(amount, currency),
        lambda: base - Money(amount, currency),
        lambda: base < Money(amount, currency),
        lambda: base.allocate(ratios),
        lambda: base.format(locale=locale),
    ]
    for attempt in attempts:
        with contextlib.suppress(PaygateError):  # anything else fails the test
            attempt()


@settings(max_examples=25, deadline=None, database=None)
@given(
    args=st.one_of(
        st.tuples(st.just("quote"), st.sampled_from(["--plan", "--ticket"]), HOSTILE),
        st.tuples(
            st.just("quote"),
            st.just("--plan"),
            st.just("pro=25.00"),
            st.just("--currency"),
            HOSTILE,
        ),
        st.tuples(st.just("fees"), HOSTILE),
        st.tuples(st.just("fees"), st.just("10.00"), st.just("--provider"), HOSTILE),
        st.tuples(
            st.just("fees"),
            st.just("1E+999999"),
            st.just("--currency"),
            CURRENCY.filter(lambda c: isinstance(c, str)),
        ),
        st.tuples(st.just("reconcile"), st.just("--pending-older-than"), HOSTILE),
        st.tuples(st.just("plugins"), st.sampled_from(["--json", "--bogus", "\ud800"])),
        st.tuples(
            st.sampled_from(["\ud800", "\x00", "nosuch"]),
        ),
    )
)
def test_cli_commands(world: dict[str, Any], args: tuple[str, ...]) -> None:
    runner = CliRunner()
    result = runner.invoke(
        main, list(args), env={"PAYGATE_DATABASE_URL": world["url"]}, catch_exceptions=True
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{args!r}: {type(result.exception).__name__}"
    )
    assert "Traceback" not in result.output


def test_cli_new_plugin_and_demo_with_hostile_names(tmp_path: Path) -> None:
    runner = CliRunner()
    for name in ("\ud800", "a\x00b", "../escape", "x" * 300, "ok-name"):
        result = runner.invoke(main, ["new-plugin", name, "-d", str(tmp_path / "p")])
        assert result.exception is None or isinstance(result.exception, SystemExit), name
    for provider in ("\ud800", "nosuch"):
        result = runner.invoke(
            main, ["demo", "--database", str(tmp_path / "d.sqlite3"), "--provider", provider]
        )
        assert result.exception is None or isinstance(result.exception, SystemExit), provider


def test_zz_after_the_run(world: dict[str, Any]) -> None:
    """The invariants, once every hostile call above has run on this backend."""
    p = world["payments"]
    assert world["calls"] > 100
    ledger = p.ledger
    pending = ledger.operations(state=OperationState.PENDING)
    assert pending == [], f"{len(pending)} operations left pending"
    ops = ledger.operations()
    ids = dict.fromkeys(op.transaction_id for op in ops)
    transactions = [t for t in (ledger.get_transaction(i) for i in ids) if t is not None]
    assert_no_secrets(repr(ops), secrets=PANS, what="the ledger's operations")
    assert_no_secrets(repr(transactions), secrets=PANS, what="the ledger's transactions")
    assert_no_secrets("\n".join(world["logs"].lines), secrets=PANS, what="the logs")
    assert_no_secrets("\n".join(world["errors"]), secrets=PANS, what="the errors raised")
    # Every provider id stored is the one the sandbox issued for that transaction.
    sandbox = p.plugin("sandbox")
    issued = dict(sandbox._by_tx)
    for tx in transactions:
        if tx.provider_reference is not None:
            assert tx.provider_reference == issued.get(tx.id), tx.id
    for op in ops:
        if op.provider_reference is not None and op.transaction_id in issued:
            assert op.provider_reference == issued[op.transaction_id]


# -- text that cannot be stored is refused before the provider (issue 15, item 4) ------


@pytest.mark.parametrize(
    "field", ["description", "metadata_value", "reason"], ids=["description", "metadata", "reason"]
)
def test_a_lone_surrogate_in_host_text_is_refused_before_the_provider(
    world: dict[str, Any], field: str
) -> None:
    p = world["payments"]
    sandbox = p.plugin("sandbox")
    good = Card(PANS[1], 12, 2034, "123")
    text = "caf\udce9"
    if field == "description":
        action = lambda: p.purchase(Money("3.00", "USD"), good, description=text)  # noqa: E731
    elif field == "metadata_value":
        action = lambda: p.purchase(Money("3.00", "USD"), good, metadata={"note": text})  # noqa: E731
    else:
        tx_id = p.purchase(Money("3.00", "USD"), good).id
        action = lambda: p.refund(tx_id, reason=text)  # noqa: E731
    before = sandbox.call_count
    with pytest.raises(paygate.errors.InvalidRequest):
        action()
    assert sandbox.call_count == before
    assert p.ledger.operations(state=OperationState.PENDING) == []


@pytest.mark.parametrize("tx_id", ["txn_\udce9", "txn_\x00"])
@pytest.mark.parametrize("op", ["transaction", "capture", "void", "confirm"])
def test_an_unusable_transaction_id_is_a_typed_error(
    world: dict[str, Any], op: str, tx_id: str
) -> None:
    with pytest.raises(paygate.errors.InvalidRequest):
        getattr(world["payments"], op)(tx_id)

"""Hostile input: hypothesis throws odd amounts, currencies, card fields,
keys, metadata and unicode at every facade method.

Proves: only PaygateError subclasses come out, and a call refused as invalid
input never reached a provider (the sandbox's call counter did not move).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_workers import make_payments

import paygate
from paygate import Card, Customer, Money
from paygate.errors import InvalidRequest, PaygateError

TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=80)
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.decimals(),
    TEXT,
    st.binary(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(TEXT, TEXT, max_size=3),
)
CURRENCY = st.one_of(
    st.sampled_from(["USD", "EUR", "JPY", "KWD", "usd", "XXX", "ABC", "", "US", "€"]), TEXT
)
AMOUNT = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True),
    TEXT,
)
NUMBERS = st.one_of(
    st.sampled_from(
        [
            "4242424242424242",
            "4000000000000002",
            "4000002500003155",
            "4242 4242 4242 4242",
            "4242424242424241",
            "378282246310005",
            "",
        ]
    ),
    st.text(alphabet="0123456789 -", max_size=25),
    TEXT,
    st.integers(),
)
METADATA = st.one_of(
    JUNK,
    st.dictionaries(TEXT, TEXT, max_size=60),
    st.dictionaries(st.text(max_size=5), st.text(max_size=600), max_size=3),
)


def _money(amount: object, currency: object) -> object:
    """A Money if the constructor takes it (it must raise InvalidRequest if not)."""
    try:
        return Money(amount, currency)  # type: ignore[arg-type]
    except InvalidRequest:
        return (amount, currency)


def _card(number: object, month: object, year: object, cvc: object) -> object:
    try:
        return Card(number, month, year, cvc)  # type: ignore[arg-type]
    except InvalidRequest:
        return number


MONEY = st.builds(_money, AMOUNT, CURRENCY) | st.builds(
    lambda n: Money.from_minor(n, "USD"), st.integers(min_value=1, max_value=10**7)
)
CARD = st.builds(
    _card,
    NUMBERS,
    st.one_of(st.integers(-2, 14), JUNK),
    st.one_of(st.integers(1990, 2100), JUNK),
    st.one_of(st.sampled_from(["123", "1234", "12", "abc", ""]), JUNK),
)
METHOD = st.one_of(CARD, JUNK)
KEY = st.one_of(st.none(), TEXT, st.text(min_size=250, max_size=300), st.integers())
CUSTOMER = st.one_of(
    st.none(),
    JUNK,
    st.sampled_from(["owner", "sub_account", "multi_user"]).map(
        lambda role: Customer(id="cus_1", role=role)
    ),
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    db = tmp_path_factory.mktemp("hostile") / "ledger.sqlite3"
    payments = make_payments(f"sqlite:///{db}")
    good = Card("4242424242424242", 12, 2034, "123")
    authorized = payments.authorize(Money("50.00", "USD"), good)
    captured = payments.purchase(Money("50.00", "USD"), good)
    stored = payments.store_payment_method(good)
    return {
        "payments": payments,
        "tx": [authorized.id, captured.id],
        "stored": stored,
        "counts": {"calls": 0, "invalid": 0, "other_errors": 0, "ok": 0},
    }


def _call(world: dict[str, Any], fn: Any, *args: Any, **kwargs: Any) -> None:
    sandbox = world["payments"].plugin("sandbox")
    before = sandbox.call_count
    counts = world["counts"]
    counts["calls"] += 1
    try:
        fn(*args, **kwargs)
        counts["ok"] += 1
    except InvalidRequest:
        counts["invalid"] += 1
        assert sandbox.call_count == before, "invalid input reached the provider"
    except PaygateError:
        counts["other_errors"] += 1


SETTINGS = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)
TX = st.one_of(st.sampled_from([0, 1]), JUNK, TEXT)


@SETTINGS
@given(
    op=st.sampled_from(["authorize", "purchase"]),
    amount=MONEY,
    method=METHOD,
    customer=CUSTOMER,
    provider=st.one_of(st.none(), st.just("sandbox"), JUNK),
    description=st.one_of(st.none(), TEXT, JUNK),
    metadata=METADATA,
    key=KEY,
    return_url=st.one_of(st.none(), TEXT, JUNK),
)
def test_payments(
    world: dict[str, Any],
    op: str,
    amount: Any,
    method: Any,
    customer: Any,
    provider: Any,
    description: Any,
    metadata: Any,
    key: Any,
    return_url: Any,
) -> None:
    fn = getattr(world["payments"], op)
    _call(
        world,
        fn,
        amount,
        method,
        customer=customer,
        provider=provider,
        description=description,
        metadata=metadata,
        idempotency_key=key,
        return_url=return_url,
    )


def _tx(world: dict[str, Any], which: Any) -> Any:
    return world["tx"][which] if isinstance(which, int) and which in (0, 1) else which


@SETTINGS
@given(
    op=st.sampled_from(["capture", "refund", "void", "confirm", "transaction"]),
    which=TX,
    amount=st.one_of(st.none(), MONEY, JUNK),
    key=KEY,
    extra=st.one_of(JUNK, METADATA),
    final=st.one_of(st.booleans(), JUNK),
)
def test_follow_ups(
    world: dict[str, Any], op: str, which: Any, amount: Any, key: Any, extra: Any, final: Any
) -> None:
    p = world["payments"]
    tx = _tx(world, which)
    if op == "capture":
        _call(world, p.capture, tx, amount, final=final, idempotency_key=key)
    elif op == "refund":
        _call(world, p.refund, tx, amount, reason=extra, idempotency_key=key)
    elif op == "void":
        _call(world, p.void, tx, idempotency_key=key)
    elif op == "confirm":
        _call(world, p.confirm, tx, params=extra, idempotency_key=key)
    else:
        _call(world, p.transaction, tx)


@SETTINGS
@given(
    op=st.sampled_from(["verify", "store", "recurring"]),
    method=METHOD,
    currency=CURRENCY,
    customer=CUSTOMER,
    amount=MONEY,
    key=KEY,
    metadata=METADATA,
    use_stored=st.booleans(),
)
def test_methods(
    world: dict[str, Any],
    op: str,
    method: Any,
    currency: Any,
    customer: Any,
    amount: Any,
    key: Any,
    metadata: Any,
    use_stored: bool,
) -> None:
    p = world["payments"]
    if op == "verify":
        _call(world, p.verify, method, currency=currency, customer=customer, idempotency_key=key)
    elif op == "store":
        _call(world, p.store_payment_method, method, customer=customer, idempotency_key=key)
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
    body=st.one_of(
        st.binary(max_size=200),
        TEXT,
        JUNK,
        st.recursive(
            JUNK.filter(lambda v: not isinstance(v, (bytes, Decimal, float))),
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
            max_leaves=8,
        ).map(lambda v: json.dumps(v, default=str).encode()),
    ),
    headers=st.one_of(JUNK, st.dictionaries(TEXT, TEXT, max_size=3)),
    sign=st.booleans(),
    provider=st.one_of(st.just("sandbox"), JUNK),
)
def test_webhooks(
    world: dict[str, Any], body: Any, headers: Any, sign: bool, provider: Any
) -> None:
    p = world["payments"]
    if sign and isinstance(body, bytes):
        # Signed, so the hostile JSON goes past the signature check into parsing.
        headers = {"Paygate-Signature": p.plugin("sandbox").sign(body)}
    _call(world, p.parse_webhook, provider, headers, body)


@SETTINGS
@given(
    amount=st.one_of(MONEY, JUNK),
    provider=st.one_of(st.none(), JUNK),
    older=st.one_of(JUNK, st.floats()),
)
def test_fees_and_reconcile(world: dict[str, Any], amount: Any, provider: Any, older: Any) -> None:
    p = world["payments"]
    _call(world, p.fees, amount, provider=provider)
    _call(world, p.reconcile, pending_older_than=older)


def test_zz_hostile_figures(world: dict[str, Any], figures: Any) -> None:
    counts = world["counts"]
    assert counts["invalid"] > counts["calls"] // 3
    figures(
        "hostile input",
        f"{counts['calls']} hypothesis-made calls over every facade method: "
        f"{counts['invalid']} refused as invalid input with 0 provider calls, "
        f"{counts['other_errors']} other PaygateError (declined, not found, wrong state...), "
        f"{counts['ok']} accepted; exceptions other than PaygateError: 0",
    )
    world["payments"].close()


def test_paygate_error_is_the_only_root() -> None:
    assert issubclass(InvalidRequest, paygate.errors.PaygateError)

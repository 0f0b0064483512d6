"""The sides the Stripe figures compare: paygate-stripe, the raw SDK call on
the plugin's own client, and the hand-wired durable baseline (that call between
an INSERT and an UPDATE of one operation-shaped row, each committed).

Shared by the durable, latency, instructions and peer figures, so that every
figure times the very same calls.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Index, MetaData, Table, create_engine

from paygate.ledger.schema import operations

AMOUNT_MINOR = 2500
PAYMENT_METHOD = "pm_card_visa"
#: The hand-wired baseline's table: the ledger's operation row, same columns,
#: types and indexes (read from ``paygate.ledger.schema``), under another name.
HAND_TABLE = "bench_hand_operations"


def api_key() -> str:
    return "sk_test_bench" + secrets.token_hex(8)


def payments_for(url: str, database_url: str, key: str) -> Any:
    """A ``Payments`` routed to paygate-stripe against the stub at ``url``."""
    from paygate import Payments

    return Payments(
        {
            "database_url": database_url,
            "default_provider": "stripe",
            "stripe": {"api_key": key, "api_base": url},
        }
    )


def paygate_authorize(payments: Any) -> Callable[[], None]:
    """One ``Payments.authorize`` with a saved PaymentMethod id (what a live
    host sends: cards are collected by Stripe.js), one HTTP request."""
    from paygate import Money, StoredPaymentMethod

    method = StoredPaymentMethod(provider="stripe", token=PAYMENT_METHOD)
    amount = Money("25.00", "USD")

    def call() -> None:
        payments.authorize(amount, method, provider="stripe")

    return call


def plugin_client(url: str, key: str) -> Any:
    """The very client paygate-stripe builds (``build_client``: RequestsClient,
    30 s timeout, 2 network retries, proxies read once): the baseline's SDK
    call is then what the plugin's call costs, and nothing else."""
    from paygate_stripe.settings import build_client, from_config

    return build_client(from_config({"api_key": key, "api_base": url}))


def create_intent(client: Any, transaction_id: str | None = None) -> Any:
    """The one SDK call paygate-stripe makes for an authorize, same parameters."""
    params: Any = {
        "amount": AMOUNT_MINOR,
        "currency": "usd",
        "payment_method": PAYMENT_METHOD,
        "payment_method_types": ["card"],
        "capture_method": "manual",
        "confirm": True,
        "metadata": {"paygate_transaction_id": transaction_id or "txn_" + secrets.token_hex(12)},
    }
    return client.v1.payment_intents.create(
        params, {"idempotency_key": "pgk_" + secrets.token_hex(12)}
    )


def raw_sdk(client: Any) -> Callable[[], None]:
    def call() -> None:
        create_intent(client)

    return call


# -- the ledger's settings, read from a live ledger ----------------------------------


def sqlite_pragmas(payments: Any) -> dict[str, Any]:
    """``journal_mode``, ``synchronous`` and ``wal_autocheckpoint`` of a live
    SQLite ledger, asked through its own engine (so the baseline follows the
    ledger's defaults whatever they become, never a copy of them)."""
    engine = payments.ledger.engine
    with engine.connect() as conn:
        return {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "synchronous", "wal_autocheckpoint")
        }


def postgres_settings(payments: Any) -> dict[str, Any]:
    """The commit durability of a live PostgreSQL ledger's connections."""
    engine = payments.ledger.engine
    with engine.connect() as conn:
        return {"synchronous_commit": conn.exec_driver_sql("SHOW synchronous_commit").scalar()}


# -- the hand-wired durable baseline ------------------------------------------------


def _hand_table(metadata: MetaData) -> Table:
    columns = [
        Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
        for c in operations.columns
    ]
    indexes = [
        Index(f"bench_hand_{i.name}", *(c.name for c in i.columns)) for i in operations.indexes
    ]
    return Table(HAND_TABLE, metadata, *columns, *indexes)


def create_hand_table(database_url: str) -> None:
    """Create the baseline's table (DDL through SQLAlchemy, from the ledger's schema)."""
    engine = create_engine(database_url)
    try:
        metadata = MetaData()
        table = _hand_table(metadata)
        table.drop(engine, checkfirst=True)
        metadata.create_all(engine)
    finally:
        engine.dispose()


def _request_json(key: str, txn: str) -> str:
    # What the ledger records of the request (no secret: a saved method id),
    # the same fields as paygate's operation row.
    return json.dumps(
        {
            "operation": "authorize",
            "provider": "stripe",
            "transaction_id": txn,
            "idempotency_key": key,
            "amount": {"amount": "25.00", "currency": "USD"},
            "capture": False,
            "payment_method": PAYMENT_METHOD,
        }
    )


#: The PaymentIntent fields kept as the outcome (paygate-stripe's allow-list):
#: enough to reconcile the payment later without asking Stripe.
_KEPT = (
    "id",
    "object",
    "status",
    "amount",
    "amount_capturable",
    "amount_received",
    "currency",
    "capture_method",
    "confirmation_method",
    "created",
    "livemode",
    "customer",
    "payment_method",
    "latest_charge",
    "description",
    "metadata",
    "last_payment_error",
    "next_action",
)


def _result_json(intent: Any) -> str:
    raw = {k: getattr(intent, k, None) for k in _KEPT}
    return json.dumps({"status": "authorized", "raw": raw}, default=_plain)


def _plain(value: Any) -> Any:
    return value.to_dict()  # a nested StripeObject (metadata)


_COLUMNS = (
    "idempotency_key, operation, provider, transaction_id, request_digest, state, "
    "currency, amount_minor, request, created_at, updated_at"
)
_INSERT_SQLITE = f"INSERT INTO {HAND_TABLE} ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
_UPDATE_SQLITE = (
    f"UPDATE {HAND_TABLE} SET state = ?, provider_reference = ?, result = ?, "
    "updated_at = ? WHERE idempotency_key = ?"
)
_INSERT_PG = _INSERT_SQLITE.replace("?", "%s")
_UPDATE_PG = _UPDATE_SQLITE.replace("?", "%s")


def _pending(key: str, txn: str, request: str, now: object) -> tuple[object, ...]:
    return (key, "authorize", "stripe", txn, "", "pending", "USD", AMOUNT_MINOR, request, now, now)


def _now_text() -> str:
    return datetime.now(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


class HandWiredSQLite:
    """The floor for paygate's guarantee on SQLite: the ``sqlite3`` module,
    one connection in autocommit, the row recorded before the call and its
    outcome after, each its own committed transaction."""

    def __init__(self, path: Path, pragmas: dict[str, Any]) -> None:
        create_hand_table(f"sqlite:///{path}")
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.pragmas = pragmas
        for name, value in pragmas.items():
            self.conn.execute(f"PRAGMA {name}={value}")
        applied = {n: self.conn.execute(f"PRAGMA {n}").fetchone()[0] for n in pragmas}
        if {k: str(v).lower() for k, v in applied.items()} != {
            k: str(v).lower() for k, v in pragmas.items()
        }:
            raise RuntimeError(f"baseline pragmas {applied} differ from the ledger's {pragmas}")

    def payment(self, client: Any) -> Callable[[], None]:
        conn = self.conn

        def call() -> None:
            key = "pgk_" + secrets.token_hex(12)
            txn = "txn_" + secrets.token_hex(12)
            request = _request_json(key, txn)
            now = _now_text()
            conn.execute(_INSERT_SQLITE, _pending(key, txn, request, now))
            intent = create_intent(client, txn)
            conn.execute(
                _UPDATE_SQLITE,
                ("authorized", intent["id"], _result_json(intent), _now_text(), key),
            )

        return call

    def close(self) -> None:
        self.conn.close()


class HandWiredPostgres:
    """The same on PostgreSQL: psycopg, one connection in autocommit."""

    def __init__(self, database_url: str, settings: dict[str, Any]) -> None:
        import psycopg

        create_hand_table(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
        self.conn = psycopg.connect(database_url, autocommit=True)
        for name, value in settings.items():
            self.conn.execute(f"SET {name} = '{value}'")

    def payment(self, client: Any) -> Callable[[], None]:
        conn = self.conn

        def call() -> None:
            key = "pgk_" + secrets.token_hex(12)
            txn = "txn_" + secrets.token_hex(12)
            request = _request_json(key, txn)
            now = datetime.now(UTC)
            conn.execute(_INSERT_PG, _pending(key, txn, request, now))
            intent = create_intent(client, txn)
            conn.execute(
                _UPDATE_PG,
                ("authorized", intent["id"], _result_json(intent), datetime.now(UTC), key),
            )

        return call

    def close(self) -> None:
        self.conn.close()

"""Child of the peer figure: paygate-stripe and django-payments side by side.

Four sides, interleaved, against the same Stripe-shaped stub:

* paygate-stripe with its SQLite file ledger, and its bare SDK call
  (``payment_intents.create`` on the plugin's own client);
* django-payments' Stripe provider (``StripeProviderV3``) creating its
  Payment and its one server-side call, a Checkout Session, then saving the
  session on the Payment; and its bare SDK call (``checkout.Session.create``
  with the same parameters, on the SDK's global client, as it uses).

Django's SQLite gets the ledger's own ``journal_mode``/``synchronous``/
``wal_autocheckpoint``, read from the live ledger. Both tables are filled to
each ``--rows`` size before that size is timed. A process of its own, so that
Django's settings and the SDK's globals never reach the rest of the bench.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import uuid4

from bench import sides
from bench.harness import interleaved, median
from bench.settings import MS


def _configure_django(db: Path, pragmas: dict[str, Any], key: str) -> None:
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        USE_TZ=True,
        INSTALLED_APPS=["payments", "bench.peer_django"],
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(db),
                "OPTIONS": {
                    "init_command": "; ".join(f"PRAGMA {k}={v}" for k, v in pragmas.items())
                },
            }
        },
        PAYMENT_HOST="shop.example",
        PAYMENT_VARIANTS={
            "stripe": (
                "bench.peer_django.provider.StripeProviderV3CurrentSDK",
                {"api_key": key, "secure_endpoint": False},
            )
        },
    )
    django.setup()


def _fill(
    conn: sqlite3.Connection,
    table: str,
    key: str,
    template: str,
    rows: int,
    fresh: dict[str, str],
) -> None:
    """Copy the row ``key = template`` until ``table`` holds ``rows`` rows;
    the columns in ``fresh`` get the SQL expressions given (unique values)."""
    # Identifiers are the bench's own constants; every value is bound.
    have = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    missing = rows - have
    if missing <= 0:
        return
    cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
    if "id" in cols and table.startswith("bench_peer"):
        cols.remove("id")  # Django's autoincrement key
    values = ", ".join(fresh.get(c, c) for c in cols)
    conn.execute(
        f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
        f"INSERT INTO {table} ({', '.join(cols)}) SELECT {values} FROM {table}, n "
        f"WHERE {key} = ?",
        (missing, template),
    )
    conn.commit()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stub-url", required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--rows", required=True, help="comma list of table sizes")
    parser.add_argument("--seconds", type=float, required=True)
    args = parser.parse_args(argv)
    os.environ.pop("PAYGATE_DATABASE_URL", None)
    os.environ.pop("PAYGATE_CONFIG", None)
    workdir = Path(args.workdir)
    url = args.stub_url

    key = sides.api_key()
    ledger_path = workdir / "peer-paygate.sqlite3"
    payments = sides.payments_for(url, f"sqlite:///{ledger_path}", key)
    pragmas = sides.sqlite_pragmas(payments)
    client = sides.plugin_client(url, key)
    with_paygate = sides.paygate_authorize(payments)
    paygate_raw = sides.raw_sdk(client)

    _configure_django(workdir / "peer-django.sqlite3", pragmas, key)
    import stripe
    from django.db import connection
    from payments import RedirectNeeded

    from bench.peer_django.models import Payment

    with connection.schema_editor() as editor:
        editor.create_model(Payment)
    applied = {k: connection.cursor().execute(f"PRAGMA {k}").fetchone()[0] for k in pragmas}
    stripe.api_base = url  # django-payments calls the SDK's module-level client

    def peer() -> None:
        payment = Payment.objects.create(
            variant="stripe",
            currency="USD",
            total=Decimal("25.00"),
            description="Order",
            billing_email="buyer@example.com",
        )
        try:
            payment.get_form()
        except RedirectNeeded:
            return
        raise RuntimeError("django-payments did not redirect to the Checkout Session")

    def peer_raw() -> None:
        # What StripeProviderV3.create_session sends, built by hand.
        token = str(uuid4())
        stripe.api_key = key
        stripe.checkout.Session.create(
            line_items=[
                {
                    "price_data": {
                        "currency": "usd",
                        "unit_amount": 2500,
                        "product_data": {"name": f"Order #{token}"},
                    },
                    "quantity": 1,
                }
            ],
            mode="payment",
            success_url="https://shop.example/paid",
            cancel_url="https://shop.example/failed",
            client_reference_id=token,
            customer_email="buyer@example.com",
        )

    for _ in range(20):
        with_paygate()
        paygate_raw()
        peer()
        peer_raw()
    peer_template = Payment.objects.exclude(transaction_id="").values_list("token", flat=True)[0]
    ledger_conn = sqlite3.connect(ledger_path, timeout=30)
    op_template = ledger_conn.execute(
        "SELECT idempotency_key, transaction_id FROM paygate_operations LIMIT 1"
    ).fetchone()
    results = []
    for rows in [int(r) for r in args.rows.split(",")]:
        _fill(
            ledger_conn,
            "paygate_operations",
            "idempotency_key",
            op_template[0],
            rows,
            {
                "idempotency_key": "'pgk_fill' || i || lower(hex(randomblob(6)))",
                "transaction_id": "'txn_fill' || i || lower(hex(randomblob(6)))",
            },
        )
        _fill(
            ledger_conn,
            "paygate_transactions",
            "id",
            op_template[1],
            rows,
            {"id": "'txn_fill' || i || lower(hex(randomblob(6)))"},
        )
        peer_conn = sqlite3.connect(workdir / "peer-django.sqlite3", timeout=30)
        _fill(
            peer_conn,
            "bench_peer_payment",
            "token",
            peer_template,
            rows,
            {"token": "lower(hex(randomblob(18)))"},
        )
        peer_conn.close()
        t = interleaved(with_paygate, paygate_raw, peer, peer_raw, seconds=args.seconds, batch=10)
        a, b, c, d = (median(x) * MS for x in t)
        results.append(
            {
                "rows": rows,
                "paygate_ms": a,
                "paygate_raw_ms": b,
                "peer_ms": c,
                "peer_raw_ms": d,
                "samples": sum(len(x) for x in t),
            }
        )
    ledger_conn.close()
    payments.close()
    print(json.dumps({"pragmas": pragmas, "django_pragmas": applied, "results": results}))


if __name__ == "__main__":
    main()

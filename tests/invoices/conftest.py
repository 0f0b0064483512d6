"""Fixtures of the invoices tests: a database (SQLite file, then PostgreSQL in
a schema of its own), a clock, Payments with a French seller, the pricing
plugin and a renderer, and a Billing on top."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from invoices_helpers import Clock, FastRenderer, make_payments, pg_url_or_skip

import paygate
from paygate.billing import Billing


@pytest.fixture
def pg_url() -> Iterator[str]:
    base = pg_url_or_skip()
    import psycopg

    schema = f"paygate_invoices_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options=-csearch_path%3D{schema}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'invoices.sqlite3'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'invoices.sqlite3'}"


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2027, 1, 31, 10, tzinfo=UTC))


@pytest.fixture
def payments(db_url: str) -> Iterator[paygate.Payments]:
    """With the fast stand-in renderer: tests about numbers and workflow."""
    p = make_payments(db_url, renderer=FastRenderer)
    yield p
    p.close()


@pytest.fixture
def billing(payments: paygate.Payments, clock: Clock) -> Billing:
    return Billing(payments, clock=clock)


@pytest.fixture
def typst_billing(sqlite_url: str, clock: Clock) -> Iterator[Billing]:
    """With the real Typst renderer (SQLite)."""
    p = make_payments(sqlite_url)
    yield Billing(p, clock=clock)
    p.close()

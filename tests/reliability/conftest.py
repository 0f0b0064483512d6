"""Fixtures of the reliability suite, and the figures it prints at the end.

Every family records what it measured with the ``figures`` fixture; the
figures are printed in the terminal summary of the run (so CI logs show them
whether the tests pass or fail).

PostgreSQL: ``PAYGATE_TEST_DATABASE_URL`` (e.g.
``postgresql://postgres@127.0.0.1:5432/test``). Each run works in a schema of
its own, dropped at the end, so parallel runs do not meet.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from reliability_workers import reset_pg

FIGURES: list[tuple[str, str]] = []
PG_ENV = "PAYGATE_TEST_DATABASE_URL"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES:
        return
    terminalreporter.section("paygate reliability figures")
    for family, line in FIGURES:
        terminalreporter.write_line(f"{family}: {line}")


@pytest.fixture(scope="session")
def figures() -> Callable[[str, str], None]:
    """``figures(family, line)``: print a measured figure and keep it for the summary."""

    def record(family: str, line: str) -> None:
        print(f"[{family}] {line}")
        FIGURES.append((family, line))

    return record


_pg_state: dict[str, Any] = {}


def _pg_base_url() -> str:
    """The server's URL, or skip with a one-line reason."""
    if "url" in _pg_state:
        return str(_pg_state["url"])
    if "skip" in _pg_state:
        pytest.skip(_pg_state["skip"])
    url = os.environ.get(PG_ENV)
    if not url:
        _pg_state["skip"] = f"{PG_ENV} is not set (PostgreSQL tests skipped)"
        pytest.skip(_pg_state["skip"])
    try:
        import psycopg

        with psycopg.connect(
            url.replace("postgresql+psycopg://", "postgresql://"), connect_timeout=3
        ):
            pass
    except Exception as exc:
        _pg_state["skip"] = f"PostgreSQL at {PG_ENV} is unreachable: {type(exc).__name__}"
        pytest.skip(_pg_state["skip"])
    _pg_state["url"] = url
    return url


@pytest.fixture(scope="session")
def pg_schema_url() -> Iterator[str]:
    """A PostgreSQL URL whose ``search_path`` is a fresh schema for this run."""
    base = _pg_base_url()
    import psycopg

    schema = f"paygate_test_{os.getpid()}_{secrets.token_hex(3)}"
    plain = base.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options=-csearch_path%3D{schema}"
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty ledger database: an SQLite file, then PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    url: str = request.getfixturevalue("pg_schema_url")
    reset_pg(url)
    return url


@pytest.fixture
def backend(database_url: str) -> str:
    return "postgres" if database_url.startswith("postgresql") else "sqlite"

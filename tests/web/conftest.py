"""Fixtures of the portal tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from web_helpers import Site, make_site


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    made = make_site(tmp_path)
    yield made
    made.client.close()
    made.payments.close()


@pytest.fixture
def docsite(tmp_path: Path) -> Iterator[Site]:
    """The site with invoice documents (a seller and the Typst renderer)."""
    made = make_site(tmp_path, documents=True)
    yield made
    made.client.close()
    made.payments.close()

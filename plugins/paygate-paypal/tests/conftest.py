"""Fixtures live in ``paypal_testdata`` (a unique module name: several plugins
have a tests/conftest.py, and test helpers must not clash across them).

Every test here runs under :func:`paypal_contract_checked`: each request the
plugin sends to PayPal is validated against PayPal's published OpenAPI
documents (``paypal_contract``), and a violation fails the test.
"""

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from paypal_contract import API_HOSTS, specs_dir, violations
from paypal_testdata import provider, rsps, token

from paygate.testing.wire import Wire

__all__ = ["paypal_contract_checked", "provider", "rsps", "token"]


@pytest.fixture(autouse=True)
def paypal_contract_checked() -> Iterator[Wire | None]:
    """The wire of this test; after it, every PayPal request must keep the contract."""
    if specs_dir() is None:
        yield None  # test_paypal_contract.py says why it is not checked
        return
    with Wire(idempotency_header="PayPal-Request-Id") as wire:
        yield wire
    problems = [
        problem
        for sent in wire.requests
        if urlsplit(sent.url).hostname in API_HOSTS
        for problem in violations(sent.method, sent.url, sent.headers, sent.body)
    ]
    if problems:
        pytest.fail(
            f"{len(problems)} request(s) break PayPal's OpenAPI documents:\n" + "\n".join(problems)
        )

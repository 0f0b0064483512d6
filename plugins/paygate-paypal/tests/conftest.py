"""Fixtures live in ``paypal_testdata`` (a unique module name: several plugins
have a tests/conftest.py, and test helpers must not clash across them)."""

from paypal_testdata import provider, rsps, token

__all__ = ["provider", "rsps", "token"]

"""Ids and idempotency keys the core makes itself.

Random parts come from the operating system (:mod:`secrets`), never from the
process-global :mod:`random` state: a host or a test library that calls
``random.seed`` (hypothesis reseeds it) would otherwise make two payments
share one transaction id and one idempotency key, so the second charge would
replay the first and leave no record of its own.
"""

from __future__ import annotations

import hashlib
import secrets


def new_id(prefix: str) -> str:
    """``<prefix>_<24 hex digits>``: 96 bits from the OS, unique, not secret."""
    return f"{prefix}_{secrets.token_hex(12)}"


def derived_key(key: str, purpose: str) -> str:
    """The key of a follow-up call the core makes for ``key`` (``verify``'s void).

    A digest of the *whole* key: two keys that share a long prefix must not
    share a follow-up key (a truncated prefix did, and the second follow-up
    was refused as a conflict, leaving its hold unreleased). Stays within the
    255-character key limit whatever ``key``'s length.
    """
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
    return f"pgd_{digest}:{purpose}"


__all__ = ["derived_key", "new_id"]

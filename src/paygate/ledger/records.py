"""What the ledger keeps about one operation."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from paygate.money import Money


class OperationState(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Reservation:
    """Money an operation claims on a transaction before the provider is called.

    ``kind`` is ``capture`` (bounded by the authorized amount) or ``refund``
    (bounded by the captured amount). Pending and unknown operations keep
    their claim, so concurrent calls can never together exceed the limit.
    """

    transaction_id: str
    kind: str
    amount: Money


@dataclass(slots=True)
class OperationRecord:
    """One row of the ledger's operations table."""

    idempotency_key: str
    operation: str
    provider: str
    transaction_id: str
    request_digest: str
    state: OperationState = OperationState.PENDING
    amount: Money | None = None
    reservation_kind: str | None = None
    provider_reference: str | None = None
    operation_reference: str | None = None
    error: dict[str, Any] | None = None
    result: dict[str, Any] = field(default_factory=dict)
    request: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None


#: The digest recorded for a key paygate generated for one call: no other
#: request can carry that key, so there is nothing to compare, and no real
#: digest equals it (a host reusing such a key gets IdempotencyConflict).
GENERATED_KEY_DIGEST = ""


def request_digest(payload: dict[str, Any]) -> str:
    """A stable digest of what a request asks for (secrets already excluded).

    The repr of sorted (key, value) pairs of strings, numbers, booleans and
    None is stable across runs and Python versions, and cheaper than JSON on
    the hot path. Nested mappings (metadata, params, the method summary) are
    one level deep and sorted too.
    """
    items = []
    for key in sorted(payload):
        value = payload[key]
        if isinstance(value, dict):  # metadata, params, the method summary: one level
            value = tuple(sorted((str(k), v) for k, v in value.items()))
        elif isinstance(value, list):
            value = tuple(value)
        items.append((key, value))
    return digest_items(items)


def digest_items(items: list[tuple[str, Any]]) -> str:
    """The digest of ``(key, value)`` items already in :func:`request_digest`'s form."""
    return hashlib.sha256(repr(items).encode()).hexdigest()

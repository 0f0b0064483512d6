"""What the ledger keeps about one operation."""

from __future__ import annotations

import hashlib
import json
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


def request_digest(payload: dict[str, Any]) -> str:
    """A stable digest of what a request asks for (secrets already excluded)."""
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()

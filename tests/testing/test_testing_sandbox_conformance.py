"""The built-in sandbox provider passes the conformance suite."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import ClassVar

from paygate.builtins.sandbox import SIGNATURE_HEADER
from paygate.models import Transaction
from paygate.testing.conformance import ConformanceRun, ProviderConformance


class TestSandboxConformance(ProviderConformance):
    provider = "sandbox"
    waivers: ClassVar[dict[str, str]] = {
        "wire": "the sandbox runs in-process: there is no wire to watch or break "
        "(its own fault injection is exercised by tests/core reliability tests)",
    }

    def sent_idempotency_keys(self, run: ConformanceRun) -> Collection[str]:
        # The sandbox's own record of what reached it (its "server side").
        return [key for _hook, key, _tx in run.payments.plugin("sandbox").calls]

    def make_webhook(
        self,
        run: ConformanceRun,
        transaction: Transaction,
        *,
        event_type: str = "payment.captured",
        signed_at: datetime | None = None,
    ) -> tuple[dict[str, str], bytes]:
        sandbox = run.payments.plugin("sandbox")
        headers, body = sandbox.make_webhook(event_type, transaction.id)
        if signed_at is not None:
            headers[SIGNATURE_HEADER] = sandbox.sign(body, timestamp=int(signed_at.timestamp()))
        return dict(headers), bytes(body)

"""The built-in sandbox provider passes the conformance suite."""

from __future__ import annotations

from paygate.testing.conformance import ProviderConformance


class TestSandboxConformance(ProviderConformance):
    provider = "sandbox"

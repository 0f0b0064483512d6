"""paygate's kit for plugin authors: fixtures and the provider conformance suite.

* :mod:`paygate.testing.plugin`: the pytest plugin (fixtures ``payments``,
  ``paygate_manager``, ``register_plugin``, ``hook_recorder``, ``sandbox``,
  ``assert_no_secrets``), active whenever paygate is installed.
* :mod:`paygate.testing.conformance`: :class:`ProviderConformance`, the
  suite a provider plugin subclasses to prove it keeps the contract.
* :class:`~paygate.testing.wire.Wire`: what a plugin sent over ``requests``
  (method, path, amount, idempotency header), with faults injected there
  (lost answers, resets, timeouts, 5xx, 429, 401); the suite starts one per test.
* :func:`assert_no_secrets`: fail when a text, file or object holds a card
  number, a CVC or an API key.

Importing this package does not import pytest; the submodules above do.
"""

from __future__ import annotations

from paygate.testing.recorder import HookCall, HookRecorder, RecordedRequest, RequestRecorder
from paygate.testing.secrets import Finding, assert_no_secrets, find_secrets
from paygate.testing.wire import Wire, WireRequest

__all__ = [
    "Finding",
    "HookCall",
    "HookRecorder",
    "RecordedRequest",
    "RequestRecorder",
    "Wire",
    "WireRequest",
    "assert_no_secrets",
    "find_secrets",
]

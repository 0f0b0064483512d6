"""paygate's kit for plugin authors: fixtures and the provider conformance suite.

* :mod:`paygate.testing.plugin`: the pytest plugin (fixtures ``payments``,
  ``paygate_manager``, ``register_plugin``, ``hook_recorder``, ``sandbox``,
  ``assert_no_secrets``), active whenever paygate is installed.
* :mod:`paygate.testing.conformance`: :class:`ProviderConformance`, the
  suite a provider plugin subclasses to prove it keeps the contract.
* :func:`assert_no_secrets`: fail when a text, file or object holds a card
  number, a CVC or an API key.

Importing this package does not import pytest; the submodules above do.
"""

from __future__ import annotations

from paygate.testing.recorder import HookCall, HookRecorder, RecordedRequest, RequestRecorder
from paygate.testing.secrets import Finding, assert_no_secrets, find_secrets

__all__ = [
    "Finding",
    "HookCall",
    "HookRecorder",
    "RecordedRequest",
    "RequestRecorder",
    "assert_no_secrets",
    "find_secrets",
]

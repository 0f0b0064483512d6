"""The core's own behaviour, written as ordinary plugins.

``sandbox`` (an in-process test gateway), ``ledger`` (durable records and
idempotency), ``routing`` (the default provider choice) and ``guard`` (plugin
bugs reported as :class:`~paygate.errors.PluginError`).
"""

"""Live mode (``test_mode = false``): only live providers take payments.

``test_mode`` used to be shown, never enforced: a live configuration whose
host named no provider paid the built-in sandbox and reported the money
captured. In live mode the plugin manager therefore drops every provider
whose manifest says ``test_mode=True`` (the sandbox always does, a Stripe
plugin holding a test key does), and the host must name its
``default_provider``, which must be one of the live providers left. Each of
these is a :class:`~paygate.errors.ConfigurationError` when the facade is
built, not a surprise at the first payment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from paygate.errors import ConfigurationError
from paygate.redaction import get_logger

if TYPE_CHECKING:
    from paygate.config import Config
    from paygate.manager import PaygatePluginManager

log = get_logger("paygate.plugins")


def is_live(config: Config) -> bool:
    """``test_mode = false``; anything but a boolean is refused (``"false"``
    would otherwise read as true, and a live host would run in test mode)."""
    value = config.get("test_mode", True)
    if not isinstance(value, bool):
        raise ConfigurationError("test_mode must be true or false")
    return not value


def enforce_live_mode(pm: PaygatePluginManager, config: Config) -> None:
    """Unregister test-mode providers and check ``default_provider`` (live only)."""
    if not is_live(config):
        return
    for name, (plugin, info) in list(pm.providers().items()):
        if info.test_mode:
            pm.unregister(plugin)
            log.info("live mode: provider %r is in test mode and is not used", name)
    default = config.get("default_provider")
    live = ", ".join(sorted(pm.providers())) or "none"
    if not isinstance(default, str) or not default:
        raise ConfigurationError(
            "live mode (test_mode = false) needs default_provider: the provider a payment "
            f"goes to when the host names none; live providers installed: {live}"
        )
    if default not in pm.providers():
        raise ConfigurationError(
            f"default_provider {default!r} is not a live provider (it is not installed, or it "
            f"is in test mode); live providers installed: {live}"
        )


__all__ = ["enforce_live_mode", "is_live"]

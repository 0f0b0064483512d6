"""A plugin's bug reaches the host as ``PluginError`` naming it, never as a decline.

A hook that raises ``NotImplementedError`` is no bug: it is ``UnsupportedFeature``.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from paygate._markers import hookimpl
from paygate.errors import PaygateError, PluginError, UnsupportedFeature

if TYPE_CHECKING:
    from paygate.manager import PaygatePluginManager


class PluginGuard:
    """Innermost wrapper (``trylast``) around every routed operation hook.

    The collecting hooks (validation, routing, fees, adjustments) are guarded
    by the facade itself (``Payments._call_plugins``): they run on every
    payment and quote, and a ``try`` there costs less than a wrapper.
    """

    def __init__(self) -> None:
        self._pm: PaygatePluginManager | None = None

    def attach_manager(self, pm: PaygatePluginManager) -> None:
        self._pm = pm

    @staticmethod
    def _name(pm: PaygatePluginManager, exc: Exception, request: Any) -> str:
        provider = getattr(request, "provider", None)
        if isinstance(provider, str) and provider in pm.providers():
            # Innermost wrapper of a routed hook: only the provider's impl ran inside.
            plugin = pm.providers()[provider][0]
            return pm.get_name(plugin) or provider
        return pm.culprit(exc.__traceback__)

    def _guard(self, hook: str, request: Any = None) -> Generator[None, Any, Any]:
        try:
            return (yield)
        except PaygateError:
            raise
        except NotImplementedError as exc:
            # A stub the author left (the scaffold writes them): the provider
            # cannot do this, and nothing was sent.
            provider = getattr(request, "provider", None) or "this provider"
            raise UnsupportedFeature(f"provider {provider!r} does not implement {hook}") from exc
        except Exception as exc:
            if self._pm is None:
                raise PluginError(f"a plugin failed in {hook}", plugin="unknown") from exc
            raise self._pm.plugin_error(hook, exc, self._name(self._pm, exc, request)) from exc

    @hookimpl(wrapper=True, trylast=True)
    def paygate_authorize(self, request: Any) -> Generator[None, Any, Any]:
        return (yield from self._guard("paygate_authorize", request))

    @hookimpl(wrapper=True, trylast=True)
    def paygate_capture(self, request: Any) -> Generator[None, Any, Any]:
        return (yield from self._guard("paygate_capture", request))

    @hookimpl(wrapper=True, trylast=True)
    def paygate_void(self, request: Any) -> Generator[None, Any, Any]:
        return (yield from self._guard("paygate_void", request))

    @hookimpl(wrapper=True, trylast=True)
    def paygate_refund(self, request: Any) -> Generator[None, Any, Any]:
        return (yield from self._guard("paygate_refund", request))

    @hookimpl(wrapper=True, trylast=True)
    def paygate_confirm(self, request: Any) -> Generator[None, Any, Any]:
        return (yield from self._guard("paygate_confirm", request))

    @hookimpl(wrapper=True, trylast=True)
    def paygate_charge_recurring(self, request: Any) -> Generator[None, Any, Any]:
        return (yield from self._guard("paygate_charge_recurring", request))

    @hookimpl(wrapper=True, trylast=True)
    def paygate_store_payment_method(self, request: Any) -> Generator[None, Any, Any]:
        return (yield from self._guard("paygate_store_payment_method", request))

    @hookimpl(wrapper=True, trylast=True)
    def paygate_fetch_transaction(self, request: Any) -> Generator[None, Any, Any]:
        return (yield from self._guard("paygate_fetch_transaction", request))

    @hookimpl(wrapper=True, trylast=True)
    def paygate_parse_webhook(self, request: Any) -> Generator[None, Any, Any]:
        return (yield from self._guard("paygate_parse_webhook", request))

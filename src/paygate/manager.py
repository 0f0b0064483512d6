"""The plugin manager: made by :func:`make_plugin_manager`, never at import time.

Environment:

``PAYGATE_DISABLED_PLUGINS``
    comma list of plugin names not to register (``stripe,pricing``).
``PAYGATE_STRICT_PLUGINS=1``
    a third-party plugin that fails to load is an error instead of a warning.
``PAYGATE_DEBUG=1``
    trace every hook call (arguments and results scrubbed of secrets) on the
    ``paygate.trace`` logger.
"""

from __future__ import annotations

import os
import re
import threading
import warnings
from collections.abc import Iterable, Mapping, Sequence
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType, TracebackType
from typing import Any

import pluggy
from pluggy import HookImpl, Result

from paygate import hookspecs
from paygate._markers import PROJECT
from paygate.config import Config
from paygate.errors import ConfigurationError, ErrorCode, InvalidRequest, PaygateError, PluginError
from paygate.live import enforce_live_mode, is_live
from paygate.models import ProviderInfo
from paygate.redaction import (
    declare_secret_patterns,
    declare_secret_values,
    get_logger,
    scrub_text,
    secret_config_values,
)

ENTRY_POINT_GROUP = "paygate"
log = get_logger("paygate.plugins")
trace_log = get_logger("paygate.trace")

#: Built-in plugins, registered like third-party ones. ``ledger`` keeps the
#: books the facade relies on and cannot be disabled.
BUILTINS: tuple[tuple[str, str], ...] = (
    ("sandbox", "paygate.builtins.sandbox:SandboxProvider"),
    ("ledger", "paygate.builtins.ledger:LedgerPlugin"),
    ("routing", "paygate.builtins.routing:DefaultRouting"),
    ("guard", "paygate.builtins.guard:PluginGuard"),
    ("billing_permissions", "paygate.builtins.billing_permissions:BillingPermissions"),
    ("billing_policies", "paygate.builtins.billing_policies:BillingPolicies"),
    ("invoice_rules", "paygate.builtins.invoice_rules:InvoiceRules"),
    ("invoice_smtp", "paygate.billing.documents.delivery:SmtpDelivery"),
)
ESSENTIAL = frozenset({"ledger", "guard"})


class PluginLoadWarning(UserWarning):
    """A third-party plugin could not be loaded and was skipped."""


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def disabled_plugins() -> set[str]:
    raw = os.environ.get("PAYGATE_DISABLED_PLUGINS", "")
    return {p.strip() for p in raw.split(",") if p.strip()}


_ep_cache: dict[str, Any] = {}
_ep_lock = threading.Lock()


def _resolve(target: str) -> Any:
    with _ep_lock:
        if target not in _ep_cache:
            _ep_cache[target] = EntryPoint(name="", value=target, group="").load()
        return _ep_cache[target]


def _instantiate(obj: Any) -> Any:
    # An entry point may name a class (one instance per manager, so each
    # Payments has its own settings) or a module/object used as is.
    return obj() if isinstance(obj, type) else obj


def _module_of(obj: Any) -> str:
    if isinstance(obj, ModuleType):
        return obj.__name__
    return type(obj).__module__


class PaygatePluginManager(pluggy.PluginManager):
    """pluggy's manager plus provider routing and per-plugin error attribution."""

    def __init__(self) -> None:
        super().__init__(PROJECT)
        self.add_hookspecs(hookspecs)
        self.load_errors: list[tuple[str, str]] = []
        self.builtin_names: set[str] = set()
        self._providers: dict[str, tuple[object, ProviderInfo]] | None = None
        self._routed: dict[tuple[str, str], Any] = {}
        self._candidates: dict[tuple[str, str | None], list[ProviderInfo]] = {}
        self._implements: dict[tuple[str, str], bool] = {}
        self._module_owner: dict[str, str] = {}
        self._lock = threading.Lock()

    # -- registration keeps routing caches true ------------------------------
    def register(self, plugin: object, name: str | None = None) -> str | None:
        result = super().register(plugin, name)
        self._invalidate()
        if result is not None:
            self._module_owner[_module_of(plugin)] = result
        return result

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any:
        result = super().unregister(plugin, name)
        self._invalidate()
        return result

    def _invalidate(self) -> None:
        self._providers = None
        self._routed = {}
        self._candidates = {}
        self._implements = {}

    def candidates(self, method_kind: str, currency: str | None) -> list[ProviderInfo]:
        """Providers that take this payment-method kind and currency (cached)."""
        key = (method_kind, currency)
        found = self._candidates.get(key)
        if found is None:
            found = [
                info
                for _, info in self.providers().values()
                if method_kind in info.payment_methods
                and (currency is None or info.supports_currency(currency))
            ]
            self._candidates[key] = found
        return list(found)

    # -- providers -------------------------------------------------------------
    def providers(self) -> dict[str, tuple[object, ProviderInfo]]:
        """``{name: (plugin, ProviderInfo)}`` for every provider plugin."""
        providers = self._providers
        if providers is None:
            with self._lock:
                providers = {}
                for impl in self.hook.paygate_provider_info.get_hookimpls():
                    plugin_name = impl.plugin_name
                    try:
                        info = impl.function()
                    except PaygateError:
                        raise
                    except Exception as exc:
                        raise PluginError(
                            f"plugin {plugin_name!r} failed in paygate_provider_info: "
                            f"{type(exc).__name__}: {scrub_text(str(exc))}",
                            plugin=plugin_name,
                        ) from exc
                    if info is None:
                        continue
                    if not isinstance(info, ProviderInfo):
                        raise PluginError(
                            f"plugin {plugin_name!r} returned {type(info).__name__} from "
                            "paygate_provider_info, expected paygate.ProviderInfo",
                            plugin=plugin_name,
                        )
                    providers[info.name] = (impl.plugin, info)
                self._providers = providers
        return providers

    def provider_info(self, name: str) -> ProviderInfo:
        if not isinstance(name, str):
            raise InvalidRequest("provider must be a provider name", param="provider")
        try:
            return self.providers()[name][1]
        except KeyError:
            installed = ", ".join(sorted(self.providers())) or "none"
            raise InvalidRequest(
                f"unknown provider {name!r}; installed: {installed}",
                code=ErrorCode.CONFIG_ERROR,
                param="provider",
            ) from None

    def implemented(self, hook_name: str) -> bool:
        """Whether any plugin implements ``hook_name`` (cached like the routes)."""
        key = ("", hook_name)
        found = self._implements.get(key)
        if found is None:
            found = self._implements[key] = bool(getattr(self.hook, hook_name).get_hookimpls())
        return found

    def provider_implements(self, provider: str, hook_name: str) -> bool:
        # Asked on every operation; hook implementations change only through
        # register/unregister, which clear this cache like the routing ones.
        key = (provider, hook_name)
        found = self._implements.get(key)
        if found is None:
            plugin = self.providers()[provider][0]
            found = any(
                impl.plugin is plugin and not impl.wrapper and not impl.hookwrapper
                for impl in getattr(self.hook, hook_name).get_hookimpls()
            )
            self._implements[key] = found
        return found

    def routed(self, hook_name: str, provider: str) -> Any:
        """The hook caller that reaches ``provider`` and every non-provider plugin."""
        key = (hook_name, provider)
        caller = self._routed.get(key)
        if caller is None:
            providers = self.providers()
            if provider not in providers:
                self.provider_info(provider)  # raises the listing error
            others = [p for name, (p, _) in providers.items() if name != provider]
            caller = self.subset_hook_caller(hook_name, remove_plugins=others)
            self._routed[key] = caller
        return caller

    def non_provider_caller(self, hook_name: str) -> Any:
        key = (hook_name, "")
        caller = self._routed.get(key)
        if caller is None:
            others = [p for (p, _) in self.providers().values()]
            caller = self.subset_hook_caller(hook_name, remove_plugins=others)
            self._routed[key] = caller
        return caller

    # -- error attribution -------------------------------------------------------
    def culprit(self, tb: TracebackType | None, default: str = "unknown") -> str:
        """The registered plugin whose code raised, from the innermost frame up."""
        frames = []
        while tb is not None:
            frames.append(tb.tb_frame.f_globals.get("__name__", ""))
            tb = tb.tb_next
        for module in reversed(frames):
            exact = self._module_owner.get(module)
            if exact is not None:
                return exact
            for prefix, name in self._module_owner.items():
                # A plugin owns its module and, for a package, its sibling modules.
                in_package = module.startswith(prefix.rsplit(".", 1)[0] + ".")
                if module == prefix or (in_package and name not in ("guard", "ledger")):
                    return name
        return default

    def plugin_error(self, hook: str, exc: Exception, name: str | None = None) -> PluginError:
        """A plugin's bug as the host sees it: by name, scrubbed, never a decline.

        ``name`` defaults to the plugin whose code raised (:meth:`culprit`).
        """
        culprit = name or self.culprit(exc.__traceback__)
        return PluginError(
            f"plugin {culprit!r} failed in {hook}: {type(exc).__name__}: {scrub_text(str(exc))}",
            plugin=culprit,
        )

    def plugin_rows(self) -> list[dict[str, Any]]:
        """Name, version, hooks and provider capabilities of every plugin."""
        rows = []
        providers = {id(p): info for p, info in self.providers().values()}
        dists = _plugin_distributions()
        for name, plugin in self.list_name_plugin():
            hooks = sorted(
                {
                    hc.name
                    for hc in (self.get_hookcallers(plugin) or [])
                    if hc.name.startswith("paygate_")
                }
            )
            info = providers.get(id(plugin))
            dist, version = dists.get(name, ("paygate", _core_version()))
            if name in self.builtin_names:
                dist, version = "paygate (built-in)", _core_version()
            rows.append(
                {
                    "name": name,
                    "distribution": dist,
                    "version": version,
                    "hooks": hooks,
                    "provider": info.name if info else None,
                    "capabilities": info.capabilities.names() if info else [],
                    "currencies": sorted(info.currencies) if info and info.currencies else None,
                    "test_mode": info.test_mode if info else None,
                }
            )
        return rows


def _core_version() -> str:
    from paygate import __version__

    return __version__


def _plugin_distributions() -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist
        if dist is not None:
            out[ep.name] = (dist.name, dist.version)
    return out


def _extra_name(plugin: object) -> str:
    """A readable name for a plugin object the host registers itself."""
    name = getattr(plugin, "name", None)
    if isinstance(name, str) and name:
        return name
    info_fn = getattr(plugin, "paygate_provider_info", None)
    if callable(info_fn):
        try:
            info = info_fn()
        except Exception:  # reported later, by name, when the manifest is checked
            info = None
        if isinstance(info, ProviderInfo):
            return info.name
    if isinstance(plugin, ModuleType):
        return plugin.__name__
    return type(plugin).__name__


def _trace(pm: PaygatePluginManager) -> None:
    def before(hook_name: str, impls: Sequence[HookImpl], kwargs: Mapping[str, Any]) -> None:
        args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        trace_log.debug(scrub_text(f"call {hook_name}({args}) -> {[i.plugin_name for i in impls]}"))

    def after(
        outcome: Result[Any], hook_name: str, impls: Sequence[HookImpl], kwargs: Mapping[str, Any]
    ) -> None:
        exc = outcome.exception
        if exc is not None:
            trace_log.debug(scrub_text(f"fail {hook_name}: {type(exc).__name__}: {exc}"))
        else:
            trace_log.debug(scrub_text(f"done {hook_name} = {outcome.get_result()!r}"))

    pm.add_hookcall_monitoring(before, after)


def _register_checked(pm: PaygatePluginManager, plugin: object, name: str) -> None:
    pm.register(plugin, name=name)
    unknown = [hc.name for hc in (pm.get_hookcallers(plugin) or []) if not hc.has_spec()]
    if unknown:
        pm.unregister(plugin)
        raise pluggy.PluginValidationError(
            plugin, f"unknown hook(s) {', '.join(sorted(unknown))}; see paygate.hookspecs"
        )


def _skip(pm: PaygatePluginManager, name: str, exc: BaseException, strict: bool) -> None:
    message = f"paygate plugin {name!r} was skipped: {type(exc).__name__}: {scrub_text(str(exc))}"
    if strict:
        raise PluginError(message + " (PAYGATE_STRICT_PLUGINS is set)", plugin=name) from exc
    pm.load_errors.append((name, message))
    log.warning(message)
    warnings.warn(message, PluginLoadWarning, stacklevel=4)


def _configure(pm: PaygatePluginManager, config: Config, strict: bool) -> None:
    # Historic: plugins registered later get the same call. A broken
    # third-party plugin is dropped and the call made again for the rest,
    # which is why paygate_configure must be idempotent (documented).
    for _attempt in range(len(pm.get_plugins()) + 1):
        try:
            pm.hook.paygate_configure.call_historic(kwargs={"config": config})
            return
        except PaygateError:
            raise
        except Exception as exc:
            name = pm.culprit(exc.__traceback__)
            plugin = pm.get_plugin(name)
            if plugin is None or name in pm.builtin_names or strict:
                raise pm.plugin_error("paygate_configure", exc, name) from exc
            pm.unregister(plugin)
            _skip(pm, name, exc, strict)


def _declare_secret_patterns(pm: PaygatePluginManager, strict: bool) -> None:
    """Collect ``paygate_secret_patterns`` plugin by plugin: one plugin's bad
    pattern is that plugin's error (or skip), not every plugin's."""
    for impl in pm.hook.paygate_secret_patterns.get_hookimpls():
        name = impl.plugin_name
        try:
            patterns: Any = impl.function()
            if patterns is not None:
                if isinstance(patterns, (str, re.Pattern)):
                    patterns = [patterns]
                declare_secret_patterns(list(patterns))
        except Exception as exc:
            if name in pm.builtin_names or strict:
                raise pm.plugin_error("paygate_secret_patterns", exc, name) from exc
            pm.unregister(impl.plugin)
            _skip(pm, name, exc, strict)


def make_plugin_manager(
    config: Config | None = None,
    *,
    plugins: Iterable[object] = (),
    load_entrypoints: bool = True,
) -> PaygatePluginManager:
    """Build a plugin manager: specs, built-ins, entry points, extra plugins.

    :param config: handed to every plugin through ``paygate_configure``.
    :param plugins: extra plugin objects (or classes) to register, e.g. in tests.
    :param load_entrypoints: load the ``paygate`` entry-point group.
    """
    config = config if config is not None else Config()
    is_live(config)  # a test_mode that is not a boolean is refused before any plugin reads it
    pm = PaygatePluginManager()
    disabled = disabled_plugins()
    strict = _env_flag("PAYGATE_STRICT_PLUGINS")
    for name in disabled & ESSENTIAL:
        raise ConfigurationError(f"the built-in plugin {name!r} cannot be disabled")
    for name, target in BUILTINS:
        if name in disabled:
            continue
        _register_checked(pm, _instantiate(_resolve(target)), name)
        pm.builtin_names.add(name)
    if load_entrypoints:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in disabled or pm.has_plugin(ep.name):
                continue
            try:
                obj = _resolve(ep.value)
                _register_checked(pm, _instantiate(obj), ep.name)
            except Exception as exc:
                _skip(pm, ep.name, exc, strict)
    for extra in plugins:
        plugin = _instantiate(extra)
        name = _extra_name(plugin)
        if pm.has_plugin(name):
            name = f"{name}-{id(plugin):x}"
        _register_checked(pm, plugin, name)
    for plugin in pm.get_plugins():
        if hasattr(plugin, "attach_manager"):
            plugin.attach_manager(pm)
    if _env_flag("PAYGATE_DEBUG"):
        _trace(pm)
    # Configured secrets are scrubbed before any plugin could echo one.
    declare_secret_values(secret_config_values(config.as_dict()))
    _configure(pm, config, strict)
    _declare_secret_patterns(pm, strict)
    # A plugin with a broken manifest is reported now, not at the first payment.
    for name, plugin in list(pm.list_name_plugin()):
        try:
            for impl in pm.hook.paygate_provider_info.get_hookimpls():
                if impl.plugin is plugin:
                    impl.function()
        except Exception as exc:
            if name in pm.builtin_names or strict:
                raise
            pm.unregister(plugin)
            _skip(pm, name, exc, strict)
    enforce_live_mode(pm, config)
    pm.providers()
    return pm


__all__ = [
    "BUILTINS",
    "ENTRY_POINT_GROUP",
    "PaygatePluginManager",
    "PluginLoadWarning",
    "disabled_plugins",
    "make_plugin_manager",
]

"""The ``[stripe]`` configuration table, checked, and the SDK client built from it.

Settings (all optional until an operation needs them)::

    {"stripe": {
        "api_key": "sk_test_...",       # or the STRIPE_API_KEY environment variable
        "api_base": "http://127.0.0.1:8420",  # another API host (localstripe, a proxy)
        "webhook_secret": "whsec_..." or ["whsec_new", "whsec_old"],
        "webhook_tolerance": 300,
        "timeout": 30,                  # seconds, per HTTP request
        "max_network_retries": 2,       # SDK retries, same Idempotency-Key
        "return_url": "https://shop.example/paygate/return",  # default for 3-D Secure
        "localstripe": false,           # omit parameters localstripe rejects
        "fees": {...}                   # overrides of fees.json
    }}

The API key is never shown: not in ``repr``, not in any error message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from paygate.config import check_api_base
from paygate.errors import ConfigurationError
from paygate.proxies import environment_proxies, with_proxies

if TYPE_CHECKING:
    from stripe import StripeClient

LIVE_PREFIXES = ("sk_live_", "rk_live_")
TEST_PREFIXES = ("sk_test_", "rk_test_")
ENV_API_KEY = "STRIPE_API_KEY"
DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRIES = 2


def key_mode(api_key: str | None) -> str | None:
    """``"live"``, ``"test"`` or ``None`` (no key, or not a Stripe secret key)."""
    if not api_key:
        return None
    if api_key.startswith(LIVE_PREFIXES):
        return "live"
    if api_key.startswith(TEST_PREFIXES):
        return "test"
    return None


@dataclass(frozen=True)
class StripeSettings:
    api_key: str | None = field(default=None, repr=False)
    api_base: str | None = None
    webhook_secrets: tuple[str, ...] = field(default=(), repr=False)
    webhook_tolerance: int = 300
    timeout: float = DEFAULT_TIMEOUT
    max_network_retries: int = DEFAULT_RETRIES
    return_url: str | None = None
    localstripe: bool = False
    test_mode: bool = True
    fees: Mapping[str, Any] | None = None
    #: a configuration problem found at configure time, raised when an
    #: operation is attempted (so ``paygate plugins`` still lists the plugin)
    problem: str | None = None

    def __repr__(self) -> str:
        mode = key_mode(self.api_key) or ("set" if self.api_key else "missing")
        return (
            f"StripeSettings(api_key=<{mode}>, api_base={self.api_base!r}, "
            f"test_mode={self.test_mode}, webhook_secrets={len(self.webhook_secrets)})"
        )

    @property
    def live(self) -> bool:
        """Real money: a live key, or no key while the host is in live mode."""
        mode = key_mode(self.api_key)
        return mode == "live" if mode else not self.test_mode

    def require_key(self) -> str:
        """The API key, or :class:`ConfigurationError` if unusable."""
        if self.problem:
            raise ConfigurationError(self.problem)
        if not self.api_key:
            raise ConfigurationError(
                f"stripe: no API key; set stripe.api_key or the {ENV_API_KEY} environment variable"
            )
        return self.api_key


def _number(section: Mapping[str, Any], name: str, default: float) -> float:
    value = section.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigurationError(f"stripe.{name} must be a number")
    try:
        number = float(value)
    except ValueError:
        raise ConfigurationError(f"stripe.{name} must be a number") from None
    if number < 0:
        raise ConfigurationError(f"stripe.{name} must not be negative")
    return number


def from_config(
    section: Mapping[str, Any],
    *,
    test_mode: bool = True,
    environ: Mapping[str, str] | None = None,
) -> StripeSettings:
    """Check the ``[stripe]`` table.

    Malformed values raise :class:`ConfigurationError` at once; a missing
    key, or a live key while the host is in test mode, is recorded in
    ``problem`` and raised when an operation is attempted.
    """
    env = os.environ if environ is None else environ
    api_key = section.get("api_key") or env.get(ENV_API_KEY) or None
    if api_key is not None and not isinstance(api_key, str):
        raise ConfigurationError("stripe.api_key must be a string")
    problem = None
    if key_mode(api_key) == "live" and test_mode:
        problem = (
            "stripe: a live API key (sk_live_/rk_live_) is configured while paygate is in "
            "test mode; use an sk_test_ key, or set test_mode = false to take real payments"
        )
    secrets_value = section.get("webhook_secret") or ()
    if isinstance(secrets_value, str):
        secrets: tuple[str, ...] = (secrets_value,)
    elif isinstance(secrets_value, (list, tuple)) and all(
        isinstance(s, str) and s for s in secrets_value
    ):
        secrets = tuple(secrets_value)
    else:
        raise ConfigurationError("stripe.webhook_secret must be a string or a list of strings")
    api_base = section.get("api_base") or None
    if api_base is not None:
        api_base = check_api_base(api_base, "stripe.api_base")
    return_url = section.get("return_url") or None
    if return_url is not None and not isinstance(return_url, str):
        raise ConfigurationError("stripe.return_url must be a string")
    fees = section.get("fees")
    if fees is not None and not isinstance(fees, Mapping):
        raise ConfigurationError("stripe.fees must be a table")
    return StripeSettings(
        api_key=api_key,
        api_base=api_base.rstrip("/") if api_base else None,
        webhook_secrets=secrets,
        webhook_tolerance=int(_number(section, "webhook_tolerance", 300)),
        timeout=_number(section, "timeout", DEFAULT_TIMEOUT),
        max_network_retries=int(_number(section, "max_network_retries", DEFAULT_RETRIES)),
        return_url=return_url,
        localstripe=bool(section.get("localstripe", False)),
        test_mode=test_mode,
        fees=fees,
        problem=problem,
    )


DEFAULT_API_BASE = "https://api.stripe.com"


class _SessionsReadingEnvironmentOnce:
    """The ``requests`` module as stripe's ``RequestsClient`` uses it, except
    that the per-thread sessions it makes take the proxies read from the
    environment once, when this is made, instead of reading the environment
    on every request (:mod:`paygate.proxies`: a tenth of a Stripe call's
    client CPU)."""

    def __init__(self, requests_module: Any, api_base: str) -> None:
        self._requests = requests_module
        self._proxies = environment_proxies(api_base)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._requests, name)

    def Session(self) -> Any:  # requests' own name, which RequestsClient calls
        return with_proxies(self._requests.Session(), self._proxies)


def build_client(settings: StripeSettings) -> StripeClient:
    """A :class:`stripe.StripeClient` for these settings.

    ``stripe`` is imported here, on first use, not when paygate loads its
    plugins: importing the SDK costs far more than paygate's import budget.
    The HTTP client is always stripe's ``RequestsClient``: one keep-alive
    session per thread, and the layer ``responses`` intercepts in tests.
    Proxy settings are read from the environment when the client is built,
    not on every request (see :class:`_SessionsReadingEnvironmentOnce`).
    """
    import requests
    import stripe

    api_key = settings.require_key()
    http_client = stripe.RequestsClient(
        timeout=settings.timeout,
        # RequestsClient makes its per-thread sessions through this module
        # object (the parameter exists for that: stripe's own tests use it).
        _lib=_SessionsReadingEnvironmentOnce(requests, settings.api_base or DEFAULT_API_BASE),
    )
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": settings.api_base} if settings.api_base else {},
        http_client=http_client,
        max_network_retries=settings.max_network_retries,
    )


__all__ = [
    "DEFAULT_API_BASE",
    "ENV_API_KEY",
    "LIVE_PREFIXES",
    "TEST_PREFIXES",
    "StripeSettings",
    "build_client",
    "from_config",
    "key_mode",
]

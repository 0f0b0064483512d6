"""Proxy settings for a provider plugin's ``requests`` sessions, read once.

With ``trust_env`` on (its default) ``requests`` walks ``os.environ`` twice
for proxy settings and looks for ``~/.netrc`` on *every* request: about
0.12 ms of CPU, a tenth of a Stripe SDK call's client time against a server
that answers at once. A plugin whose SDK talks through ``requests`` resolves
the proxies once, for its API host, and turns ``trust_env`` off. ``~/.netrc``
is then never read, which is also safer: its credentials would replace the
API key's ``Authorization`` header.

``requests`` is imported on use: the core does not depend on it, the
plugins that call this do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

S = TypeVar("S")

#: The environment variables ``requests`` takes proxy settings from (in
#: either case).
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def environment_proxies(url: str) -> dict[str, str]:
    """The proxies ``requests`` would take from the environment for ``url``
    (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``, in either case; none when
    ``NO_PROXY`` covers its host)."""
    import requests.utils

    proxies: dict[str, str] = requests.utils.get_environ_proxies(url)
    return {scheme: proxy for scheme, proxy in proxies.items() if scheme != "no"}


def with_proxies(session: S, proxies: Mapping[str, str]) -> S:
    """Give ``session`` (a ``requests.Session``) these proxies and stop it
    reading the environment on each request."""
    target: Any = session
    target.trust_env = False
    target.proxies.update(proxies)
    return session


def read_environment_once(session: S, url: str) -> S:
    """:func:`with_proxies` with the environment's proxies for ``url``, read now."""
    return with_proxies(session, environment_proxies(url))


__all__ = ["PROXY_VARIABLES", "environment_proxies", "read_environment_once", "with_proxies"]

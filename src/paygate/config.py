"""Configuration: a mapping with one table per plugin, plus a few core keys.

Core keys:

``default_provider``
    provider used when the host names none and no plugin routes (default
    ``"sandbox"``).
``test_mode``
    ``True`` (default) refuses live keys; set ``False`` in production.
``database_url``
    the ledger: a SQLAlchemy URL, ``"memory"``, or unset for the SQLite file
    ``paygate.sqlite3`` in the working directory. ``PAYGATE_DATABASE_URL``
    overrides it.
``database_pool_size``
    connections a PostgreSQL ledger keeps open (default 32): at least the
    number of threads that share one ``Payments``, or connections are opened
    and closed under load.
``durability``
    ``"durable"`` (default): every ledger commit reaches the disk before the
    call goes on (SQLite ``synchronous=FULL``; PostgreSQL
    ``synchronous_commit`` at least ``on`` in the ledger's sessions), so the
    write-ahead record survives a power loss. ``"relaxed"`` accepts the risk
    of losing the latest ledger writes to a power loss or an OS crash for a
    cheaper commit (see ``docs/reliability.md``).
``rounding``
    the rounding mode of produced amounts (default ``ROUND_HALF_UP``).

Every other top-level table belongs to the plugin of that name
(``[stripe]``, ``[paypal]``, ``[pricing]``, ``[cardnetworks]``, ``[sandbox]``).
"""

from __future__ import annotations

import decimal
import os
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from paygate.errors import ConfigurationError

_ROUNDING_MODES = {
    name: getattr(decimal, name) for name in dir(decimal) if name.startswith("ROUND_")
}

DEFAULT_DATABASE_FILE = "paygate.sqlite3"
DEFAULT_POOL_SIZE = 32
#: The ledger's durability levels (``durability``): the first is the default.
DURABILITY_LEVELS = ("durable", "relaxed")
DEFAULT_DURABILITY = DURABILITY_LEVELS[0]


def describe_value(value: object) -> str:
    """What a config value is, never what it holds: a secret typed into the
    wrong key must not end up in an error message, a CLI's output or a log."""
    kind = type(value).__name__
    if isinstance(value, (str, bytes, list, tuple, dict)):
        return f"a {kind} of length {len(value)}"
    return f"a {kind}"


_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def check_api_base(value: object, key: str) -> str:
    """A provider's API base URL, checked: ``https://``, or ``http://`` to a
    loopback host only (a local fake server in tests). Credentials travel to
    this address: plain http to anywhere else would expose them.

    :raises ConfigurationError: naming ``key``, never echoing the value.
    """
    if not isinstance(value, str):
        raise ConfigurationError(f"{key} must be an https URL, not {describe_value(value)}")
    try:
        parsed = urlsplit(value)
        host = parsed.hostname
    except ValueError:
        raise ConfigurationError(f"{key} must be an https URL") from None
    if not host:
        raise ConfigurationError(f"{key} must be an https URL")
    if parsed.scheme == "https" or (parsed.scheme == "http" and host in _LOOPBACK_HOSTS):
        return value.rstrip("/")
    raise ConfigurationError(f"{key} must be an https URL (http only to 127.0.0.1 or localhost)")


class Config(Mapping[str, Any]):
    """Read-only view of the host's settings."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        if data is not None and not isinstance(data, Mapping):
            raise ConfigurationError(f"config must be a mapping, not {type(data).__name__}")
        self._data: dict[str, Any] = dict(data or {})
        rounding = self._data.get("rounding", "ROUND_HALF_UP")
        if not isinstance(rounding, str) or rounding not in _ROUNDING_MODES:
            raise ConfigurationError(
                f"rounding must be one of {sorted(_ROUNDING_MODES)}, not {describe_value(rounding)}"
            )
        pool = self._data.get("database_pool_size", DEFAULT_POOL_SIZE)
        if isinstance(pool, bool) or not isinstance(pool, int) or pool < 1:
            raise ConfigurationError(
                f"database_pool_size must be a whole number >= 1, not {describe_value(pool)}"
            )
        durability = self._data.get("durability", DEFAULT_DURABILITY)
        if not isinstance(durability, str) or durability not in DURABILITY_LEVELS:
            # The value itself is not echoed: a misplaced secret must not
            # reach a log through an error message.
            raise ConfigurationError(
                f"durability must be one of {', '.join(map(repr, DURABILITY_LEVELS))}",
                param="durability",
            )

    @classmethod
    def load(cls, source: Config | Mapping[str, Any] | str | Path | None) -> Config:
        """Build from a mapping, a TOML file path, or ``None`` (then
        ``PAYGATE_CONFIG`` names a TOML file, if set)."""
        if isinstance(source, Config):
            return source
        if source is None:
            env = os.environ.get("PAYGATE_CONFIG")
            return cls.from_file(env) if env else cls()
        if isinstance(source, (str, Path)):
            return cls.from_file(source)
        return cls(source)

    @classmethod
    def from_file(cls, path: str | Path) -> Config:
        try:
            with open(path, "rb") as fh:
                return cls(tomllib.load(fh))
        except FileNotFoundError:
            raise ConfigurationError(f"config file {str(path)!r} not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(
                f"config file {str(path)!r} is not valid TOML: {exc}"
            ) from None

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def section(self, name: str) -> dict[str, Any]:
        """The table of plugin ``name`` (a copy; empty if absent)."""
        value = self._data.get(name, {})
        if not isinstance(value, Mapping):
            raise ConfigurationError(
                f"config table [{name}] must be a table, not {describe_value(value)}"
            )
        return dict(value)

    @property
    def test_mode(self) -> bool:
        return bool(self._data.get("test_mode", True))

    @property
    def default_provider(self) -> str:
        return str(self._data.get("default_provider", "sandbox"))

    @property
    def rounding(self) -> str:
        return str(_ROUNDING_MODES[self._data.get("rounding", "ROUND_HALF_UP")])

    @property
    def database_url(self) -> str:
        env = os.environ.get("PAYGATE_DATABASE_URL")
        if env:
            return env
        return str(self._data.get("database_url", f"sqlite:///{DEFAULT_DATABASE_FILE}"))

    @property
    def database_pool_size(self) -> int:
        return int(self._data.get("database_pool_size", DEFAULT_POOL_SIZE))

    @property
    def durability(self) -> str:
        """``"durable"`` or ``"relaxed"``: how the ledger commits (see the module doc)."""
        return str(self._data.get("durability", DEFAULT_DURABILITY))

    def as_dict(self) -> dict[str, Any]:
        return dict(self._data)

    def __repr__(self) -> str:
        # Sections may hold API keys: show only their names.
        return (
            f"Config(tables={sorted(k for k, v in self._data.items() if isinstance(v, Mapping))})"
        )

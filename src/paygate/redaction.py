"""Scrubbing of secrets from text and data: PANs, CVCs and API keys.

This is the second line of defence: card numbers and CVCs travel as secret
types and are never formatted into messages in the first place. Whatever is
logged, traced or stored as a provider transcript still goes through
:func:`scrub_text` / :func:`scrub_data`, so a provider echoing a card number
back, or a plugin author's careless log line, leaks nothing.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

REDACTED = "[REDACTED]"

# A run of 13 or more digits, possibly grouped by up to three spaces, dashes,
# dots, underscores, slashes or plus signs, or a URL-encoded space
# ("4242 4242 4242 4242", "4242  4242...", "4242_4242...", "4242+4242..." in a
# form-encoded body): checked by _mask_pan.
_PAN_SEPARATOR = r"(?:[ .\-_/+]{1,3}|%20)"
_PAN_CANDIDATE = re.compile(r"(?<![0-9])[0-9](?:" + _PAN_SEPARATOR + r"?[0-9]){12,}(?![0-9])")
_SECRET_TOKENS = re.compile(
    r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{6,}"  # Stripe API keys
    r"|\bwhsec_[A-Za-z0-9+/=_-]{6,}"  # Stripe webhook secrets
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/=-]{8,}"  # OAuth bearer tokens (PayPal access tokens)
    r"|(?i:basic)\s+[A-Za-z0-9+/=]{8,}"  # HTTP basic credentials (PayPal client id:secret)
)
# user:password@ in URLs (database URLs, proxies).
_URL_CREDENTIALS = re.compile(r"(?<=://)([^/\s:@]+):([^/\s@]+)@")
# Whitespace as typed, or as a form-encoded body spells it ("cvc+907", "cvc%20907").
_FIELD_SPACE = r"(?:\s|\+|%20)"
_SECRET_FIELD = re.compile(
    r"(?i)((?:card(?:\[|%5B))?[\"']?(?:cvc|cvv|cvv2|cvc2|csc|security_code|client_secret|"
    r"api_key|apikey|password|passwd|secret|access_token|refresh_token|authorization|"
    r"webhook_secret)[\"']?(?:\]|%5D){0,2}[\"']?"
    r"(?:"
    + _FIELD_SPACE
    + r"*(?:[:=]|%3A|%3D)"
    + _FIELD_SPACE
    + r"*|"
    + _FIELD_SPACE
    + r"+(?=[0-9]))[\"']?)(?!\[REDACTED\])([^\"'&,\s})\]+]+)"
)

# What at least one pattern above needs: ":" or "=" or a space before a digit
# (fields, URL credentials), "_live_"/"_test_" (API keys), "whsec_",
# "bearer "/"basic " (credentials). Keep in step with the patterns above.
_MAYBE_SECRET = re.compile(
    r"[:=]|_(?:live|test)_|whsec_|(?i:bearer|basic)\s|\s[0-9]|\+[0-9]|(?i:%20|%3A|%3D)"
)
# Cheaper necessary conditions, checked first: the regex engine pays per
# position and per alternative, so the two searches above cost about a
# microsecond on a 27-character id, and a transcript has dozens of strings.
# Every field, credential and bearer/basic pattern needs ":", "=" or
# whitespace; the API-key and webhook-secret patterns need "_live_",
# "_test_" or "whsec_"; a PAN candidate is 13 digits, each after the last or
# after one " ", "." or "-". Without any of these characters, only 13
# digits (in a row, or grouped by "_" or "/", which ids hold too) can be a
# secret. "+" and "%" are how a form-encoded body writes a space.
_SUSPECT_CHARS = re.compile(r"[:=\s.+%-]")


def _may_hold_secret(text: str) -> bool:
    """False only when no pattern of :func:`scrub_text` can match ``text``."""
    if (
        _SUSPECT_CHARS.search(text) is None
        and "_live_" not in text
        and "_test_" not in text
        and "whsec_" not in text
    ):
        return len(text) >= 13 and _PAN_CANDIDATE.search(text) is not None
    return _MAYBE_SECRET.search(text) is not None or _PAN_CANDIDATE.search(text) is not None


# -- secrets that plugins and the configuration declare ------------------------
#
# A provider's credentials have shapes the patterns above cannot know
# (``acme_test_...``). Plugins name them through the ``paygate_secret_patterns``
# hook, and every configured value under a secret-sounding key is scrubbed as
# itself (:func:`secret_config_values`). Both are process-wide: a log filter
# or an exception message has no ``Payments`` to ask, and scrubbing a value a
# second ``Payments`` also uses costs nothing.

#: Config keys whose string values are secrets: any key containing one of these words.
SECRET_CONFIG_WORDS = ("key", "secret", "token", "password")
#: Shorter configured values are not scrubbed as themselves (they would hide
#: ordinary words); the shape patterns still apply to them.
MIN_SECRET_VALUE_LENGTH = 8
#: At most this many exact values are remembered (a process that builds many
#: ``Payments`` with fresh keys must not grow the pattern without bound).
MAX_SECRET_VALUES = 256

_declared_lock = threading.Lock()
_declared_sources: dict[str, None] = {}
_declared_values: dict[str, None] = {}
_DECLARED: re.Pattern[str] | None = None
_INLINE_FLAGS = ((re.IGNORECASE, "i"), (re.MULTILINE, "m"), (re.DOTALL, "s"), (re.VERBOSE, "x"))


def _pattern_source(pattern: str | re.Pattern[str]) -> str:
    """The pattern as a scoped group, its flags inline, so several join into one."""
    if isinstance(pattern, re.Pattern):
        if not isinstance(pattern.pattern, str):
            raise TypeError("a secret pattern must match text, not bytes")
        flags = "".join(letter for flag, letter in _INLINE_FLAGS if pattern.flags & flag)
        source = pattern.pattern
    elif isinstance(pattern, str):
        flags, source = "", pattern
    else:
        raise TypeError(
            f"a secret pattern must be a str or re.Pattern, not {type(pattern).__name__}"
        )
    compiled = re.compile(source, _flags_of(flags))
    if compiled.fullmatch("") is not None or compiled.search("") is not None:
        raise ValueError("a secret pattern must not match the empty string")
    return f"(?{flags}:{source})" if flags else f"(?:{source})"


def _flags_of(letters: str) -> int:
    value = 0
    for flag, letter in _INLINE_FLAGS:
        if letter in letters:
            value |= flag
    return value


def _rebuild_declared() -> None:
    global _DECLARED
    parts = list(_declared_sources)
    # Longest first: a value that contains another is replaced whole.
    parts += [re.escape(v) for v in sorted(_declared_values, key=len, reverse=True)]
    _DECLARED = re.compile("|".join(parts)) if parts else None


def declare_secret_patterns(patterns: Iterable[str | re.Pattern[str]]) -> None:
    """Scrub text matching any of ``patterns`` from now on (errors, logs, ledger).

    :raises TypeError: a pattern is neither a ``str`` nor a compiled text pattern.
    :raises ValueError: a pattern does not compile, or matches the empty string.
    """
    try:
        sources = [_pattern_source(p) for p in patterns]
    except re.error as exc:
        raise ValueError(f"a secret pattern does not compile: {exc.msg}") from None
    with _declared_lock:
        fresh = [src for src in sources if src not in _declared_sources]
        if fresh:
            _declared_sources.update(dict.fromkeys(fresh))
            _rebuild_declared()


def declare_secret_values(values: Iterable[str]) -> None:
    """Scrub these exact values from now on (a configured API key, a password).

    Values shorter than :data:`MIN_SECRET_VALUE_LENGTH` characters are ignored.
    At most :data:`MAX_SECRET_VALUES` values are remembered, the most recently
    declared ones: past the bound the least recently declared is forgotten, never
    the new one (the newest configuration is the one in use; ignoring it would
    leak the key a long-running process was just given).
    """
    with _declared_lock:
        fresh: list[str] = []
        for v in values:
            if not isinstance(v, str) or len(v) < MIN_SECRET_VALUE_LENGTH:
                continue
            if v in _declared_values:
                # Declared again: it is in use, so it becomes the newest.
                del _declared_values[v]
                _declared_values[v] = None
            # Already hidden whole by a shape (an sk_test_ key): no need to
            # grow the pattern every scrub pays for.
            elif v in _substitute(v) and v not in fresh:
                fresh.append(v)
        if fresh:
            _declared_values.update(dict.fromkeys(fresh[-MAX_SECRET_VALUES:]))
            while len(_declared_values) > MAX_SECRET_VALUES:
                del _declared_values[next(iter(_declared_values))]
            _rebuild_declared()


def is_secret_config_key(name: str) -> bool:
    """Whether a configuration key holds a secret (``api_key``, ``client_secret``...)."""
    lowered = name.lower()
    return any(word in lowered for word in SECRET_CONFIG_WORDS)


def secret_config_values(value: Any, key: str = "") -> list[str]:
    """Every string in a configuration mapping under a key that
    :func:`is_secret_config_key` calls secret, at any depth."""
    found: list[str] = []
    if isinstance(value, Mapping):
        for name, item in value.items():
            found += secret_config_values(item, str(name))
    elif isinstance(value, (list, tuple)):
        for item in value:
            found += secret_config_values(item, key)
    elif isinstance(value, str) and key and is_secret_config_key(key):
        found.append(value)
    return found


def _scrub_declared(text: str) -> str:
    declared = _DECLARED
    if declared is None:
        return text
    return declared.sub(REDACTED, text)


#: Keys whose values are secrets wherever they appear in a mapping.
SECRET_KEYS = frozenset(
    {
        "number",
        "card_number",
        "pan",
        "cvc",
        "cvv",
        "cvv2",
        "cvc2",
        "csc",
        "security_code",
        "api_key",
        "secret",
        "client_secret",
        "webhook_secret",
        "password",
        "authorization",
        "access_token",
        "refresh_token",
    }
)


#: Keys whose values are card secrets even in a host's own data (metadata).
CARD_SECRET_KEYS = frozenset(
    {"cvc", "cvv", "cvv2", "cvc2", "csc", "security_code", "card_number", "pan"}
)


def is_card_secret_key(name: str) -> bool:
    """Whether a metadata key names a card secret: ``cvc``, ``CVV``, and the
    bracketed forms a form post uses (``card[cvc]``, ``card%5Bcvc%5D``)."""
    lowered = name.lower().replace("%5b", "[").replace("%5d", "]")
    bare = lowered.rsplit("[", 1)[-1].rstrip("]").strip(" \"'")
    return lowered in CARD_SECRET_KEYS or bare in CARD_SECRET_KEYS


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum (ISO/IEC 7812-1) over a string of digits."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _contains_pan(digits: str) -> bool:
    """Does some 13-19 digit stretch of ``digits`` pass the Luhn check?

    Used for runs longer than 19 digits, where a card number may be glued to
    other digits (``"0004242424242424242"`` + order number).
    """
    n = len(digits)
    for length in range(13, 20):
        for start in range(n - length + 1):
            if digits[start] in "23456" and luhn_valid(digits[start : start + length]):
                return True
    return False


def _mask_pan(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = "".join(ch for ch in text if ch.isdigit())
    if 13 <= len(digits) <= 19:
        if luhn_valid(digits):
            return f"{REDACTED}{digits[-4:]}"
        return text
    # A longer run: cheaper to hide it whole than to guess where a PAN sits.
    if len(digits) <= 64 and not _contains_pan(digits):
        return text
    return REDACTED


def scrub_text(text: str) -> str:
    """Replace secrets in ``text`` with ``[REDACTED]``.

    Secrets are: every Luhn-valid run of 13-19 digits (also grouped by
    spaces, dashes or dots; the last 4 digits stay), longer digit runs that
    contain one, Stripe API keys (``sk_``/``rk_``/``pk_``, live or test) and
    webhook secrets (``whsec_``), bearer and basic credentials (PayPal's
    client id and secret), passwords in URLs, and the value of any
    ``cvc=``/``"cvc":``-like field (also ``card[cvc]``, ``client_secret``,
    ``api_key``, ``password``, ``access_token``), and whatever plugins and the
    configuration declared secret (:func:`declare_secret_patterns`,
    :func:`declare_secret_values`).
    """
    if not text:
        return text
    if _DECLARED is not None:
        text = _scrub_declared(text)
    if not _may_hold_secret(text):
        # Most stored strings (ids, amounts, statuses) hold none of what every
        # secret pattern below needs: skip the substitutions.
        return text
    return _substitute_builtin(text)


def _substitute(text: str) -> str:
    """Every substitution of :func:`scrub_text`, without its shortcut."""
    return _substitute_builtin(_scrub_declared(text))


def _substitute_builtin(text: str) -> str:
    out = _SECRET_TOKENS.sub(REDACTED, text)
    out = _URL_CREDENTIALS.sub(lambda m: f"{m.group(1)}:{REDACTED}@", out)
    out = _SECRET_FIELD.sub(lambda m: m.group(1) + REDACTED, out)
    if sum(ch.isdigit() for ch in out) >= 13:
        out = _PAN_CANDIDATE.sub(_mask_pan, out)
    return out


def _classify_key(name: str) -> bool:
    lowered = name.lower()
    bare = lowered.rsplit("[", 1)[-1].rstrip("]")
    return lowered in SECRET_KEYS or bare in SECRET_KEYS


_KEY_VERDICTS: dict[str, bool] = {}
_MAX_KEY_VERDICTS = 4096


def _is_secret_key(name: str) -> bool:
    # Key names repeat endlessly across transcripts: decide each one once. A
    # plain dict read costs half an lru_cache call; once full it stops growing
    # (a provider sending ever-new key names) and the rest are decided anew.
    verdict = _KEY_VERDICTS.get(name)
    if verdict is None:
        verdict = _classify_key(name)
        if len(_KEY_VERDICTS) < _MAX_KEY_VERDICTS:
            _KEY_VERDICTS[name] = verdict
    return verdict


def scrub_strings(value: Any) -> Any:
    """Like :func:`scrub_data`, but only text is scrubbed, never a value for
    its key's name (for data a provider needs back, such as ``provider_data``)."""
    if isinstance(value, Mapping):
        return {str(k): scrub_strings(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub_strings(v) for v in value]
    if isinstance(value, str):
        return scrub_text(value)
    return value


def scrub_data(value: Any) -> Any:
    """A copy of ``value`` (JSON-like data) with secrets scrubbed.

    Values under :data:`SECRET_KEYS` (also Stripe's ``card[cvc]`` form) are
    replaced whole; every string is passed through :func:`scrub_text`.
    """
    if type(value) is str:  # the common leaf, before the slower ABC check
        return scrub_text(value)
    if value is None or type(value) in (bool, int, float):
        return value
    if type(value) is dict or isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = key if type(key) is str else str(key)
            if _is_secret_key(name):
                out[name] = REDACTED
                continue
            # The leaves of a transcript are handled here rather than by a
            # call per value (a PaymentIntent has dozens); anything else,
            # str subclasses included, takes the general path.
            kind = type(item)
            if kind is str:
                # _may_hold_secret's first test, inline: most values pass it.
                if (
                    _DECLARED is None
                    and _SUSPECT_CHARS.search(item) is None
                    and "_live_" not in item
                    and "_test_" not in item
                    and "whsec_" not in item
                    and (len(item) < 13 or _PAN_CANDIDATE.search(item) is None)
                ):
                    out[name] = item
                else:
                    out[name] = scrub_text(item)
            elif item is None or kind is int or kind is bool or kind is float:
                out[name] = item
            else:
                out[name] = scrub_data(item)
        return out
    if isinstance(value, (list, tuple)):
        return [scrub_data(v) for v in value]
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, bytes):
        return scrub_text(value.decode("utf-8", "replace"))
    return value


def scrub_record(record: logging.LogRecord) -> logging.LogRecord:
    """Scrub a log record in place: message, arguments, traceback, stack."""
    if getattr(record, "paygate_scrubbed", False):
        return record
    try:
        message = record.getMessage()
    except Exception:  # a broken %-format must not hide the record
        message = str(record.msg)
    record.msg = scrub_text(message)
    record.args = None
    if record.exc_info and not record.exc_text:
        # Format the traceback now, scrubbed: the handler's formatter reuses
        # exc_text instead of formatting the exception (and its message) again.
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = scrub_text(record.exc_text)
    if record.stack_info:
        record.stack_info = scrub_text(record.stack_info)
    record.paygate_scrubbed = True
    return record


class RedactingFilter(logging.Filter):
    """A logging filter that scrubs the formatted message, its arguments and
    any traceback.

    Every ``paygate`` logger carries it (see :func:`get_logger`). A logger
    filter does not see records of other libraries (a provider SDK logging
    request bodies), so :func:`install_log_redaction` puts it on handlers.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        scrub_record(record)
        return True


_FILTER = RedactingFilter()
_install_lock = threading.Lock()
_factory_installed = False


def install_log_redaction(handlers: Iterable[logging.Handler] | None = None) -> None:
    """Put the redacting filter on ``handlers`` (default: every handler of the
    root logger), so records from any library are scrubbed before output."""
    targets = list(logging.getLogger().handlers) if handlers is None else list(handlers)
    for handler in targets:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)


def install_record_factory() -> None:
    """Scrub every log record of the process when it is created.

    Enabled by ``PAYGATE_DEBUG=1`` (when SDKs log request bodies too), or by
    hosts who want it always: it covers handlers added later and loggers of
    any library. Idempotent; chains the previous record factory.
    """
    global _factory_installed
    with _install_lock:
        if _factory_installed:
            return
        previous: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            return scrub_record(previous(*args, **kwargs))

        logging.setLogRecordFactory(factory)
        _factory_installed = True


#: Loggers of provider SDKs and HTTP clients known to log request bodies or
#: headers at DEBUG (Stripe logs ``card[number]=...`` as "Post details").
SDK_LOGGERS = (
    "stripe",
    "paypalserversdk",
    "apimatic_core",
    "apimatic_requests_client_adapter",
    "urllib3",
    "requests",
    "httpx",
    "httpcore",
)


def protect_sdk_loggers(names: Iterable[str] = SDK_LOGGERS) -> None:
    """Put the redacting filter on these loggers (idempotent). Records they
    create are scrubbed before any handler sees them; a plugin using another
    SDK protects it the same way with :func:`get_logger`."""
    for name in names:
        get_logger(name)


def debug_enabled() -> bool:
    return os.environ.get("PAYGATE_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")


def get_logger(name: str) -> logging.Logger:
    """A logger under ``paygate`` whose records are scrubbed before any handler.

    Logger filters do not apply to child loggers, so each paygate logger
    (and each plugin's, through this function) carries the filter itself.
    """
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger


__all__ = [
    "CARD_SECRET_KEYS",
    "REDACTED",
    "SDK_LOGGERS",
    "SECRET_CONFIG_WORDS",
    "SECRET_KEYS",
    "RedactingFilter",
    "debug_enabled",
    "declare_secret_patterns",
    "declare_secret_values",
    "get_logger",
    "install_log_redaction",
    "install_record_factory",
    "is_card_secret_key",
    "is_secret_config_key",
    "luhn_valid",
    "protect_sdk_loggers",
    "scrub_data",
    "scrub_record",
    "scrub_strings",
    "scrub_text",
    "secret_config_values",
]

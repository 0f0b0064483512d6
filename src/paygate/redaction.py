"""Scrubbing of secrets from text and data: PANs, CVCs and API keys.

This is the second line of defence: card numbers and CVCs travel as secret
types and are never formatted into messages in the first place. Whatever is
logged, traced or stored as a provider transcript still goes through
:func:`scrub_text` / :func:`scrub_data`, so a provider echoing a card number
back, or a plugin author's careless log line, leaks nothing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[REDACTED]"

# 13-19 digits, optionally grouped by single spaces or dashes.
_PAN_CANDIDATE = re.compile(r"(?<![0-9])(?:[0-9][ -]?){12,18}[0-9](?![0-9])")
_SECRET_TOKENS = re.compile(
    r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{6,}"  # Stripe keys
    r"|\bwhsec_[A-Za-z0-9+/=]{6,}"  # Stripe webhook secrets
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/=-]{8,}"  # OAuth bearer tokens
    r"|(?i:basic)\s+[A-Za-z0-9+/=]{8,}"  # HTTP basic credentials
)
_SECRET_FIELD = re.compile(
    r"(?i)(\"?(?:cvc|cvv|cvv2|cvc2|csc|security_code|card\[cvc\]|client_secret|api_key|"
    r"password|secret)\"?\s*[:=]\s*\"?)([^\"&,\s}]+)"
)

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


def _mask_pan(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = "".join(ch for ch in text if ch.isdigit())
    if 13 <= len(digits) <= 19 and luhn_valid(digits):
        return f"{REDACTED}{digits[-4:]}"
    return text


def scrub_text(text: str) -> str:
    """Replace every Luhn-valid 13-19 digit run, API key, bearer token and
    ``cvc=...``-like field value in ``text`` with ``[REDACTED]``."""
    if not text:
        return text
    out = _SECRET_TOKENS.sub(REDACTED, text)
    out = _SECRET_FIELD.sub(lambda m: m.group(1) + REDACTED, out)
    if any(ch.isdigit() for ch in out):
        out = _PAN_CANDIDATE.sub(_mask_pan, out)
    return out


def scrub_data(value: Any) -> Any:
    """A copy of ``value`` (JSON-like data) with secrets scrubbed.

    Values under :data:`SECRET_KEYS` (also Stripe's ``card[cvc]`` form) are
    replaced whole; every string is passed through :func:`scrub_text`.
    """
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = str(key).lower()
            bare = name.rsplit("[", 1)[-1].rstrip("]")
            if name in SECRET_KEYS or bare in SECRET_KEYS:
                out[str(key)] = REDACTED
            else:
                out[str(key)] = scrub_data(item)
        return out
    if isinstance(value, (list, tuple)):
        return [scrub_data(v) for v in value]
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, bytes):
        return scrub_text(value.decode("utf-8", "replace"))
    return value


class RedactingFilter(logging.Filter):
    """A logging filter that scrubs the formatted message and arguments.

    Installed on the ``paygate`` logger by :func:`install_log_redaction`;
    hosts can add it to their own handlers too.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken %-format must not hide the record
            message = str(record.msg)
        record.msg = scrub_text(message)
        record.args = None
        if record.exc_text:
            record.exc_text = scrub_text(record.exc_text)
        return True


_FILTER = RedactingFilter()


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
    "REDACTED",
    "SECRET_KEYS",
    "RedactingFilter",
    "get_logger",
    "luhn_valid",
    "scrub_data",
    "scrub_text",
]

"""Find card numbers, CVCs and API keys in text, files and objects.

Used by :func:`assert_no_secrets`. Every finding is described *without* the
secret itself (a card number is shown as ``…4242``), so a failing assertion
never leaks what it found into a CI log.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paygate.redaction import luhn_valid

# 13-19 digits, optionally grouped by single spaces or dashes, standing alone:
# a digit run inside a random hex id (txn_5f3021...) is Luhn-valid one time in
# ten, and must not fail a test at random. An exact test PAN anywhere is still
# found through ``secrets=``.
_PAN = re.compile(r"(?<![0-9A-Za-z_])(?:[0-9][ -]?){12,18}[0-9](?![0-9A-Za-z_])")
_TOKEN = re.compile(
    r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{6,}"  # Stripe secret and restricted keys
    r"|\bwhsec_[A-Za-z0-9+/=]{6,}"  # Stripe webhook signing secrets
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/=-]{16,}"  # OAuth bearer tokens
    r"|(?i:basic)\s+[A-Za-z0-9+/=]{16,}"  # HTTP basic credentials
)
# A CVC-like field with a 3-4 digit value: "cvc": "123", cvc=123, card[cvc]=123.
_CVC_FIELD = re.compile(
    r"(?i)\b(?:cvc|cvv|cvv2|cvc2|csc|security_code|card\[cvc\])[\"']?\s*[:=]\s*[\"']?([0-9]{3,4})\b"
)


@dataclass(frozen=True)
class Finding:
    """One secret found: what kind, where, and a masked hint."""

    kind: str
    offset: int
    hint: str

    def __str__(self) -> str:
        return f"{self.kind} {self.hint} at offset {self.offset}"


def _mask(secret: str) -> str:
    return "…" + secret[-4:] if len(secret) > 8 else "…"


def find_secrets(text: str, extra: Iterable[str] = ()) -> list[Finding]:
    """Every card number (Luhn-valid 13-19 digits), API key, bearer token,
    CVC-labelled value, and occurrence of an ``extra`` secret in ``text``."""
    found: list[Finding] = []
    for match in _PAN.finditer(text):
        digits = "".join(ch for ch in match.group(0) if ch.isdigit())
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            found.append(Finding("card number", match.start(), f"ending {digits[-4:]}"))
    for match in _TOKEN.finditer(text):
        found.append(Finding("API key or token", match.start(), _mask(match.group(0))))
    for match in _CVC_FIELD.finditer(text):
        found.append(Finding("CVC value", match.start(), "(a 3-4 digit value after a cvc field)"))
    for secret in extra:
        if not secret:
            continue
        start = text.find(secret)
        while start != -1:
            found.append(Finding("known secret", start, _mask(secret)))
            start = text.find(secret, start + 1)
    return sorted(set(found), key=lambda f: f.offset)


def _read(source: Any) -> tuple[str, str]:
    """``(text, description)`` of what ``assert_no_secrets`` was given."""
    if isinstance(source, Path):
        if source.is_dir():
            parts = []
            for root, _dirs, files in os.walk(source):
                for name in sorted(files):
                    path = Path(root, name)
                    parts.append(f"\n--- {path}\n" + path.read_bytes().decode("utf-8", "replace"))
            return "".join(parts), f"directory {source}"
        # Binary files (an SQLite ledger) are searched as text: digits survive.
        return source.read_bytes().decode("utf-8", "replace"), f"file {source}"
    if isinstance(source, bytes):
        return source.decode("utf-8", "replace"), "bytes"
    if isinstance(source, str):
        return source, "text"
    return repr(source), f"repr of {type(source).__name__}"


def assert_no_secrets(
    source: str | bytes | Path | object,
    *,
    secrets: Iterable[str] = (),
    what: str | None = None,
) -> None:
    """Fail if ``source`` holds a card number, a CVC, an API key or one of ``secrets``.

    :param source: text, bytes, a :class:`~pathlib.Path` (a file is read as
        bytes, a directory is walked) or any object (its ``repr`` is searched).
    :param secrets: exact strings that must not appear (the test PANs and API
        keys a test used). Values shorter than 6 characters are ignored:
        a CVC such as ``123`` is found by its field name instead.
    :param what: a name for ``source`` in the failure message.
    :raises AssertionError: listing each finding, masked.
    """
    text, described = _read(source)
    extra = [s for s in secrets if s and len(s) >= 6]
    findings = find_secrets(text, extra)
    if findings:
        listing = "; ".join(str(f) for f in findings[:10])
        more = f" (and {len(findings) - 10} more)" if len(findings) > 10 else ""
        raise AssertionError(f"secret(s) found in {what or described}: {listing}{more}")


__all__ = ["Finding", "assert_no_secrets", "find_secrets"]

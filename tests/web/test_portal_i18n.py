"""Every English string the portal shows has its French text."""

from __future__ import annotations

import re
from pathlib import Path

import web_helpers  # noqa: F401  (skips the module without the web extra)

from paygate.web import i18n

WEB = Path(i18n.__file__).parent


def shown_strings() -> set[str]:
    found: set[str] = set()
    for template in (WEB / "templates").glob("*.html"):
        text = template.read_text()
        found |= set(re.findall(r'_\("((?:[^"\\]|\\.)*)"', text))
        found |= set(re.findall(r"_\('((?:[^'\\]|\\.)*)'", text))
    source = (WEB / "portal.py").read_text()
    # titles and texts of the message pages, flash messages, document types
    for title, text in re.findall(
        r'_message\(\s*page,\s*\d+,\s*"([^"]+)",\s*"([^"]+)"', source.replace("\n", " ")
    ):
        found |= {title, text}
    for block in ("_DONE", "_DOC_TYPES"):
        body = source.split(f"{block} = {{", 1)[1].split("}", 1)[0]
        found |= set(re.findall(r':\s*"([^"]+)"', body))
    return found


def test_every_shown_string_has_french() -> None:
    strings = shown_strings()
    assert len(strings) > 60  # the extraction found the pages' strings
    missing = sorted(s for s in strings if s not in i18n.FR)
    assert missing == []


def test_negotiation() -> None:
    assert i18n.negotiate("fr-CA,fr;q=0.9,en;q=0.8") == "fr"
    assert i18n.negotiate("de-DE,de;q=0.9,en;q=0.5,fr;q=0.4") == "en"
    assert i18n.negotiate("de-DE,fr;q=0.7,en;q=0.5") == "fr"
    assert i18n.negotiate("en;q=0.2,fr;q=0.9") == "fr"
    assert i18n.negotiate("fr", chosen="en") == "en"
    assert i18n.negotiate("fr", chosen="xx") == "fr"
    assert i18n.negotiate(None) == "en"
    assert i18n.negotiate("garbage;;;q=abc,,") == "en"

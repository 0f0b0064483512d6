"""Every hook in hookspecs.py is documented in docs/hooks.md and used by a test.

The page's signature line is compared with the code, so a changed hook
cannot keep a stale entry.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from paygate import hookspecs
from paygate._markers import PROJECT

ROOT = Path(__file__).resolve().parents[2]
HOOKS_PAGE = ROOT / "docs" / "hooks.md"
HOOKS = sorted(hookspecs._all_hooks())
SECTIONS = ("**Call mode:**", "**Arguments**", "**Returns**", "**Example**")


def _sections() -> dict[str, str]:
    text = HOOKS_PAGE.read_text()
    parts = re.split(r"^### `(paygate_\w+)`\s*$", text, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def _signature(name: str) -> str:
    fn = hookspecs._all_hooks()[name]
    return f"def {name}{inspect.signature(fn)}".replace("'", "")


def _test_sources() -> dict[Path, str]:
    me = Path(__file__).resolve()
    files = [
        *ROOT.glob("tests/**/test_*.py"),
        *ROOT.glob("plugins/*/tests/**/*.py"),
        ROOT / "src" / "paygate" / "testing" / "conformance.py",
    ]
    return {p: p.read_text() for p in files if p.resolve() != me}


def test_the_page_documents_only_real_hooks() -> None:
    unknown = sorted(set(_sections()) - set(HOOKS))
    assert not unknown, f"docs/hooks.md documents hooks that do not exist: {unknown}"


@pytest.mark.parametrize("name", HOOKS)
def test_hook_has_a_complete_docs_entry(name: str) -> None:
    section = _sections().get(name)
    assert section is not None, f"docs/hooks.md has no '### `{name}`' entry"
    assert _signature(name) in section, f"signature of {name} differs from hookspecs.py"
    missing = [s for s in SECTIONS if s not in section]
    assert not missing, f"{name}: missing {missing}"
    assert "```python" in section.split("**Example**", 1)[1], f"{name}: no example code"
    opts = getattr(hookspecs._all_hooks()[name], f"{PROJECT}_spec")
    mode = section.split("**Call mode:**", 1)[1].split("\n", 1)[0]
    if opts["historic"]:
        assert "historic" in mode, f"{name} is historic"
    elif opts["firstresult"]:
        assert "firstresult" in mode, f"{name} is firstresult"
    else:
        assert "collected" in mode, f"{name} is collected"
    if name in hookspecs.OPERATION_HOOKS or name in hookspecs.ROUTED_COLLECT_HOOKS:
        assert "routed" in mode, f"{name} is routed to one provider"


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_mentioned_by_a_test(name: str) -> None:
    users = [p for p, text in _test_sources().items() if name in text]
    assert users, f"no test mentions {name}"

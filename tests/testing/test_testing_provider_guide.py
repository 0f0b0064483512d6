"""docs/writing-a-provider.md is enough to write a plugin that passes the kit.

* every ``tinygate/plugin.py`` block of the guide is the example plugin's own
  code, and together they show every function of it; the guide's
  conformance block is the example's test file;
* a plugin scaffolded with the command the guide gives, completed with the
  guide's blocks only (each stub replaced by the guide's method of that
  name, the guide's module code added), passes the kit in a child pytest,
  with TinyGate's local server (the gateway, not plugin code) beside it.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from paygate.cli.new_plugin import render_plugin

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "writing-a-provider.md"
EXAMPLE = ROOT / "docs" / "examples" / "paygate-tinygate"
PLUGIN = EXAMPLE / "src" / "paygate_tinygate" / "plugin.py"


def blocks(title: str) -> list[str]:
    pattern = rf'```python title="{re.escape(title)}"\n(.*?)```'
    return re.findall(pattern, GUIDE.read_text(), flags=re.DOTALL)


def test_the_guides_plugin_blocks_are_the_examples_code() -> None:
    source = PLUGIN.read_text()
    shown = blocks("tinygate/plugin.py")
    assert len(shown) >= 10
    for block in shown:
        assert block in source, f"not the example's code:\n{block[:300]}"
    defined = {
        node.name for node in ast.walk(ast.parse(source)) if isinstance(node, ast.FunctionDef)
    }
    in_guide = {name for block in shown for name in re.findall(r"def (\w+)\(", block)}
    assert defined - in_guide == set(), "functions the guide never shows"


def test_the_guides_conformance_block_is_the_examples_test() -> None:
    (block,) = blocks("tinygate/tests/test_tinygate_conformance.py")
    assert block == (EXAMPLE / "tests" / "test_tinygate_conformance.py").read_text()


def _scaffold_command() -> list[str]:
    found = re.search(r"\$ paygate new-plugin (tinygate[^\n#]*)", GUIDE.read_text())
    assert found, "the guide gives no new-plugin command"
    return found.group(1).split()


def complete(scaffold: str, shown: list[str]) -> str:
    """The scaffold's plugin.py with the guide's blocks in: module code after
    ``from __future__``, each class member replacing the stub of its name."""
    members = [b for b in shown if b.startswith("    ")]
    module = [
        b.replace("from __future__ import annotations\n", "") for b in shown if b not in members
    ]
    tree = ast.parse(scaffold)
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    replaced = {name for block in members for name in re.findall(r"^    def (\w+)\(", block, re.M)}
    lines = scaffold.splitlines(keepends=True)
    drop: set[int] = set()
    for node in cls.body:
        if isinstance(node, ast.FunctionDef) and node.name in replaced:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            drop.update(range(first - 1, node.end_lineno or node.lineno))
    kept = "".join(line for i, line in enumerate(lines) if i not in drop)
    head, tail = kept.split("from __future__ import annotations\n", 1)
    return (
        head
        + "from __future__ import annotations\n"
        + "\n".join(module)
        + tail.rstrip()
        + "\n\n"
        + "\n".join(members)
    )


@pytest.mark.slow
def test_a_scaffold_completed_from_the_guide_passes_the_kit(tmp_path: Path) -> None:
    command = _scaffold_command()
    name, options = command[0], command[1:]
    capabilities = [
        options[i + 1] for i, opt in enumerate(options) if opt in ("-c", "--capability")
    ]
    project = tmp_path / f"paygate-{name}"
    render_plugin(name, project, capabilities)
    package = project / "src" / f"paygate_{name}"
    plugin = package / "plugin.py"
    stubs = set(re.findall(r"def (paygate_\w+)\(", plugin.read_text()))
    completed = complete(plugin.read_text(), blocks("tinygate/plugin.py"))
    assert "NotImplementedError" not in completed
    assert stubs <= set(re.findall(r"def (paygate_\w+)\(", completed))
    plugin.write_text(completed)
    # The gateway itself (TinyGate's server and price list) is not plugin code.
    shutil.copy(EXAMPLE / "src" / "paygate_tinygate" / "server.py", package / "server.py")
    shutil.copy(EXAMPLE / "src" / "paygate_tinygate" / "fees.json", package / "fees.json")
    (conformance,) = blocks("tinygate/tests/test_tinygate_conformance.py")
    cls = re.search(r"^class (\w+)", plugin.read_text(), re.M)
    assert cls is not None
    test = project / "tests" / f"test_{name}_conformance.py"
    test.write_text(
        conformance
        + "\n\n# harness: register the scaffolded class without installing it\n"
        + f"from paygate_{name}.plugin import {cls.group(1)}\n"
        + "TestTinyGate.load_entrypoints = False\n"
        + f"TestTinyGate.extra_plugins = lambda self: [{cls.group(1)}()]\n"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = str(project / "src")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", "tests"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    # The kit's checks ran, not merely skipped: at least 30 of them passed
    # (the kit grows; a scaffold whose hooks were left as stubs passes none).
    passed = re.search(r"\b(\d+) passed", proc.stdout)
    assert passed is not None and int(passed.group(1)) >= 30, proc.stdout[-2000:]

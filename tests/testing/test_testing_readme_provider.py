"""README's "A provider plugin" passes the conformance kit, as written.

The two code blocks of that section are written out as they stand (the
plugin as ``my_gateway/plugin.py``, the conformance class as its test file)
and the kit runs in a child pytest against TinyGate's local server (the
gateway whose API the README's plugin speaks). The harness adds only what
an installed plugin would not need: the ``mygateway_server`` fixture, and
registering the class without installing it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TINYGATE_SRC = ROOT / "docs" / "examples" / "paygate-tinygate" / "src"

pytestmark = pytest.mark.slow

HARNESS = textwrap.dedent(
    """
    import pytest
    from paygate_tinygate.server import start_server


    @pytest.fixture(scope="session")
    def mygateway_server():
        server = start_server(max_seconds=300)
        try:
            yield server
        finally:
            server.stop()
    """
)

REGISTER = textwrap.dedent(
    """

    # harness: register the README's class without installing a distribution
    from my_gateway.plugin import MyGateway

    TestMyGateway.load_entrypoints = False
    TestMyGateway.extra_plugins = lambda self: [MyGateway()]
    """
)


def readme_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## A provider plugin", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def test_the_readme_provider_passes_the_kit(tmp_path: Path) -> None:
    plugin, conformance = readme_blocks()
    assert len(plugin.splitlines()) <= 60, "the README promises about 50 lines"
    (tmp_path / "my_gateway").mkdir()
    (tmp_path / "my_gateway" / "__init__.py").write_text("")
    (tmp_path / "my_gateway" / "plugin.py").write_text(plugin)
    (tmp_path / "conftest.py").write_text(HARNESS)
    (tmp_path / "test_mygateway_conformance.py").write_text(conformance + REGISTER)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(TINYGATE_SRC)])
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert re.search(r"\b2\d passed", proc.stdout), proc.stdout[-2000:]
    # Every skip is a capability it does not claim: no silent gap.
    skips = [line for line in proc.stdout.splitlines() if line.startswith("SKIPPED")]
    unexplained = [
        line
        for line in skips
        if not re.search(r"does not claim|claims neither|invalid_amounts\(\) lists none", line)
    ]
    assert not unexplained, unexplained

"""The example plugin and a freshly scaffolded plugin install and run the suite.

Each is installed (not editable) into a throwaway virtualenv layered on the
project's environment, so the shared environment never sees them, then its
own conformance test runs with that virtualenv's python: the example must
pass, the scaffold must fail and list what is left to implement.
"""

from __future__ import annotations

import json
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from paygate.cli.new_plugin import render_plugin

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "paygate-tinygate"

pytestmark = pytest.mark.slow


def _venv(tmp: Path) -> Path:
    """A virtualenv that also sees this environment's packages (paygate, pytest, pip)."""
    target = tmp / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(target)], check=True, timeout=60
    )
    python = target / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout.strip()
    ours = [sysconfig.get_paths()["purelib"], *site.getsitepackages()]
    # addsitedir (not a bare path) so the editable installs' own .pth files run too.
    lines = [f"import site; site.addsitedir({p!r})" for p in dict.fromkeys(ours)]
    (Path(purelib) / "_paygate_parent_env.pth").write_text("\n".join(lines) + "\n")
    return python


def _install(python: Path, source: Path, tmp: Path) -> Path:
    copy = tmp / source.name
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--disable-pip-version-check",
            str(copy),
        ],
        check=True,
        timeout=120,
        capture_output=True,
    )
    return copy


def _plugins(python: Path) -> list[str]:
    out = subprocess.run(
        [
            str(python),
            "-c",
            "import sys; from paygate.cli import main; "
            "sys.argv = ['paygate', 'plugins', '--json']; main()",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    rows = data["plugins"] if isinstance(data, dict) else data
    return [row["name"] for row in rows]


def _pytest(python: Path, project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_example_plugin_installs_is_listed_and_passes(tmp_path: Path) -> None:
    python = _venv(tmp_path)
    project = _install(python, EXAMPLE, tmp_path)
    assert "tinygate" in _plugins(python)
    result = _pytest(python, project)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout
    # Installed in the throwaway environment only.
    from importlib.metadata import entry_points

    assert "tinygate" not in {ep.name for ep in entry_points(group="paygate")}


def test_scaffolded_plugin_installs_is_listed_and_lists_what_is_left(tmp_path: Path) -> None:
    python = _venv(tmp_path)
    render_plugin("acme-pay", tmp_path / "scaffold" / "paygate-acme-pay")
    project = _install(python, tmp_path / "scaffold" / "paygate-acme-pay", tmp_path)
    assert "acme-pay" in _plugins(python)
    result = _pytest(python, project)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    summary = result.stdout.split("paygate: left to implement", 1)
    assert len(summary) == 2, result.stdout[-3000:]
    left = summary[1]
    assert "paygate_authorize: raises NotImplementedError" in left, left
    stubs = next(line for line in left.splitlines() if line.startswith("acme-pay: "))
    # Only the claimed capabilities' hooks, and fetch_transaction (reconcile).
    assert stubs.startswith("acme-pay: 5 hook(s) still raise NotImplementedError: "), stubs
    for hook in (
        "paygate_authorize",
        "paygate_capture",
        "paygate_void",
        "paygate_refund",
        "paygate_fetch_transaction",
    ):
        assert hook in stubs, stubs
    # What it does not claim is refused by the core: those tests already pass.
    assert "passed" in result.stdout

"""Print pip constraints pinning every direct dependency to its declared lower bound.

CI installs the core and the bundled plugins with these constraints
(``pip install -c``) in a separate venv and runs the suites there, so a lower
bound in a ``pyproject.toml`` is a version that was tested, not a guess.
Usage: ``python .ci/lowest_constraints.py > constraints-lowest.txt`` (or
``--output FILE``, for tox).
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECTS = [ROOT, *sorted((ROOT / "plugins").glob("paygate-*"))]
# Extras whose dependencies the lowest-versions run installs too.
EXTRAS = ("postgres", "test", "demo")
_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[([^\]]*)\])?\s*(.*)$")


def lower_bounds() -> dict[str, str]:
    pins: dict[str, str] = {}
    for project in PROJECTS:
        meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
        reqs = list(meta.get("dependencies", []))
        for extra in EXTRAS:
            reqs += meta.get("optional-dependencies", {}).get(extra, [])
        for req in reqs:
            match = _REQ.match(req.split(";")[0])
            if match is None:
                continue
            name = match.group(1).lower().replace("_", "-")
            if name.startswith("paygate"):
                continue  # our own distributions: installed from this checkout
            bound = re.search(r">=\s*([0-9][^,\s]*)", match.group(3))
            if bound is None:
                continue
            pinned = pins.get(name)
            # Two projects naming one dependency: the higher lower bound wins.
            if pinned is None or _key(bound.group(1)) > _key(pinned):
                pins[name] = bound.group(1)
            if name == "psycopg" and "binary" in (match.group(2) or ""):
                pins["psycopg-binary"] = pins[name]
    return pins


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"[0-9]+", version))


def main(argv: list[str]) -> int:
    lines = [f"{name}=={version}\n" for name, version in sorted(lower_bounds().items())]
    if len(argv) == 2 and argv[0] == "--output":
        Path(argv[1]).write_text("".join(lines))
    else:
        sys.stdout.write("".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

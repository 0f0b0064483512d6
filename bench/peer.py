"""The peer, side by side: django-payments on the same stub and SQLite settings.

Both libraries are measured against their own bare SDK call in the same
process, interleaved (:mod:`bench.peer_child`); the figure is what each adds
per payment, and the ratio of the two. Goal: paygate adds at most a tenth of
what the peer adds. django-payments is a bench-only extra
(``pip install -e .[bench]``); without it the figure is skipped.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

from bench.harness import Figure, skipped
from bench.settings import Settings
from bench.stub_stripe import REPO_ROOT, StubStripe

GOAL = 0.10
UNIT = "µs added"


def _name(rows: int) -> str:
    return f"Peer: added cost vs django-payments, {rows:,} rows"


def _missing() -> str | None:
    for module, dist in (
        ("payments", "django-payments"),
        ("django", "Django"),
        ("stripe", "stripe"),
        ("paygate_stripe", "paygate-stripe"),
    ):
        if importlib.util.find_spec(module) is None:
            return f"{dist} is not installed (pip install -e '.[bench]')"
    return None


def peer(settings: Settings) -> list[Figure]:
    goal = f"ratio <= {GOAL:.2f}"
    missing = _missing()
    if missing:
        return [skipped(_name(r), UNIT, goal, missing) for r in settings.peer_rows]
    workdir = settings.workdir / "peer"
    workdir.mkdir(exist_ok=True)
    budget = 600 + 6 * settings.peer_seconds * len(settings.peer_rows)
    with StubStripe(max_seconds=budget) as stub:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.peer_child",
                "--stub-url",
                stub.url,
                "--workdir",
                str(workdir),
                "--rows",
                ",".join(str(r) for r in settings.peer_rows),
                "--seconds",
                str(settings.peer_seconds),
            ],
            capture_output=True,
            text=True,
            check=True,
            cwd=str(REPO_ROOT),
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            timeout=budget,
        )
    data = json.loads(done.stdout.strip().splitlines()[-1])
    out = []
    for r in data["results"]:
        ours = (r["paygate_ms"] - r["paygate_raw_ms"]) * 1000
        theirs = (r["peer_ms"] - r["peer_raw_ms"]) * 1000
        ratio = ours / theirs if theirs > 0 else float("inf")
        out.append(
            Figure(
                name=_name(r["rows"]),
                unit=UNIT,
                paygate=ours,
                baseline=theirs,
                ratio=ratio,
                goal=goal,
                passed=ratio <= GOAL,
                samples=r["samples"],
                note=(
                    f"paygate-stripe + SQLite ledger {r['paygate_ms']:.3f} ms over its "
                    f"PaymentIntent {r['paygate_raw_ms']:.3f} ms "
                    f"({r['paygate_ms'] / r['paygate_raw_ms']:.2f}x); "
                    f"django-payments {r['peer_ms']:.3f} ms over its Checkout Session "
                    f"{r['peer_raw_ms']:.3f} ms ({r['peer_ms'] / r['peer_raw_ms']:.2f}x); "
                    f"both SQLite files {data['django_pragmas']}"
                ),
                extra={**r, "pragmas": data["pragmas"], "django_pragmas": data["django_pragmas"]},
            )
        )
    return out

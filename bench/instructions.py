"""Instructions per payment under callgrind: immune to the machine's load.

A wall-clock ratio on a shared 2-vCPU machine moves with the neighbours; an
instruction count does not. paygate-stripe's instructions per payment are
compared with the bare SDK call's (the one ``payment_intents.create`` it
makes, on the plugin's own client). The payments run in a child under
``valgrind --tool=callgrind``; only the steady-state payments are counted
(client requests zero and dump the counters around them, see
:mod:`bench.valgrind_requests`). The stub server runs outside valgrind.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.harness import Figure, skipped
from bench.settings import Settings
from bench.stub_stripe import REPO_ROOT, StubStripe
from bench.valgrind_requests import requests_available

GOALS = {"memory": 0.10, "sqlite": 0.20}
WARMUP = 50
NAMES = {
    "memory": "Instructions per payment, memory ledger",
    "sqlite": "Instructions per payment, SQLite ledger",
}
UNIT = "M instr"
_TRIGGER = re.compile(r"^desc: Trigger: Client Request: (\S+)", re.M)
_SUMMARY = re.compile(r"^summary: (\d+)", re.M)


def _goal(side: str) -> str:
    return f"added <= +{GOALS[side] * 100:.0f} %"


def _all_skipped(reason: str) -> list[Figure]:
    return [skipped(NAMES[s], UNIT, _goal(s), reason) for s in GOALS]


def read_dumps(directory: Path, prefix: str) -> dict[str, int]:
    """``{label: instructions}`` of the dumps callgrind wrote on client request."""
    counts: dict[str, int] = {}
    for path in sorted(directory.glob(f"{prefix}.*")):
        text = path.read_text(errors="replace")
        trigger, summary = _TRIGGER.search(text), _SUMMARY.search(text)
        if trigger and summary:
            counts[trigger.group(1)] = int(summary.group(1))
    return counts


def _run_child(
    settings: Settings, extra: list[str], *, valgrind: str | None
) -> tuple[dict[str, Any], dict[str, int]]:
    outdir = settings.workdir / "callgrind"
    outdir.mkdir(exist_ok=True)
    prefix = f"cg-{len(list(outdir.iterdir()))}"
    cmd = [sys.executable, "-m", "bench.instructions_child", "--workdir", str(settings.workdir)]
    if valgrind:
        cmd = [
            valgrind,
            "--tool=callgrind",
            f"--callgrind-out-file={outdir / prefix}.%p",
            *cmd,
        ]
    done = subprocess.run(
        [*cmd, *extra],
        capture_output=True,
        text=True,
        check=True,
        cwd=str(REPO_ROOT),
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        timeout=1800,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return report, read_dumps(outdir, prefix) if valgrind else {}


def instructions(settings: Settings) -> list[Figure]:
    why = requests_available()
    if why:
        return _all_skipped(why)
    valgrind = shutil.which("valgrind")
    if not valgrind:
        return _all_skipped("valgrind is not installed (Debian: apt-get install valgrind)")
    try:
        import stripe  # noqa: F401
        from paygate_stripe.plugin import StripeProvider  # noqa: F401
    except ImportError as exc:
        return _all_skipped(f"paygate-stripe not installed ({exc})")
    if settings.quick:
        return _quick(settings, valgrind)
    n = settings.callgrind_payments
    with StubStripe(max_seconds=1800) as stub:
        report, counts = _run_child(
            settings,
            ["--stub-url", stub.url, "--payments", str(n), "--warmup", str(WARMUP)],
            valgrind=valgrind,
        )
    if not report["on_valgrind"] or set(counts) != {"sdk", "memory", "sqlite", "hand"}:
        raise RuntimeError(f"callgrind wrote no usable dumps: {report}, {counts}")
    sdk = counts["sdk"] / n
    hand = counts["hand"] / n
    out = []
    for side, goal in GOALS.items():
        per = counts[side] / n
        added = per / sdk - 1
        out.append(
            Figure(
                name=NAMES[side],
                unit=UNIT,
                paygate=per / 1e6,
                baseline=sdk / 1e6,
                ratio=per / sdk,
                goal=_goal(side),
                passed=added <= goal,
                samples=n,
                note=(
                    f"+{(per - sdk) / 1e6:.2f}M instructions (+{added * 100:.1f} %) per "
                    f"payment over the bare SDK call; callgrind, {n} payments per side "
                    f"after {WARMUP} warm-up"
                    + (
                        f"; the hand-wired durable baseline is {hand / 1e6:.3f}M "
                        f"(+{(hand / sdk - 1) * 100:.1f} %): paygate is "
                        f"{per / hand:.3f}x it"
                        if side == "sqlite"
                        else ""
                    )
                ),
                extra={"instructions": per, "sdk_instructions": sdk, "hand_instructions": hand},
            )
        )
    return out


def _quick(settings: Settings, valgrind: str) -> list[Figure]:
    """Quick mode: the counting path under valgrind on two plain loops, and the
    payments of every side once outside it (the imports alone under valgrind
    take ~20 s)."""
    report, counts = _run_child(
        settings, ["--selftest", "--payments", "20", "--warmup", "2"], valgrind=valgrind
    )
    if not report["on_valgrind"] or set(counts) != {"loop100", "loop200"}:
        raise RuntimeError(f"callgrind self-test wrote no usable dumps: {report}, {counts}")
    if not counts["loop100"] < counts["loop200"]:
        raise RuntimeError(f"callgrind self-test counted nonsense: {counts}")
    with StubStripe(max_seconds=120) as stub:
        report, _ = _run_child(
            settings,
            ["--stub-url", stub.url, "--payments", "2", "--warmup", "1"],
            valgrind=None,
        )
    if report["sides"] != ["sdk", "memory", "sqlite", "hand"]:
        raise RuntimeError(f"instructions child ran {report}")
    reason = (
        "quick mode: callgrind counted a self-test "
        f"({counts['loop100']:,} and {counts['loop200']:,} instructions for 20 loops of "
        "100 and 200 additions); the payments ran outside valgrind"
    )
    return _all_skipped(reason)

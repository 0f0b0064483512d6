"""``python -m bench [--quick] [--json PATH] [--only NAME,...] [--check]``.

Prints one table (figure, paygate, baseline, ratio, goal, pass/fail) and
writes the same as JSON. The exit status is 0 unless a benchmark crashed; with
``--check`` (full mode only) a missed goal exits 1 too. Quick mode never
judges: it runs each figure for about a second so that CI notices when the
suite itself breaks.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from bench.figures import FIGURES
from bench.harness import Figure, machine
from bench.settings import Settings, fresh_env


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3f}"


def table(figures: list[Figure]) -> str:
    head = ("figure", "unit", "paygate", "baseline", "ratio", "goal", "result")
    rows = [head]
    for f in figures:
        if f.skipped:
            result = "skipped"
        elif f.passed is None:
            result = "-"
        else:
            result = "pass" if f.passed else "FAIL"
        rows.append(
            (
                f.name,
                f.unit,
                _fmt(f.paygate),
                _fmt(f.baseline),
                "-" if f.ratio is None else f"{f.ratio:.3f}",
                f.goal,
                result,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = []
    for n, row in enumerate(rows):
        lines.append(
            "  ".join(
                cell.ljust(w) if i in (0, 1, 5, 6) else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    notes = [f"  {f.name}: {f.skipped or f.note}" for f in figures if f.skipped or f.note]
    return "\n".join([*lines, "", "notes:", *notes])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="about a second per figure, no judging"
    )
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON here")
    parser.add_argument(
        "--only", metavar="NAMES", help=f"comma list of figures to run: {','.join(FIGURES)}"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args(argv)
    selected = list(FIGURES) if not args.only else [n.strip() for n in args.only.split(",")]
    unknown = [n for n in selected if n not in FIGURES]
    if unknown:
        parser.error(f"unknown figure(s) {unknown}; known: {list(FIGURES)}")

    fresh_env()
    info = machine()
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    figures: list[Figure] = []
    crashed: list[str] = []
    mode = "quick" if args.quick else "full"
    print(
        f"paygate benchmarks ({mode}) on {info['cpu']}, {info['cpus']} CPUs, "
        f"Python {info['python']}, load {info['loadavg_at_start']}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="paygate-bench-") as tmp:
        settings = Settings(quick=args.quick, workdir=Path(tmp))
        for name in selected:
            t1 = time.perf_counter()
            try:
                got = FIGURES[name](settings)
            except Exception:
                crashed.append(name)
                traceback.print_exc()
                continue
            figures.extend(got)
            for f in got:
                shown = (
                    "skipped: " + f.skipped
                    if f.skipped
                    else (
                        f"{_fmt(f.paygate)} {f.unit}"
                        + ("" if f.ratio is None else f", ratio {f.ratio:.3f}")
                    )
                )
                print(f"  {f.name}: {shown} ({time.perf_counter() - t1:.1f} s)", flush=True)
    print()
    print(table(figures))
    judged = [f for f in figures if f.passed is not None]
    all_passed = bool(judged) and all(f.passed for f in judged) and not crashed
    result = {
        "mode": mode,
        "started_at": started.isoformat(),
        "duration_s": round(time.perf_counter() - t0, 1),
        "machine": info,
        "figures": [f.as_dict() for f in figures],
        "crashed": crashed,
        "all_passed": all_passed,
    }
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
        print(f"\nJSON written to {path}")
    if crashed:
        print(f"\ncrashed: {', '.join(crashed)}")
        return 2
    if args.check and not args.quick and not all_passed:
        return 1
    return 0

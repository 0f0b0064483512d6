"""Timing helpers, the result record and the machine description."""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Figure:
    """One row of the table.

    ``ratio`` is always oriented so that the goal is ``ratio <= goal_ratio``
    (for a rate, ``goal / measured``), which keeps the pass/fail rule one line.
    """

    name: str
    unit: str
    paygate: float | None
    baseline: float | None
    ratio: float | None
    goal: str
    passed: bool | None
    note: str = ""
    samples: int = 0
    skipped: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def skipped(name: str, unit: str, goal: str, reason: str) -> Figure:
    return Figure(name, unit, None, None, None, goal, None, skipped=reason)


def interleaved(
    a: Callable[[], object],
    b: Callable[[], object],
    *others: Callable[[], object],
    seconds: float,
    batch: int = 20,
    min_rounds: int = 4,
) -> tuple[list[float], ...]:
    """Per-call times (seconds) of ``a``, ``b`` (and any ``others``), run in
    alternating batches.

    Each round starts one place further along (AB, BA, ... or ABC, BCA,
    CAB, ...) so that no side always runs right after another's warm caches
    or right before a noisy neighbour wakes up; a drift in machine load then
    hits every side alike.
    """
    fns = (a, b, *others)
    times: tuple[list[float], ...] = tuple([] for _ in fns)
    clock = time.perf_counter
    deadline = clock() + seconds
    rounds = 0
    while rounds < min_rounds or clock() < deadline:
        for i in range(len(fns)):
            k = (rounds + i) % len(fns)
            fn, out = fns[k], times[k]
            for _ in range(batch):
                t0 = clock()
                fn()
                out.append(clock() - t0)
        rounds += 1
    return times


def median(values: list[float]) -> float:
    return statistics.median(values)


def rss_bytes() -> int:
    """Current resident set size of this process (Linux), else peak RSS."""
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "loadavg_at_start": [round(x, 2) for x in load],
    }

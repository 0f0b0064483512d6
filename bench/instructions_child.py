"""Child of the instructions figure: the payments it counts, run under callgrind.

Each side (the bare SDK call, paygate-stripe with the memory ledger, with the
SQLite file ledger, and the hand-wired durable baseline) is warmed up, then
callgrind's counters are zeroed, the side runs ``--payments`` times and the
counters are dumped under the side's name: imports, set-up and warm-up are
never counted. Prints one JSON line.

``--selftest`` counts two plain Python loops instead (quick mode: it proves
the client requests and the dump parsing work without paying for the
imports under valgrind).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
from collections.abc import Callable
from pathlib import Path

from bench import valgrind_requests as vg


def _count(label: str, fn: Callable[[], None], n: int) -> None:
    gc.collect()
    vg.zero_stats()
    for _ in range(n):
        fn()
    vg.dump_stats_at(label)


def _loop(k: int) -> Callable[[], None]:
    def fn() -> None:
        total = 0
        for i in range(k):
            total += i

    return fn


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stub-url", default="")
    parser.add_argument("--workdir", default=".")
    parser.add_argument("--payments", type=int, default=400)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--selftest", action="store_true")
    args = parser.parse_args(argv)
    os.environ.pop("PAYGATE_DATABASE_URL", None)
    os.environ.pop("PAYGATE_CONFIG", None)
    on_valgrind = vg.running_on_valgrind()
    if args.selftest:
        sides: dict[str, Callable[[], None]] = {"loop100": _loop(100), "loop200": _loop(200)}
    else:
        from bench import sides as s

        key = s.api_key()
        memory = s.payments_for(args.stub_url, "memory", key)
        ledger = s.payments_for(args.stub_url, f"sqlite:///{args.workdir}/cg-ledger.sqlite3", key)
        client = s.plugin_client(args.stub_url, key)
        hand = s.HandWiredSQLite(Path(args.workdir) / "cg-hand.sqlite3", s.sqlite_pragmas(ledger))
        sides = {
            "sdk": s.raw_sdk(client),
            "memory": s.paygate_authorize(memory),
            "sqlite": s.paygate_authorize(ledger),
            "hand": hand.payment(client),
        }
    for fn in sides.values():
        for _ in range(args.warmup):
            fn()
    for label, fn in sides.items():
        _count(label, fn, args.payments)
    print(json.dumps({"on_valgrind": on_valgrind, "sides": list(sides), "n": args.payments}))


if __name__ == "__main__":
    main()

"""Where paygate-stripe's instructions per payment go, layer by layer.

``python -m bench.layers [--payments N]`` starts the stub, then itself under
``valgrind --tool=callgrind --collect-atstart=no`` and prints a table. It is
the profile behind docs/performance.md's account of the instruction figures,
not a figure itself (it is not load-immune to its own wrappers: each layer's
functions are wrapped so that callgrind collects only while one of them runs,
which costs ~14k instructions per wrapped call: the ``wrapper`` pass measures
that and it is taken out of each layer, per outermost wrapped call).

One pass per layer: the layer's functions are wrapped (outermost call only),
the counters zeroed, N payments run, the counters dumped. Exclusive layers
are differences of inclusive ones:

* facade: ``Payments.authorize`` minus ``Payments._execute`` (argument
  checks, method validation, routing, the request model, ids);
* hook machinery and the ledger wrapper's own code: the routed hook call
  minus the provider's impl, the ledger store and the result records;
* ledger store: ``begin`` + ``finish`` of the ledger (SQL, row building,
  the transaction's JSON); its ``sqlite3`` C share comes from callgrind's
  own function costs;
* result records and redaction: ``result_record``, ``clean_transaction``,
  ``request_summary`` (builtins.ledger);
* Stripe plugin: its ``paygate_authorize`` minus the SDK call (parameters,
  mapping the PaymentIntent to a ``ProviderResult``);
* SDK: ``PaymentIntentService.create`` inside the plugin.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import valgrind_requests as vg

_TOGGLE = (ord("C") << 24) | (ord("T") << 16) | 2


def _toggle() -> None:
    vg._request(_TOGGLE)


class _Depth:
    n = 0
    #: Outermost calls, to take the wrapper's own cost out of a layer.
    calls = 0


def _collecting(fn: Callable[..., Any], depth: _Depth) -> Callable[..., Any]:
    @functools.wraps(fn)
    def inner(*args: Any, **kwargs: Any) -> Any:
        depth.n += 1
        if depth.n == 1:
            depth.calls += 1
            _toggle()
        try:
            return fn(*args, **kwargs)
        finally:
            depth.n -= 1
            if depth.n == 0:
                _toggle()

    return inner


@contextmanager
def _wrapped(targets: list[tuple[Any, str]], depth: _Depth) -> Iterator[None]:
    saved = []
    for owner, attr in targets:
        original = owner.__dict__[attr] if isinstance(owner, type) else getattr(owner, attr)
        saved.append((owner, attr, original))
        fn = original.__func__ if isinstance(original, staticmethod) else original
        wrapped = _collecting(fn, depth)
        setattr(
            owner, attr, staticmethod(wrapped) if isinstance(original, staticmethod) else wrapped
        )
    try:
        yield
    finally:
        for owner, attr, original in reversed(saved):
            setattr(owner, attr, original)


def child(stub_url: str, workdir: str, n: int, ledger: str) -> None:
    import stripe

    import paygate.builtins.ledger as builtin_ledger
    from bench import sides
    from paygate.payments import Payments

    key = sides.api_key()
    db = "memory" if ledger == "memory" else f"sqlite:///{workdir}/layers.sqlite3"
    payments = sides.payments_for(stub_url, db, key)
    pay = sides.paygate_authorize(payments)
    raw = sides.raw_sdk(sides.plugin_client(stub_url, key))
    for _ in range(50):
        pay()
        raw()
    store = payments.ledger
    impl = next(
        i
        for i in payments.plugin_manager.hook.paygate_authorize.get_hookimpls()
        if i.plugin_name == "stripe"
    )
    pm = payments.plugin_manager
    routed = pm.routed
    passes: dict[str, list[tuple[Any, str]]] = {
        "wrapper": [],
        "total": [(Payments, "authorize")],
        "execute": [(Payments, "_execute")],
        "store": [(type(store), "begin"), (type(store), "finish")],
        "records": [
            (builtin_ledger, "result_record"),
            (builtin_ledger, "clean_transaction"),
            (builtin_ledger, "request_summary"),
        ],
        # The provider's impl as pluggy holds it.
        "provider": [(impl, "function")],
        "sdk": [(stripe.PaymentIntentService, "create")],
    }
    calls: dict[str, float] = {}
    for label, targets in passes.items():
        depth = _Depth()
        with _wrapped(targets, depth):
            gc.collect()
            vg.zero_stats()
            if label == "wrapper":
                probe = _collecting(lambda: None, depth)
                for _ in range(n):
                    probe()
            else:
                for _ in range(n):
                    pay()
            vg.dump_stats_at(label)
        calls[label] = depth.calls / n
    # The routed hook call (pluggy, every wrapper impl, the provider).
    depth = _Depth()

    def routed_collecting(hook_name: str, provider: str) -> Any:
        return _collecting(routed(hook_name, provider), depth)

    pm.routed = routed_collecting
    gc.collect()
    vg.zero_stats()
    for _ in range(n):
        pay()
    vg.dump_stats_at("hook")
    calls["hook"] = depth.calls / n
    del pm.routed
    # The bare SDK call on the same client, all of it collected.
    _toggle()
    gc.collect()
    vg.zero_stats()
    for _ in range(n):
        raw()
    vg.dump_stats_at("bare_sdk")
    _toggle()
    payments.close()
    print(json.dumps({"on_valgrind": vg.running_on_valgrind(), "n": n, "calls": calls}))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--payments", type=int, default=200)
    parser.add_argument("--ledger", choices=("sqlite", "memory"), default="sqlite")
    parser.add_argument("--child", metavar="STUB_URL")
    parser.add_argument("--workdir")
    parser.add_argument("--keep", metavar="DIR", help="keep callgrind's dumps here")
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.workdir, args.payments, args.ledger)
        return
    from bench.instructions import read_dumps
    from bench.stub_stripe import REPO_ROOT, StubStripe

    valgrind = shutil.which("valgrind")
    if not valgrind:
        raise SystemExit("valgrind is not installed")
    with tempfile.TemporaryDirectory(prefix="paygate-layers-") as tmp, StubStripe(1800) as stub:
        out = Path(args.keep or tmp)
        out.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [
                valgrind,
                "--tool=callgrind",
                "--collect-atstart=no",
                f"--callgrind-out-file={out}/layers.%p",
                sys.executable,
                "-m",
                "bench.layers",
                "--child",
                stub.url,
                "--workdir",
                tmp,
                "--payments",
                str(args.payments),
                "--ledger",
                args.ledger,
            ],
            check=True,
            cwd=str(REPO_ROOT),
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            stderr=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
        )
        calls = json.loads(done.stdout.strip().splitlines()[-1])["calls"]
        raw = {k: v / args.payments for k, v in read_dumps(out, "layers").items()}
    # Each outermost wrapped call adds the wrapper's own collected cost.
    w = raw["wrapper"]
    c = {k: v - w * calls.get(k, 0) for k, v in raw.items()}
    c["wrapper"] = w
    rows = [
        ("facade: checks, validation, routing, request", c["total"] - c["execute"]),
        ("_execute around the hook call", c["execute"] - c["hook"]),
        (
            "pluggy + ledger wrapper's own code",
            c["hook"] - c["provider"] - c["store"] - c["records"],
        ),
        ("ledger store (begin + finish)", c["store"]),
        ("result records, redaction", c["records"]),
        ("Stripe plugin (params, mapping)", c["provider"] - c["sdk"]),
        ("SDK call inside paygate", c["sdk"]),
    ]
    print(f"{args.ledger} ledger, {args.payments} payments per pass (instructions per payment)")
    print(f"{'total Payments.authorize':48} {c['total']:>12,.0f}")
    print(f"{'bare SDK call (same client)':48} {c['bare_sdk']:>12,.0f}")
    print(f"{'added':48} {c['total'] - c['bare_sdk']:>12,.0f}")
    for name, value in rows:
        print(f"  {name:46} {value:>12,.0f}")
    print(f"  {'(one wrapped call costs about)':46} {w:>12,.0f}")
    print(json.dumps({"per_payment": c, "wrapped_calls_per_payment": calls}))


if __name__ == "__main__":
    main()

"""Child process of the memory figure: run N sandbox purchases, report RSS.

A fresh process, so that what the parent benchmark allocated before (stub
server, other figures' ledgers) is not counted. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import time

from bench.harness import rss_bytes

WARMUP = 2_000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ops", type=int, required=True)
    parser.add_argument("--database-url", required=True)
    args = parser.parse_args(argv)
    os.environ.pop("PAYGATE_DATABASE_URL", None)

    from paygate import Card, Money, Payments

    payments = Payments({"database_url": args.database_url})
    card = Card("4242424242424242", 12, 2030, "123")
    amount = Money("10.00", "USD")
    for _ in range(WARMUP):
        payments.purchase(amount, card, provider="sandbox")
    gc.collect()
    before = rss_bytes()
    t0 = time.perf_counter()
    for _ in range(args.ops):
        payments.purchase(amount, card, provider="sandbox")
    seconds = time.perf_counter() - t0
    gc.collect()
    after = rss_bytes()
    sandbox = payments.plugin("sandbox")
    print(
        json.dumps(
            {
                "ops": args.ops,
                "rss_before": before,
                "rss_after": after,
                "seconds": seconds,
                "sandbox_max_kept": sandbox.max_kept,
                "sandbox_payments_kept": len(sandbox._payments),
                "sandbox_idempotency_kept": len(sandbox._idem),
            }
        )
    )
    payments.close()


if __name__ == "__main__":
    main()

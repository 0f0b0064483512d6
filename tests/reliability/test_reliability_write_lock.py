"""The SQLite ledger's process write lock (``paygate.ledger.write_lock``):
mutual exclusion, no waiter left asleep, arrival order."""

from __future__ import annotations

import threading
import time

import pytest

from paygate.ledger.write_lock import WriteLock


def test_one_holder_at_a_time_under_contention() -> None:
    lock = WriteLock()
    inside = 0
    most = 0
    done = 0

    def worker() -> None:
        nonlocal inside, most, done
        for i in range(300):
            with lock:
                inside += 1
                most = max(most, inside)
                if i % 7 == 0:
                    time.sleep(0)  # give the GIL away while holding the lock
                inside -= 1
                done += 1

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert (most, done) == (1, 16 * 300)
    assert not lock.locked()
    assert not lock._waiters  # every waiter left the queue


def test_every_waiter_is_woken_by_releases_not_by_its_recheck(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Waiters queued behind a holder all get the lock once it is released,
    one after the other, long before the safety-net recheck would fire."""
    monkeypatch.setattr("paygate.ledger.write_lock.RECHECK_SECONDS", 30.0)
    lock = WriteLock()
    lock.acquire()
    order: list[int] = []

    def waiter(n: int) -> None:
        with lock:
            order.append(n)

    threads = []
    for n in range(5):
        t = threading.Thread(target=waiter, args=(n,))
        t.start()
        threads.append(t)
        while len(lock._waiters) < n + 1:  # queued in this order
            time.sleep(0.001)
    started = time.monotonic()
    lock.release()
    for t in threads:
        t.join(10)
    assert time.monotonic() - started < 5
    assert order == [0, 1, 2, 3, 4]
    assert not lock.locked() and not lock._waiters


def test_a_woken_waiter_that_loses_the_race_stays_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lock goes to a running thread, not to the waiter being woken; the
    waiter that lost the race waits at the front of the queue again."""
    monkeypatch.setattr("paygate.ledger.write_lock.RECHECK_SECONDS", 30.0)
    lock = WriteLock()
    lock.acquire()
    got: list[str] = []
    first = threading.Thread(target=lambda: (lock.acquire(), got.append("first"), lock.release()))
    first.start()
    while not lock._waiters:
        time.sleep(0.001)
    second = threading.Thread(target=lambda: (lock.acquire(), got.append("second"), lock.release()))
    second.start()
    while len(lock._waiters) < 2:
        time.sleep(0.001)
    # Release and take it again while holding the GIL: "first" is woken but
    # cannot run before this thread blocks, and finds the lock taken.
    lock.release()
    lock.acquire()
    time.sleep(0.05)  # "first" runs, loses, queues again
    assert got == []
    assert len(lock._waiters) == 2
    lock.release()
    first.join(10)
    second.join(10)
    assert got == ["first", "second"]
    assert not lock._waiters


def test_a_waiter_rechecks_on_its_own_if_never_woken(monkeypatch: pytest.MonkeyPatch) -> None:
    """The safety net: a waiter whose wake-up was lost still gets the lock."""
    monkeypatch.setattr("paygate.ledger.write_lock.RECHECK_SECONDS", 0.01)
    lock = WriteLock()
    lock.acquire()
    got = threading.Event()

    def waiter() -> None:
        with lock:
            got.set()

    t = threading.Thread(target=waiter)
    t.start()
    while not lock._waiters:
        time.sleep(0.001)
    lock._waiters.clear()  # as if the wake-up were lost
    lock._held.release()  # released without waking anyone
    assert got.wait(5)
    t.join(5)
    assert not lock.locked()

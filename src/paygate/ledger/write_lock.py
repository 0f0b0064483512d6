"""The process lock in front of SQLite's write lock, taken only by a running thread.

With ``threading.Lock``, a thread blocked in ``acquire`` is given the lock by
the thread that releases it, while it is still asleep: it owns the lock
before it holds the GIL, and then waits for the GIL (up to the switch
interval, 5 ms, behind every other runnable thread) while every other writer
waits for it. With 32 threads that wait was most of a payment's time in the
ledger: 2.9 ms per write on average for 0.2 ms of work (the throughput
figure in ``docs/performance.md``).

Here a release only wakes the first waiter; the lock itself is taken with a
non-blocking ``acquire`` by a thread that runs, so it is never owned by one
that cannot. A woken waiter that finds the lock taken again goes back to the
front of the queue. Waiters wake in arrival order.
"""

from __future__ import annotations

import threading
from collections import deque
from types import TracebackType

#: A waiter looks again this often even if no release woke it (a safety
#: net: every release wakes one waiter).
RECHECK_SECONDS = 0.05


class WriteLock:
    """A mutual-exclusion lock whose owner is always a running thread."""

    def __init__(self) -> None:
        self._held = threading.Lock()
        self._waiters: deque[threading.Lock] = deque()

    def acquire(self) -> None:
        held = self._held
        if held.acquire(blocking=False):
            return
        wake = self._queue(first=False)
        while True:
            if held.acquire(blocking=False):
                self._leave(wake)
                return
            if wake.acquire(timeout=RECHECK_SECONDS):
                # Woken by a release (and out of the queue).
                if held.acquire(blocking=False):
                    return
                # Another running thread took it first: first in line again.
                wake = self._queue(first=True)
            # Timed out: still in the queue with the same ``wake`` (if a
            # release pops it right now, the next wait returns at once).

    def release(self) -> None:
        self._held.release()
        self._wake_one()

    def locked(self) -> bool:
        return self._held.locked()

    def _queue(self, *, first: bool) -> threading.Lock:
        wake = threading.Lock()
        wake.acquire()
        if first:
            self._waiters.appendleft(wake)
        else:
            self._waiters.append(wake)
        return wake

    def _wake_one(self) -> None:
        try:
            wake = self._waiters.popleft()
        except IndexError:
            return
        wake.release()

    def _forget(self, wake: threading.Lock) -> bool:
        """Take ``wake`` out of the queue; ``False`` when a release already
        popped it (it woke this waiter, or is about to)."""
        try:
            self._waiters.remove(wake)
        except ValueError:
            return False
        return True

    def _leave(self, wake: threading.Lock) -> None:
        # The lock was had without waiting for ``wake``: if a release popped
        # it meanwhile, that wake-up was meant for the next waiter.
        if not self._forget(wake):
            self._wake_one()

    def __enter__(self) -> WriteLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


__all__ = ["RECHECK_SECONDS", "WriteLock"]

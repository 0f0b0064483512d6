"""Run localstripe (a fake Stripe server, PyPI ``localstripe``) on 127.0.0.1 for tests.

localstripe's own CLI binds every interface and pickles its state to
``/tmp/localstripe.pickle``; this runner binds 127.0.0.1 on a free port, keeps
the pickle in a directory the caller chooses, and stops by itself after
``max_seconds`` or when its parent process goes away. It runs in a child
process so that localstripe's module-level store and event loop never mix with
the tests' own.

Usage (a pytest fixture)::

    from paygate_stripe.localserver import start_localstripe

    @pytest.fixture(scope="session")
    def localstripe_url(tmp_path_factory):
        server = start_localstripe(tmp_path_factory.mktemp("localstripe"))
        yield server.url
        server.stop()

localstripe (and aiohttp) are test-only dependencies: install
``paygate-stripe[test]``. Nothing here is imported by the plugin itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

#: Any ``sk_`` key is accepted by localstripe.
LOCALSTRIPE_KEY = "sk_test_localstripe"
STARTUP_TIMEOUT = 30.0


@dataclass
class LocalStripe:
    """A running localstripe child process."""

    url: str
    port: int
    process: subprocess.Popen[bytes]
    store: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def flush(self) -> None:
        """Forget every object (localstripe's ``DELETE /_config/data``)."""
        # A loopback http URL this module built.
        request = urllib.request.Request(f"{self.url}/_config/data", method="DELETE")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - a loopback URL we built
            pass

    def __enter__(self) -> LocalStripe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _read_port(stream: IO[bytes], process: subprocess.Popen[bytes], deadline: float) -> int:
    import selectors

    selector = selectors.DefaultSelector()
    selector.register(stream, selectors.EVENT_READ)
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            if selector.select(timeout=0.2):
                line = stream.readline().decode("ascii", "replace").strip()
                if line.startswith("PORT "):
                    return int(line.split()[1])
                if not line and process.poll() is not None:
                    break
    finally:
        selector.close()
    raise RuntimeError(
        f"localstripe did not start (is paygate-stripe[test] installed? exit code {process.poll()})"
    )


def start_localstripe(
    store_dir: str | Path, *, max_seconds: float = 1800.0, python: str | None = None
) -> LocalStripe:
    """Start localstripe on 127.0.0.1 on a free port; return once it answers.

    :param store_dir: where its pickle file goes (a test's tmp dir).
    :param max_seconds: the server stops by itself after this long.
    """
    store = Path(store_dir) / "localstripe.pickle"
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [
            python or sys.executable,
            "-m",
            "paygate_stripe.localserver",
            "--store",
            str(store),
            "--max-seconds",
            str(max_seconds),
            "--parent",
            str(os.getpid()),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    try:
        port = _read_port(process.stdout, process, time.monotonic() + STARTUP_TIMEOUT)
    except BaseException:
        process.kill()
        process.wait(timeout=10)
        raise
    server = LocalStripe(url=f"http://127.0.0.1:{port}", port=port, process=process, store=store)
    _wait_until_up(server, time.monotonic() + STARTUP_TIMEOUT)
    return server


def _wait_until_up(server: LocalStripe, deadline: float) -> None:
    request = urllib.request.Request(  # noqa: S310 - loopback http URL built here
        f"{server.url}/v1/customers?limit=1",
        headers={"Authorization": f"Bearer {LOCALSTRIPE_KEY}"},
    )
    while True:
        try:
            with urllib.request.urlopen(request, timeout=2):  # noqa: S310 - loopback
                return
        except OSError:
            if time.monotonic() > deadline or server.process.poll() is not None:
                server.stop()
                raise RuntimeError("localstripe started but does not answer") from None
            time.sleep(0.05)


def _serve(store: Path, max_seconds: float, parent: int) -> None:  # pragma: no cover (child)
    import asyncio
    import pickle
    import signal
    import socket

    from aiohttp import web
    from localstripe import resources, server  # type: ignore[import-untyped]

    def dump_to_disk(self: object) -> None:
        with open(store, "wb") as fh:
            pickle.dump(self, fh, protocol=pickle.HIGHEST_PROTOCOL)

    def try_load_from_disk(self: object) -> None:
        return None

    # localstripe hard-codes /tmp/localstripe.pickle; keep its state in our dir.
    resources.Store.dump_to_disk = dump_to_disk
    resources.Store.try_load_from_disk = try_load_from_disk

    # Stripe names a missing object with code ``resource_missing``; localstripe
    # sends only "Not Found". The plugin takes nothing else for "no such
    # object" (any other 404 proves nothing), so the fake says it like Stripe.
    from localstripe import errors

    user_error_init = errors.UserError.__init__

    def stripe_like_user_error(
        self: Any, code: int, message: str | None = None, contents: Any = None
    ) -> None:
        user_error_init(self, code, message, contents)
        if code == 404 and message == "Not Found":
            self.body["error"].setdefault("code", "resource_missing")

    errors.UserError.__init__ = stripe_like_user_error

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]

    started = time.monotonic()

    async def watchdog(app: web.Application) -> None:
        while True:
            await asyncio.sleep(0.5)
            if time.monotonic() - started > max_seconds or os.getppid() != parent:
                os.kill(os.getpid(), signal.SIGTERM)
                return

    tasks: list[asyncio.Task[None]] = []

    async def start_watchdog(app: web.Application) -> None:
        tasks.append(asyncio.ensure_future(watchdog(app)))
        print(f"PORT {port}", flush=True)

    async def stop_watchdog(app: web.Application) -> None:
        for task in tasks:
            task.cancel()

    app: web.Application = server.app
    app.on_startup.append(start_watchdog)
    app.on_cleanup.append(stop_watchdog)
    web.run_app(app, sock=sock, print=None, access_log=None, handle_signals=True)


def main(argv: list[str] | None = None) -> None:  # pragma: no cover (child)
    import argparse

    parser = argparse.ArgumentParser(description="localstripe on 127.0.0.1, for tests")
    parser.add_argument("--store", required=True, type=Path)
    parser.add_argument("--max-seconds", type=float, default=1800.0)
    parser.add_argument("--parent", type=int, default=os.getppid())
    args = parser.parse_args(argv)
    _serve(args.store, args.max_seconds, args.parent)


if __name__ == "__main__":  # pragma: no cover
    main()

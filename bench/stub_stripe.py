"""A minimal Stripe-shaped HTTP server for the SDK-overhead benchmarks.

It answers at once (or after ``--delay-ms``) with canned Stripe JSON
(PaymentIntents, PaymentMethods, refunds, customers, Checkout Sessions),
keeps nothing between requests, and speaks keep-alive HTTP/1.1 so that the
SDK's ``requests`` session reuses one connection, as it does against
api.stripe.com. localstripe is not used: its latency grows with
its store, which would turn the A/B ratio into a measure of localstripe.

It binds 127.0.0.1 only and stops by itself after ``--max-seconds`` or when the
process that started it goes away. Run it in a child process
(:class:`StubStripe`) so that its work never shares the benchmark's GIL.

    python -m bench.stub_stripe --max-seconds 600 [--delay-ms 100]   # prints "READY <port>"
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

REPO_ROOT = Path(__file__).resolve().parent.parent


def _form(body: bytes) -> dict[str, str]:
    return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))


def _metadata(form: dict[str, str]) -> dict[str, str]:
    return {k[len("metadata[") : -1]: v for k, v in form.items() if k.startswith("metadata[")}


def _intent(
    form: dict[str, str], status: str | None = None, pid: str | None = None
) -> dict[str, Any]:
    amount = int(form.get("amount", "1000") or 1000)
    manual = form.get("capture_method") == "manual"
    state = status or ("requires_capture" if manual else "succeeded")
    return {
        "id": pid or "pi_" + secrets.token_hex(12),
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": amount if state == "requires_capture" else 0,
        "amount_received": amount if state == "succeeded" else 0,
        "capture_method": "manual" if manual else "automatic",
        "client_secret": "pi_secret_bench",
        "confirmation_method": "automatic",
        "created": int(time.time()),
        "currency": form.get("currency", "usd"),
        "customer": form.get("customer") or None,
        "description": form.get("description") or None,
        "last_payment_error": None,
        "latest_charge": "ch_" + secrets.token_hex(12),
        "livemode": False,
        "metadata": _metadata(form),
        "next_action": None,
        "payment_method": form.get("payment_method") or "pm_card_visa",
        "payment_method_types": ["card"],
        "status": state,
    }


def _payment_method(form: dict[str, str], pid: str | None = None) -> dict[str, Any]:
    number = form.get("card[number]", "4242424242424242")
    return {
        "id": pid or "pm_" + secrets.token_hex(12),
        "object": "payment_method",
        "type": "card",
        "card": {
            "brand": "visa",
            "last4": number[-4:],
            "exp_month": int(form.get("card[exp_month]", "12") or 12),
            "exp_year": int(form.get("card[exp_year]", "2030") or 2030),
            "funding": "credit",
            "country": "US",
        },
        "customer": form.get("customer") or None,
        "livemode": False,
        "metadata": _metadata(form),
    }


def _checkout_session(form: dict[str, str]) -> dict[str, Any]:
    sid = "cs_test_" + secrets.token_hex(24)
    amount = int(form.get("line_items[0][price_data][unit_amount]", "1000") or 1000)
    return {
        "id": sid,
        "object": "checkout.session",
        "amount_subtotal": amount,
        "amount_total": amount,
        "cancel_url": form.get("cancel_url"),
        "client_reference_id": form.get("client_reference_id"),
        "created": int(time.time()),
        "currency": form.get("line_items[0][price_data][currency]", "usd"),
        "customer": None,
        "customer_email": form.get("customer_email"),
        "expires_at": int(time.time()) + 86400,
        "livemode": False,
        "metadata": _metadata(form),
        "mode": form.get("mode", "payment"),
        "payment_intent": None,
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "status": "open",
        "success_url": form.get("success_url"),
        "url": f"https://checkout.stripe.com/c/pay/{sid}",
    }


def answer(method: str, path: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """The status and JSON body for one request (pure: no state kept)."""
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    if len(parts) < 2 or parts[0] != "v1":
        return 404, {"error": {"type": "invalid_request_error", "message": "unknown path"}}
    resource, rest = parts[1], parts[2:]
    if resource == "payment_intents":
        if not rest and method == "POST":
            return 200, _intent(form)
        if len(rest) == 1 and method == "GET":
            return 200, _intent({"capture_method": "manual"}, pid=rest[0])
        if len(rest) == 2 and rest[1] == "capture":
            return 200, _intent(form, "succeeded", rest[0])
        if len(rest) == 2 and rest[1] == "cancel":
            return 200, _intent(form, "canceled", rest[0])
        if len(rest) == 2 and rest[1] == "confirm":
            return 200, _intent(form, None, rest[0])
    if resource == "payment_methods":
        if not rest and method == "POST":
            return 200, _payment_method(form)
        if len(rest) >= 1:
            return 200, _payment_method(form, rest[0])
    if resource == "refunds" and method == "POST":
        return 200, {
            "id": "re_" + secrets.token_hex(12),
            "object": "refund",
            "amount": int(form.get("amount", "1000") or 1000),
            "currency": "usd",
            "payment_intent": form.get("payment_intent"),
            "status": "succeeded",
            "metadata": _metadata(form),
        }
    if resource == "checkout" and rest == ["sessions"] and method == "POST":
        # django-payments' one server-side call (the bench's peer figure).
        return 200, _checkout_session(form)
    if resource == "customers" and method == "POST":
        return 200, {
            "id": "cus_" + secrets.token_hex(12),
            "object": "customer",
            "metadata": _metadata(form),
        }
    return 404, {"error": {"type": "invalid_request_error", "message": f"no stub for {path}"}}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the SDK reuses its connection
    # A buffered writer, flushed once per request: headers and body leave in one
    # send. Two small writes would meet Nagle's algorithm and the client's
    # delayed ACK (40 ms per response on Linux).
    wbufsize = -1
    server_version = "stub-stripe"
    sys_version = ""

    #: Seconds every answer waits, as a real gateway's round trip does.
    delay = 0.0

    def _respond(self, method: str) -> None:
        if self.delay:
            time.sleep(self.delay)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, payload = answer(method, self.path, _form(body) if body else {})
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Request-Id", "req_bench")
        key = self.headers.get("Idempotency-Key")
        if key:
            self.send_header("Idempotency-Key", key)
        self.end_headers()
        self.wfile.write(data)

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self) -> None:
        self._respond("POST")

    def do_GET(self) -> None:
        self._respond("GET")

    def do_DELETE(self) -> None:
        self._respond("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(max_seconds: float, port: int = 0, delay_ms: float = 0.0) -> None:
    """Serve until ``max_seconds`` have passed or the parent process is gone."""
    handler = type("_DelayedHandler", (_Handler,), {"delay": delay_ms / 1000.0})
    server = _Server(("127.0.0.1", port), handler)
    parent = os.getppid()
    deadline = time.monotonic() + max_seconds

    def watchdog() -> None:
        while time.monotonic() < deadline and os.getppid() == parent:
            time.sleep(0.5)
        server.shutdown()

    threading.Thread(target=watchdog, daemon=True).start()
    print(f"READY {server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()


class StubStripe:
    """The stub in a child process: ``with StubStripe() as stub: stub.url``."""

    def __init__(self, max_seconds: float = 900.0, delay_ms: float = 0.0) -> None:
        self.max_seconds = max_seconds
        self.delay_ms = delay_ms
        self.process: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self) -> StubStripe:
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.stub_stripe",
                "--max-seconds",
                str(self.max_seconds),
                "--delay-ms",
                str(self.delay_ms),
            ],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=str(REPO_ROOT),
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError(f"stub Stripe server did not start: {line!r}")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"
        return self

    def stop(self) -> None:
        proc = self.process
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()
        self.process = None

    def __enter__(self) -> StubStripe:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-seconds", type=float, default=600.0)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--delay-ms", type=float, default=0.0, help="answer after this long (a gateway's latency)"
    )
    args = parser.parse_args(argv)
    serve(args.max_seconds, args.port, args.delay_ms)


if __name__ == "__main__":
    main()

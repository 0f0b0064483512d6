"""A local TinyGate server on 127.0.0.1, for tests (like localstripe for Stripe).

It keeps payments in memory the way a test-mode processor keeps them on its
servers: it dedupes on the ``Idempotency-Key`` header (the same key replays
the first answer), refuses keys that are not ``tg_test_`` keys, and declines
TinyGate's test cards. The API, JSON in and out, amounts in minor units::

    POST /v1/charges                  {amount, currency, card, capture, transaction_id}
    POST /v1/charges/<id>/capture     {amount}
    POST /v1/charges/<id>/void
    POST /v1/charges/<id>/refunds     {amount}
    GET  /v1/charges?transaction_id=  the charge made for a paygate transaction
    GET  /v1/requests/<key>           the answer given to an idempotency key (replay)

:func:`start_server` runs it in a daemon thread; it stops by itself after
``max_seconds`` if a test run forgets to stop it.
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

#: TinyGate's test cards that decline: number -> TinyGate's decline code.
DECLINING_CARDS: dict[str, str] = {
    "4000000000000002": "do_not_honor",
    "4000000000009995": "nsf",
    "4000000000000069": "expired",
    "4000000000000127": "cvc_mismatch",
    "4000000000000119": "processing",
}

Answer = tuple[int, dict[str, Any]]


@dataclass
class TinyGateState:
    """What TinyGate's servers hold."""

    charges: dict[str, dict[str, Any]] = field(default_factory=dict)
    answers: dict[str, Answer] = field(default_factory=dict)
    #: Idempotency keys received, in order (repeats kept).
    keys_received: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Answer:
        parts = [unquote(p) for p in path.split("/") if p]
        if method == "GET" and parts == ["v1", "charges"]:
            tx = (query.get("transaction_id") or [""])[0]
            found = [c for c in self.charges.values() if c["transaction_id"] == tx]
            return (200, {"charge": dict(found[0])}) if found else (404, _error("not_found"))
        if method == "GET" and len(parts) == 3 and parts[:2] == ["v1", "requests"]:
            if parts[2] in self.answers:
                status, answer = self.answers[parts[2]]
                return 200, {"status": status, "answer": answer}
            return 404, _error("not_found")
        if method != "POST" or not isinstance(body, dict):
            return 400, _error("bad_request")
        if parts == ["v1", "charges"]:
            return self._charge(body)
        if len(parts) == 4 and parts[:2] == ["v1", "charges"]:
            charge = self.charges.get(parts[2])
            if charge is None:
                return 404, _error("not_found")
            if parts[3] == "capture":
                return self._capture(charge, body)
            if parts[3] == "void":
                return self._void(charge)
            if parts[3] == "refunds":
                return self._refund(charge, body)
        return 404, _error("not_found")

    def _charge(self, body: dict[str, Any]) -> Answer:
        amount = body.get("amount")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            return 400, _error("bad_amount")
        number = str((body.get("card") or {}).get("number", ""))
        if number in DECLINING_CARDS:
            return 402, _error(DECLINING_CARDS[number])
        capture = bool(body.get("capture"))
        charge_id = "ch_" + secrets.token_hex(8)
        charge: dict[str, Any] = {
            "id": charge_id,
            "amount": amount,
            "currency": str(body.get("currency", "")),
            "status": "captured" if capture else "authorized",
            "captured": amount if capture else 0,
            "refunded": 0,
            "transaction_id": str(body.get("transaction_id", "")),
        }
        self.charges[charge_id] = charge
        return 200, {"charge": dict(charge)}

    def _capture(self, charge: dict[str, Any], body: dict[str, Any]) -> Answer:
        amount = body.get("amount")
        if charge["status"] != "authorized" or not isinstance(amount, int):
            return 409, _error("bad_state")
        if amount > charge["amount"]:
            return 400, _error("bad_amount")
        charge["status"], charge["captured"] = "captured", amount
        return 200, {"charge": dict(charge), "capture_id": "cp_" + secrets.token_hex(6)}

    def _void(self, charge: dict[str, Any]) -> Answer:
        if charge["status"] != "authorized":
            return 409, _error("bad_state")
        charge["status"] = "voided"
        return 200, {"charge": dict(charge)}

    def _refund(self, charge: dict[str, Any], body: dict[str, Any]) -> Answer:
        amount = body.get("amount")
        if not isinstance(amount, int) or charge["refunded"] + amount > charge["captured"]:
            return 400, _error("too_much")
        charge["refunded"] += amount
        if charge["refunded"] == charge["captured"]:
            charge["status"] = "refunded"
        return 200, {"charge": dict(charge), "refund_id": "rf_" + secrets.token_hex(6)}


def _error(code: str) -> dict[str, Any]:
    return {"error": {"code": code}}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: a test's output is not the place for an access log

    def _answer(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        auth = self.headers.get("Authorization", "")
        state = self.server.state
        if not auth.startswith("Bearer tg_test_"):
            status, answer = 401, _error("unauthorized")
        else:
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            url = urlsplit(self.path)
            key = self.headers.get("Idempotency-Key")
            with state.lock:
                if key:
                    state.keys_received.append(key)
                if method == "POST" and key and key in state.answers:
                    status, answer = state.answers[key]
                else:
                    status, answer = state.handle(method, url.path, parse_qs(url.query), body)
                    if method == "POST" and key:
                        state.answers[key] = (status, answer)
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: TinyGateState


@dataclass
class TinyGateServer:
    """A running local TinyGate: ``url`` to configure as ``api_base``."""

    url: str
    state: TinyGateState
    _server: _Server
    _timer: threading.Timer

    def stop(self) -> None:
        self._timer.cancel()
        self._server.shutdown()
        self._server.server_close()


def start_server(max_seconds: float = 600.0) -> TinyGateServer:
    """Start TinyGate on 127.0.0.1 on a free port; it stops after ``max_seconds``."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.state = TinyGateState()
    thread = threading.Thread(target=server.serve_forever, name="tinygate", daemon=True)
    thread.start()
    timer = threading.Timer(max_seconds, server.shutdown)
    timer.daemon = True
    timer.start()
    host, port = server.server_address[:2]
    return TinyGateServer(f"http://{host!s}:{port}", server.state, server, timer)


__all__ = ["DECLINING_CARDS", "TinyGateServer", "TinyGateState", "start_server"]

"""The conformance kit's view of the wire: what reached the gateway, and faults there.

A provider plugin talks to its gateway over HTTP. What the plugin *received*
from the core (the hook's request) proves nothing about what it *sent*: the
amount could be off by one, the idempotency key missing, the void never sent.
:class:`Wire` sits in :mod:`requests` (it wraps ``requests.Session.send``,
the one place every request of every session goes through, the Stripe and
PayPal SDKs' included, just above the transport adapter where a
``responses`` mock answers), so it sees each request as it leaves, and can
make the network misbehave there:

========================  =====================================================
fault                     what the plugin sees
========================  =====================================================
``"drop"``                the request reaches the gateway (which acts on it),
                          then the connection closes without an answer
``"reset"``               the request reaches the gateway, then the connection
                          is reset (``ConnectionResetError``)
``"timeout"``             the request reaches the gateway, then the read times out
``"server_error"``        the request reaches the gateway, which answers 500
``"rate_limited"``        the gateway answers 429 without acting
``"unauthorized"``        the gateway answers 401 without acting
========================  =====================================================

The conformance suite starts one :class:`Wire` per test; a plugin author
needs no plumbing as long as the plugin uses ``requests`` (the client the
docs recommend for this reason). A plugin on another client overrides
``sent_idempotency_keys`` and declares the ``"wire"`` waiver.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, urlsplit

FAULTS: tuple[str, ...] = (
    "drop",
    "reset",
    "timeout",
    "server_error",
    "rate_limited",
    "unauthorized",
)

#: Faults after which the gateway has acted on the request.
FAULTS_AFTER_SENDING = frozenset({"drop", "reset", "timeout", "server_error"})

#: Default answer bodies: one body that both Stripe-shaped (``error`` object)
#: and PayPal-shaped (``name``/``message``) clients can parse.
DEFAULT_ANSWERS: dict[str, tuple[int, dict[str, str], bytes]] = {
    "server_error": (
        500,
        {"Content-Type": "application/json"},
        b'{"name": "INTERNAL_SERVER_ERROR", "message": "An internal server error occurred.",'
        b' "error": {"type": "api_error", "message": "An internal server error occurred."}}',
    ),
    "rate_limited": (
        429,
        {"Content-Type": "application/json", "Retry-After": "1"},
        b'{"name": "RATE_LIMIT_REACHED", "message": "Too many requests.",'
        b' "error": {"type": "invalid_request_error", "code": "rate_limit",'
        b' "message": "Too many requests."}}',
    ),
    "unauthorized": (
        401,
        {"Content-Type": "application/json"},
        b'{"name": "AUTHENTICATION_FAILURE", "message": "Authentication failed.",'
        b' "error": {"type": "invalid_request_error", "message": "Invalid API key."}}',
    ),
}


@dataclass
class WireRequest:
    """One HTTP request as it left the plugin."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    #: The HTTP status that came back (``None``: no answer reached the plugin).
    status: int | None = None
    #: The fault the wire injected on this request, if any.
    fault: str | None = None

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)

    def data(self) -> Any:
        """The body decoded: JSON, or a form as a flat ``{key: value}`` dict,
        else ``None``."""
        if not self.body:
            return None
        text = self.body.decode("utf-8", "replace")
        try:
            return json.loads(text)
        except ValueError:
            pass
        pairs = parse_qsl(text, keep_blank_values=True)
        return dict(pairs) if pairs else None

    def amount_minor(self, exponent: int) -> int | None:
        """The payment amount this request carries, in minor units, or ``None``.

        Understood without help: a top-level ``amount`` field holding an
        integer of minor units (JSON, or a form like Stripe's), or an
        ``amount`` object ``{"value": "20.00", "currency_code": ...}``
        anywhere in a JSON body (PayPal's decimal strings, scaled by the
        currency's ``exponent``). Anything else: override the suite's
        ``wire_amount``.
        """
        return _find_amount(self.data(), exponent)

    def __repr__(self) -> str:  # the body may hold a card number: never shown
        return f"<WireRequest {self.method} {self.path} status={self.status} fault={self.fault}>"


def _find_amount(data: Any, exponent: int) -> int | None:
    if isinstance(data, Mapping):
        value = data.get("amount")
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.isdigit():
            return int(value)
        if isinstance(value, Mapping) and isinstance(value.get("value"), str):
            try:
                return int(Decimal(value["value"]).scaleb(exponent))
            except (InvalidOperation, ValueError):
                return None
        for item in data.values():
            found = _find_amount(item, exponent)
            if found is not None:
                return found
    elif isinstance(data, list):
        for item in data:
            found = _find_amount(item, exponent)
            if found is not None:
                return found
    return None


@dataclass
class _Planned:
    fault: str
    match: Callable[[WireRequest], bool]
    times: int | None  # None: every matching request


@dataclass
class Wire:
    """Records every request sent through ``requests`` and injects faults.

    Use as a context manager (the conformance suite does, once per test)::

        with Wire(idempotency_header="Idempotency-Key") as wire:
            wire.fail("drop", key="order-1")   # lose the answer of that request
            ...
            wire.with_key("order-1")           # what was sent with that key
    """

    #: The header carrying the idempotency key (``PayPal-Request-Id``...).
    idempotency_header: str = "Idempotency-Key"
    answers: dict[str, tuple[int, dict[str, str], bytes]] = field(
        default_factory=lambda: dict(DEFAULT_ANSWERS)
    )
    requests: list[WireRequest] = field(default_factory=list)
    _planned: list[_Planned] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _original: Any = None

    # -- what was sent -----------------------------------------------------------
    def key_of(self, sent: WireRequest) -> str | None:
        return sent.header(self.idempotency_header)

    def keys(self) -> list[str]:
        """Every idempotency key sent, in order (repeats kept)."""
        with self._lock:
            found = [self.key_of(r) for r in self.requests]
        return [k for k in found if k]

    def with_key(self, key: str) -> list[WireRequest]:
        """The requests whose idempotency header is exactly ``key``."""
        with self._lock:
            return [r for r in self.requests if self.key_of(r) == key]

    def mark(self) -> int:
        """A position; :meth:`since` returns what was sent after it."""
        with self._lock:
            return len(self.requests)

    def since(self, mark: int) -> list[WireRequest]:
        with self._lock:
            return list(self.requests[mark:])

    # -- faults ------------------------------------------------------------------
    def fail(
        self,
        fault: str,
        *,
        key: str | None = None,
        match: Callable[[WireRequest], bool] | None = None,
        times: int | None = 1,
    ) -> None:
        """Inject ``fault`` on the next ``times`` requests (``None``: all) that
        carry idempotency ``key`` (or satisfy ``match``; neither: any request)."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; one of {', '.join(FAULTS)}")
        if match is None:
            match = (lambda r: self.key_of(r) == key) if key is not None else (lambda r: True)
        with self._lock:
            self._planned.append(_Planned(fault, match, times))

    def clear_faults(self) -> None:
        with self._lock:
            self._planned.clear()

    def _take_fault(self, sent: WireRequest) -> str | None:
        with self._lock:
            for plan in self._planned:
                if plan.match(sent):
                    if plan.times is not None:
                        plan.times -= 1
                        if plan.times <= 0:
                            self._planned.remove(plan)
                    return plan.fault
        return None

    # -- the transport -----------------------------------------------------------
    def __enter__(self) -> Wire:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Wrap ``Session.send`` (a ``responses`` mock, which replaces the
        adapter below it, keeps answering whenever it was started; wires
        nest). Without ``requests`` installed the wire sees nothing."""
        try:
            from requests import Session
        except ImportError:  # pragma: no cover - requests comes with paygate[test]
            return
        if self._original is not None:
            return
        self._original = Session.send
        wire = self

        def send(session: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
            return wire._send(session, request, args, kwargs)

        Session.send = send  # type: ignore[method-assign,assignment]

    def stop(self) -> None:
        if self._original is not None:
            from requests import Session

            Session.send = self._original  # type: ignore[method-assign]
            self._original = None

    def _send(self, session: Any, request: Any, args: Any, kwargs: Any) -> Any:
        import requests
        from urllib3.exceptions import ProtocolError

        body = request.body
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif not isinstance(body, bytes):
            body = b""  # a streamed body: not recorded
        sent = WireRequest(
            method=str(request.method),
            url=str(request.url),
            headers={str(k): str(v) for k, v in request.headers.items()},
            body=body,
        )
        with self._lock:
            self.requests.append(sent)
        fault = self._take_fault(sent)
        sent.fault = fault
        if fault in ("rate_limited", "unauthorized"):
            sent.status = self.answers[fault][0]
            return _response(request, *self.answers[fault])
        response = self._original(session, request, *args, **kwargs)
        sent.status = response.status_code
        if fault == "drop":
            sent.status = None
            raise requests.ConnectionError(
                ProtocolError(
                    "Connection aborted.",
                    ConnectionError("Remote end closed connection without response"),
                ),
                request=request,
            )
        if fault == "reset":
            sent.status = None
            raise requests.ConnectionError(
                ProtocolError(
                    "Connection aborted.", ConnectionResetError(104, "Connection reset by peer")
                ),
                request=request,
            )
        if fault == "timeout":
            sent.status = None
            raise requests.ReadTimeout(
                "Read timed out. (injected by paygate's wire)", request=request
            )
        if fault == "server_error":
            sent.status = self.answers[fault][0]
            return _response(request, *self.answers[fault])
        return response


def _response(request: Any, status: int, headers: Mapping[str, str], body: bytes) -> Any:
    import requests
    from requests.structures import CaseInsensitiveDict

    response = requests.Response()
    response.status_code = status
    response.headers = CaseInsensitiveDict(headers)
    response._content = body
    response.raw = io.BytesIO(body)
    response.url = str(request.url)
    response.request = request
    response.reason = {401: "Unauthorized", 429: "Too Many Requests"}.get(
        status, "Internal Server Error"
    )
    response.encoding = "utf-8"
    return response


__all__ = ["DEFAULT_ANSWERS", "FAULTS", "FAULTS_AFTER_SENDING", "Wire", "WireRequest"]

"""What a payments page needs besides its content: CSRF tokens, security
headers, and form posts that do their work once however often they arrive."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSRF_COOKIE = "paygate_csrf"
CSRF_FIELD = "csrf_token"
IDEMPOTENCY_FIELD = "idempotency_key"

#: Every portal response: no script at all, styles from the portal only, never
#: framed (clickjacking a "Pay" button), forms post back to the portal only.
#: (The card page in Stripe mode alone adds Stripe.js's origins: see portal.py.)
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    # billing pages hold personal and payment data: never cached, not even
    # by the browser's back button
    (b"cache-control", b"no-store"),
)


class SecurityHeaders:
    """ASGI middleware adding :data:`HEADERS` to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in HEADERS if k not in names]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class Csrf:
    """Signed double-submit tokens: a random cookie, and in every form the
    HMAC of that cookie and the signed-in user under the host's secret. A
    forged cross-site post has neither the cookie's value nor the secret."""

    def __init__(self, secret: str | bytes) -> None:
        key = secret.encode() if isinstance(secret, str) else secret
        if not isinstance(key, bytes) or len(key) < 16:
            raise ValueError(
                "the portal's secret must be at least 16 bytes (use secrets.token_hex)"
            )
        self._key = key

    @staticmethod
    def new_cookie() -> str:
        return secrets.token_urlsafe(32)

    def token(self, cookie: str, user: str) -> str:
        msg = f"{len(cookie)}:{cookie}:{user}".encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()

    def check(self, cookie: str | None, user: str, token: object) -> bool:
        if not cookie or not isinstance(token, str) or not token:
            return False
        return hmac.compare_digest(self.token(cookie, user), token)


class Once:
    """Remembers, per idempotency key rendered into a form, where its first
    post led: a double-clicked "Pay" gets the first answer and is not done
    again. Posts with the same key wait for the first to finish. Bounded and
    in memory; the money itself is protected across processes by the keys
    billing and Payments are given (the same form key reaches the provider)."""

    def __init__(self, size: int = 10_000, ttl: float = 24 * 3600) -> None:
        self._done: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._busy: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._size = size
        self._ttl = ttl

    def lock(self, key: str) -> threading.Lock:
        with self._lock:
            return self._busy.setdefault(key, threading.Lock())

    def get(self, key: str) -> str | None:
        with self._lock:
            found = self._done.get(key)
            if found is None or found[0] < time.monotonic() - self._ttl:
                return None
            return found[1]

    def put(self, key: str, location: str) -> None:
        with self._lock:
            self._done[key] = (time.monotonic(), location)
            self._busy.pop(key, None)
            while len(self._done) > self._size:
                self._done.popitem(last=False)


def new_idempotency_key() -> str:
    return secrets.token_urlsafe(24)


__all__ = ["CSP", "HEADERS", "Csrf", "Once", "SecurityHeaders", "new_idempotency_key"]

"""``webhook_endpoint``: the providers' webhook deliveries, as an ASGI app.

``POST /{provider}`` (``/stripe``, ``/paypal``, ``/sandbox``) reads the raw
body (no more than ``max_body`` bytes: providers sign the exact bytes),
hands it to :meth:`paygate.Payments.parse_webhook`, and answers:

* 200 for an event applied and for a duplicate (the provider stops retrying);
* 400 for a bad, missing or stale signature, or a body that is no event;
* 404 for a provider that is not installed or takes no webhooks;
* 503 when the host's ``on_event`` reaction failed (the provider retries);
* 413 for a body over the limit.

Bad input never gets a 5xx: a 5xx makes providers retry, and a forged or
broken delivery must not be retried for days. Only a fault on our side (the
database is down) answers 503 so that the provider delivers again later.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from paygate.errors import (
    ErrorCode,
    InvalidRequest,
    PaygateError,
    SignatureVerificationError,
)
from paygate.models import WebhookEvent

if TYPE_CHECKING:
    from paygate.payments import Payments

log = logging.getLogger("paygate.web.webhooks")

#: Stripe's largest events are well under this; PayPal's too.
MAX_BODY = 512 * 1024


class _TooLarge(Exception):
    pass


async def _read(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise _TooLarge
        except ValueError:
            raise _TooLarge from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:  # a lying or absent Content-Length: stop reading here
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _answer(status: int, **body: object) -> Response:
    return JSONResponse(body, status_code=status, headers={"cache-control": "no-store"})


def webhook_endpoint(
    payments: Payments,
    *,
    max_body: int = MAX_BODY,
    on_event: Callable[[WebhookEvent], object] | None = None,
) -> Starlette:
    """The webhook receiver as an ASGI app to mount (``app.mount("/webhooks", ...)``).

    :param max_body: the largest body read, in bytes (413 past it).
    :param on_event: called with each verified event after paygate applied
        it, duplicates included (``event.duplicate``), e.g.
        ``billing.on_webhook``. It must be idempotent: when it raises, the
        endpoint answers 503 and the provider delivers again, and that
        redelivery reaches ``on_event`` as a duplicate, so a reaction that
        failed is not lost although the ledger already recorded the event.
    """
    if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body < 1:
        raise ValueError("max_body is a positive number of bytes")

    async def receive(request: Request) -> Response:
        provider = request.path_params["provider"]
        try:
            body = await _read(request, max_body)
        except _TooLarge:
            return _answer(413, error="payload_too_large", limit=max_body)
        except ClientDisconnect:
            return _answer(400, error="incomplete_body")
        headers = {k: v for k, v in request.headers.items()}
        try:
            event = await run_in_threadpool(payments.parse_webhook, provider, headers, body)
        except SignatureVerificationError:
            log.warning("webhook for %s refused: bad signature", provider[:40])
            return _answer(400, error="bad_signature")
        except InvalidRequest as exc:
            if exc.param == "provider" or exc.code in (
                ErrorCode.CONFIG_ERROR,
                ErrorCode.UNSUPPORTED_FEATURE,
            ):
                return _answer(404, error="unknown_provider")
            return _answer(400, error="bad_request")
        except PaygateError as exc:
            if exc.code is ErrorCode.CONFIG_ERROR:
                return _answer(404, error="unknown_provider")
            log.error("webhook for %s not processed: %s", provider[:40], exc.code.value)
            return _answer(503, error="retry_later")
        if on_event is not None:
            try:
                await run_in_threadpool(on_event, event)
            except Exception as exc:
                # The host's reaction failed (its database is down, a bug):
                # 503 makes the provider deliver again, and on_event sees it then.
                log.error(
                    "webhook %s for %s: on_event failed (%s); asking for a redelivery",
                    event.id[:80],
                    provider[:40],
                    type(exc).__name__,
                )
                return _answer(503, error="retry_later")
        return _answer(200, received=True, duplicate=event.duplicate, id=event.id)

    async def method_not_allowed(request: Request) -> Response:
        return _answer(405, error="post_only")

    return Starlette(
        routes=[
            Route("/{provider:str}", receive, methods=["POST"]),
            Route("/{provider:str}", method_not_allowed, methods=["GET", "PUT", "DELETE"]),
        ]
    )


__all__ = ["MAX_BODY", "webhook_endpoint"]

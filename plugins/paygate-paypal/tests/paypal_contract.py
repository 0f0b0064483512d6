"""PayPal's published contract, checked against every request the plugin sends.

PayPal cannot be reached from CI, and the recorded layer answers like we
*believe* PayPal does. This module validates each request (path, method,
headers, query and JSON body) against PayPal's own OpenAPI documents (Orders
v2, Payments v2, Vault v3, Webhooks v1) with openapi-core, in process.

The documents live beside the repository: ``<repo>/../shared/specs/paypal``
(``PAYGATE_PAYPAL_SPECS`` names another directory). Where they are absent the
contract tests skip with a one-line reason.

:data:`ALLOWED` lists, visibly, each place where the documents are staler
than PayPal's SDK and API; nothing else is forgiven. The OAuth token call has
no document (it is only a ``tokenUrl`` there) and is not checked.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]

#: API path prefix -> the document describing it.
DOCUMENTS = {
    "/v2/checkout/": "paypal_checkout_orders_v2.json",
    "/v2/payments/": "paypal_payments_payment_v2.json",
    "/v3/vault/": "paypal_vault_payment_tokens_v3.json",
    "/v1/notifications/": "paypal_notifications_webhooks_v1.json",
}
#: Requests no document describes.
UNDOCUMENTED = ("/v1/oauth2/token",)
API_HOSTS = ("api-m.sandbox.paypal.com", "api-m.paypal.com")


@dataclass(frozen=True)
class Allowance:
    """One known place where PayPal's documents are staler than its API."""

    method: str
    path: str  # a regex on the URL path
    field: str  # a regex on the body field, dotted
    validator: str  # the JSON Schema keyword that fails (enum, readOnly...)
    value: str | None  # the value the document does not know (None: any)
    reason: str


ALLOWED: tuple[Allowance, ...] = (
    Allowance(
        "POST",
        r"/v3/vault/payment-tokens",
        r"payment_source\.token\.type",
        "enum",
        "SETUP_TOKEN",
        "Vault v3 3.1 lists only BILLING_AGREEMENT; paypal-server-sdk 2.x (and the live API) "
        "create a payment token from a SETUP_TOKEN",
    ),
    Allowance(
        "POST",
        r"/v1/notifications/verify-webhook-signature",
        r"webhook_event\.\w+",
        "readOnly",
        None,
        "verify-webhook-signature must echo the delivered event verbatim, but Webhooks v1 "
        "reuses the `event` schema, whose fields are read-only",
    ),
)


def specs_dir() -> Path | None:
    configured = os.environ.get("PAYGATE_PAYPAL_SPECS")
    path = Path(configured) if configured else ROOT.parent / "shared" / "specs" / "paypal"
    return path if (path / DOCUMENTS["/v2/checkout/"]).is_file() else None


SKIP_REASON = "PayPal's OpenAPI documents not found (<repo>/../shared/specs/paypal)"


@cache
def _openapi(name: str) -> Any:
    from openapi_core import OpenAPI

    directory = specs_dir()
    assert directory is not None
    return OpenAPI.from_dict(json.loads((directory / name).read_text()))


def document_for(path: str) -> str | None:
    return next((doc for prefix, doc in DOCUMENTS.items() if path.startswith(prefix)), None)


def _field(error: Any) -> str:
    return ".".join(str(p) for p in getattr(error, "absolute_path", ()) or ())


def allowance_for(method: str, path: str, error: Any) -> Allowance | None:
    return next(
        (
            a
            for a in ALLOWED
            if a.method == method
            and re.fullmatch(a.path, path)
            and re.fullmatch(a.field, _field(error))
            and getattr(error, "validator", None) == a.validator
            and (a.value is None or getattr(error, "instance", None) == a.value)
        ),
        None,
    )


def _schema_errors(exc: BaseException) -> list[Any]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        errors = getattr(current, "schema_errors", None)
        if errors:
            return list(errors)
        current = current.__cause__ or current.__context__
    return []


def violations(
    method: str, url: str, headers: dict[str, str], body: bytes, *, allow: bool = True
) -> list[str]:
    """What in this request breaks PayPal's documents (after :data:`ALLOWED`,
    unless ``allow`` is false)."""
    from urllib.parse import urlsplit

    import requests
    from openapi_core.contrib.requests import RequestsOpenAPIRequest

    path = urlsplit(url).path
    if path in UNDOCUMENTED:
        return []
    document = document_for(path)
    if document is None:
        return [f"{method} {path}: no PayPal document describes this path"]
    request = requests.Request(method=method, url=url, headers=headers, data=body or None)
    try:
        with warnings.catch_warnings():
            # PayPal's documents declare OAuth2 security, which openapi-core
            # does not check (the bearer token is the OAuth call's business).
            warnings.filterwarnings("ignore", "Unsupported scheme type", UserWarning)
            _openapi(document).validate_request(RequestsOpenAPIRequest(request))
    except Exception as exc:  # openapi-core's validation errors have no common base
        errors = _schema_errors(exc)
        if not errors:
            return [f"{method} {path}: {type(exc).__name__}: {exc}"]
        left = [e for e in errors if not (allow and allowance_for(method, path, e))]
        return [f"{method} {path}: {_field(e) or '(body)'}: {e.message}" for e in left]
    return []


__all__ = ["ALLOWED", "SKIP_REASON", "Allowance", "specs_dir", "violations"]

"""The demo host behind ``paygate serve``: the portal and the webhook endpoint
on the sandbox, with a seeded account (an owner, a multi-user, a sub-account,
the billing staff, a year of invoices).

DEMO ONLY: who you are is read from ``?as=owner`` (remembered in a cookie),
with no password. A real host passes its own ``authenticate``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from paygate.billing import Actor, Billing
from paygate.billing.documents.demo import DEMO_SELLER
from paygate.models import Card
from paygate.web.portal import billing_portal
from paygate.web.webhooks import webhook_endpoint

if TYPE_CHECKING:
    from paygate.payments import Payments

DEMO_COOKIE = "paygate_demo_as"

#: The demo seller is the invoices demo's (``[invoices.seller]`` in a host's
#: paygate.toml); the owner's billing profile: an example identity with valid
#: check digits.
DEMO_RECEIVER: dict[str, str] = {
    "legal_name": "Hélène Dupré",
    "address": "3 place Bellecour\n69002 Lyon",
    "country": "FR",
    "email": "owner@example.org",
}

#: The demo's people: the name in ``?as=`` -> (actor, what they are).
USERS: dict[str, tuple[Actor, str]] = {
    "owner": (Actor.user("owner@example.org"), "the account owner: sees and changes billing"),
    "member": (Actor.user("member@example.org"), "a multi-user of the account: gets the 403 page"),
    "sub": (Actor.user("sub@example.org"), "owns a sub-account: gets the 403 page"),
    "staff": (Actor.staff_member("billing-team"), "the billing staff: see the staff view"),
}


class DemoClock:
    """Fixed while the demo seeds a year of history, then the real time."""

    def __init__(self, start: datetime | None = None) -> None:
        self.fixed = start

    def __call__(self) -> datetime:
        return self.fixed if self.fixed is not None else datetime.now(UTC)


@dataclass
class DemoHost:
    app: Starlette
    payments: Payments
    billing: Billing
    clock: DemoClock
    accounts: dict[str, str] = field(default_factory=dict)
    secret: str = ""

    def close(self) -> None:
        self.payments.close()


def demo_actor(request: Request) -> Actor | None:
    """DEMO ONLY: the user named by ``?as=`` or the demo cookie."""
    name = request.query_params.get("as") or request.cookies.get(DEMO_COOKIE) or ""
    found = USERS.get(name)
    return found[0] if found else None


class _RememberAs:
    """DEMO ONLY: keep ``?as=`` in a cookie so links need not carry it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chosen = Request(scope).query_params.get("as")

        async def send_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and chosen in USERS:
                cookie = f"{DEMO_COOKIE}={chosen}; Path=/; HttpOnly; SameSite=Lax".encode()
                message["headers"] = [*message.get("headers", []), (b"set-cookie", cookie)]
            await send(message)

        await self.app(scope, receive, send_cookie)


def seed(billing: Billing, clock: DemoClock) -> dict[str, str]:
    """An account with a year of monthly invoices, an upgrade, a toll-free
    number with calls, a multi-user and a sub-account."""
    owner = USERS["owner"][0]
    now = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0)
    # eleven months back: twelve monthly invoices (the seed catalog prices from 2026)
    clock.fixed = now - timedelta(days=330)
    acct = billing.create_account(owner.ref, currency="USD", timezone="Europe/Paris").id
    billing.add_member(acct, USERS["member"][0].ref)
    billing.invoices.set_profile(owner, acct, **DEMO_RECEIVER)
    child = billing.create_account(USERS["sub"][0].ref, currency="USD", parent_id=acct).id
    billing.add_payment_method(
        owner, acct, Card("4242424242424242", 12, now.year + 4, "123"), idempotency_key="seed-card"
    )
    sub = billing.subscribe(owner, acct, "webinar/s25", idempotency_key="seed-signup").id
    month = 0
    while clock.fixed + timedelta(days=7) < now:
        clock.fixed = min(clock.fixed + timedelta(days=7), now)
        for _ in range(3):
            if not billing.run_once().claimed:
                break
        month += 1
        if month == 10:  # about two months in: a toll-free number
            billing.apply(owner, billing.preview_add_addon(owner, sub, "toll-free"))
        if month == 30:  # half a year in: more attendees
            billing.apply(owner, billing.preview_change(owner, sub, plan="webinar/s100"))
    billing.record_usage(
        USERS["staff"][0], sub, event_id="seed-calls", metric="minutes", quantity=42
    )
    docs = billing.invoices.list(owner, acct)
    if docs:  # the invoices layer issues documents (a seller and a renderer are there)
        staff = USERS["staff"][0]
        asked = billing.invoices.request_correction(
            owner,
            docs[1].id,
            reason="Our company name changed",
            disable_old_receiver=True,
            legal_name="Exemple Webinaires SARL",
        )
        billing.invoices.accept_correction(staff, asked.id, reason="checked")
    clock.fixed = None
    return {"main": acct, "sub": child, "subscription": sub}


def build_demo(database: Path, *, seed_data: bool = True) -> DemoHost:
    """The demo host app on a fresh SQLite file (the sandbox provider)."""
    from paygate.payments import Payments

    payments = Payments(
        {
            "database_url": f"sqlite:///{database}",
            "default_provider": "sandbox",
            "pricing": {"nonprofit_discount": "0.10"},
            "invoices": {"seller": DEMO_SELLER},
        }
    )
    clock = DemoClock()
    billing = Billing(payments, clock=clock)
    accounts = seed(billing, clock) if seed_data else {}
    secret = secrets.token_hex(32)

    def account_of(actor: Actor) -> str | None:
        if actor.staff:
            return None
        if actor.ref == USERS["sub"][0].ref:
            return accounts.get("sub")
        return accounts.get("main")

    portal = billing_portal(billing, authenticate=demo_actor, account_of=account_of, secret=secret)

    async def index(request: Request) -> Response:
        rows = "".join(
            f'<li><a href="/billing/?as={name}">{escape(actor.ref)}</a>: {escape(text)}</li>'
            for name, (actor, text) in USERS.items()
        )
        return HTMLResponse(
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            "<title>paygate demo</title></head><body><main><h1>paygate demo host</h1>"
            "<p>DEMO ONLY: pick who you are (no password; a real host signs its users in).</p>"
            f"<ul>{rows}</ul><p>Staff view: <a href='/billing/staff?as=staff'>pending "
            "correction requests</a></p><p>Webhooks: POST /webhooks/sandbox</p>"
            "</main></body></html>"
        )

    app = Starlette(
        routes=[
            Route("/", index),
            Mount("/billing", app=portal),
            # Refunds and disputes the providers report reach billing too.
            Mount("/webhooks", app=webhook_endpoint(payments, on_event=billing.on_webhook)),
        ]
    )
    app.add_middleware(_RememberAs)
    return DemoHost(app, payments, billing, clock, accounts, secret)


def describe(url: str) -> list[str]:
    """The lines ``paygate serve`` prints: where to go, as whom."""
    lines = [f"paygate demo host on {url}  (DEMO ONLY: ?as= picks the user, no password)"]
    for name, (actor, text) in USERS.items():
        lines.append(f"  {url}billing/?as={name:<7} {actor.ref}: {text}")
    lines.append(f"  staff view (correction requests): {url}billing/staff?as=staff")
    lines.append(f"  webhooks: POST {url}webhooks/sandbox")
    return lines


__all__ = ["USERS", "DemoClock", "DemoHost", "build_demo", "demo_actor", "describe", "seed"]

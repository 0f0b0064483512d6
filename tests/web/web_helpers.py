"""Helpers of the portal tests: a Billing on the sandbox with one subscribed
account, and the portal over it with a test ``authenticate`` (a header names
the user: the host's own sign-in stands behind it in real life)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette", reason="the web extra is not installed (pip install paygate[web])")
pytest.importorskip("httpx2", reason="Starlette's TestClient needs httpx2 (the web-test extra)")

from paygate_pricing.plugin import PricingRules
from starlette.requests import Request
from starlette.testclient import TestClient

import paygate
from paygate.billing import Actor, Billing
from paygate.web import billing_portal

OWNER = Actor.user("owner@example.org")
MEMBER = Actor.user("member@example.org")
SUB_OWNER = Actor.user("sub@example.org")
STRANGER = Actor.user("stranger@example.org")
STAFF = Actor.staff_member("billing-team")
ACTORS = {a.ref: a for a in (OWNER, MEMBER, SUB_OWNER, STRANGER, STAFF)}
VISA = "4242424242424242"
MASTERCARD = "5555555555554444"
SECRET = "test-secret-0123456789abcdef"


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Site:
    client: TestClient
    billing: Billing
    payments: paygate.Payments
    clock: Clock
    main: str
    child: str
    subscription: str

    def charges(self) -> int:
        return int(self.payments.plugin("sandbox").effects.get("charge_recurring", 0))

    def get(self, path: str, user: Actor | None = OWNER, **kw: Any) -> Any:
        headers = {"x-test-user": user.ref} if user is not None else {}
        headers.update(kw.pop("headers", {}))
        return self.client.get(path, headers=headers, **kw)

    def post(self, path: str, data: dict[str, str], user: Actor | None = OWNER, **kw: Any) -> Any:
        headers = {"x-test-user": user.ref} if user is not None else {}
        return self.client.post(path, data=data, headers=headers, follow_redirects=False, **kw)

    def form(self, page_path: str, action: str, user: Actor = OWNER) -> dict[str, str]:
        """The hidden fields of the form posting to ``action`` on a page."""
        html = self.get(page_path, user).text
        return form_fields(html, action)


def test_authenticate(request: Request) -> Actor | None:
    return ACTORS.get(request.headers.get("x-test-user", ""))


test_authenticate.__test__ = False  # type: ignore[attr-defined]


#: A seller and a receiver for the invoice documents (valid check digits).
SELLER = {
    "legal_name": "Webinaires Exemple SAS",
    "address": "12 rue de la Paix\n75002 Paris",
    "country": "FR",
    "vat_id": "FR40303265045",
    "siren": "303265045",
    "legal_form": "SAS",
    "share_capital": "50 000 €",
    "rcs": "RCS Paris",
    "email": "factures@example.fr",
}
RECEIVER = {
    "legal_name": "Hélène Dupré",
    "address": "3 place Bellecour\n69002 Lyon",
    "country": "FR",
    "email": "owner@example.org",
}


def make_site(tmp_path: Path, *, documents: bool = False, **portal_options: Any) -> Site:
    """``documents``: a seller and the Typst renderer are configured, so the
    invoices layer issues legal documents (PDFs) for every paid invoice.
    ``portal_options`` go to :func:`billing_portal` (``stripe_publishable_key``...)."""
    config: dict[str, Any] = {
        "database_url": f"sqlite:///{tmp_path / 'portal.sqlite3'}",
        "pricing": {"nonprofit_discount": "0.10"},
    }
    plugins: list[Any] = [PricingRules]
    if documents:
        from paygate_invoices_typst.plugin import TypstRenderer

        config["invoices"] = {"seller": SELLER}
        plugins.append(TypstRenderer)
    payments = paygate.Payments(config, plugins=plugins, load_entrypoints=False)
    clock = Clock(datetime(2027, 1, 31, 10, tzinfo=UTC))
    billing = Billing(payments, clock=clock)
    main = billing.create_account(OWNER.ref, currency="USD", timezone="Europe/Paris").id
    billing.add_member(main, MEMBER.ref)
    if documents:
        billing.invoices.set_profile(OWNER, main, **RECEIVER)
    child = billing.create_account(SUB_OWNER.ref, currency="USD", parent_id=main).id
    billing.add_payment_method(
        OWNER, main, paygate.Card(VISA, 12, 2031, "123"), idempotency_key="card-1"
    )
    sub = billing.subscribe(OWNER, main, "webinar/s25", idempotency_key="signup").id

    def account_of(actor: Actor) -> str | None:
        if actor.staff or actor == STRANGER:
            return None if actor.staff else main
        return child if actor == SUB_OWNER else main

    app = billing_portal(
        billing,
        authenticate=test_authenticate,
        account_of=account_of,
        secret=SECRET,
        **portal_options,
    )
    return Site(TestClient(app), billing, payments, clock, main, child, sub)


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []
        self._current: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._current = {}
            self.forms.append((a.get("action", ""), self._current))
        elif tag == "input" and self._current is not None and a.get("type") == "hidden":
            self._current[a.get("name", "")] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def form_fields(html: str, action: str) -> dict[str, str]:
    parser = _Forms()
    parser.feed(html)
    for target, fields in parser.forms:
        if target.endswith(action):
            return dict(fields)
    raise AssertionError(f"no form posting to {action} in the page")


def text_of(html: str) -> str:
    """The page's visible text, whitespace collapsed (tags dropped)."""
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)).strip()


class A11y(HTMLParser):
    """What the accessibility checks need from a page: its form controls and
    the labels pointing at them, and its headings in order."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict[str, str]] = []
        self.label_for: set[str] = set()
        self.headings: list[int] = []
        self.lang: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "html":
            self.lang = a.get("lang")
        if tag in ("input", "select", "textarea") and a.get("type") not in ("hidden", "submit"):
            self.controls.append(a)
        if tag == "label" and a.get("for"):
            self.label_for.add(a["for"])
        if re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))


def a11y_problems(html: str) -> list[str]:
    page = A11y()
    page.feed(html)
    problems = []
    if not page.lang:
        problems.append("no lang on <html>")
    for c in page.controls:
        if c.get("id") not in page.label_for and not c.get("aria-label"):
            problems.append(f"control {c.get('name')!r} has no label")
    if page.headings[:1] != [1] or page.headings.count(1) != 1:
        problems.append(f"headings do not start with one h1: {page.headings}")
    for before, after in zip(page.headings, page.headings[1:], strict=False):
        if after > before + 1:
            problems.append(f"heading level jumps from h{before} to h{after}")
    return problems

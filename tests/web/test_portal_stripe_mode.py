"""The portal's card page with Stripe (``stripe_publishable_key``): no card
fields of the host's, Stripe.js and the portal's own script, a CSP that lets
Stripe in on that page only, and a post that carries a ``pm_`` id and nothing
of the card. The card's way through Stripe runs against localstripe in
plugins/paygate-stripe/tests/test_stripe_portal.py."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from web_helpers import (
    OWNER,
    SECRET,
    Site,
    a11y_problems,
    form_fields,
    make_site,
    test_authenticate,
    text_of,
)

from paygate.errors import ConfigurationError
from paygate.web import billing_portal
from paygate.web.security import CSP

PK = "pk_test_51AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
SHIM = "http://127.0.0.1:8421/js.stripe.com/v3/"


@pytest.fixture
def stripe_site(tmp_path: Path) -> Iterator[Site]:
    made = make_site(tmp_path, stripe_publishable_key=PK)
    yield made
    made.client.close()
    made.payments.close()


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inputs: list[dict[str, str]] = []
        self.scripts: list[dict[str, str]] = []
        self.script_bodies: list[str] = []
        self.forms: list[dict[str, str]] = []
        self.noscript = False
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "input":
            self.inputs.append(a)
        elif tag == "script":
            self.scripts.append(a)
            self._in_script = True
            self.script_bodies.append("")
        elif tag == "form":
            self.forms.append(a)
        elif tag == "noscript":
            self.noscript = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_bodies[-1] += data


def parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def methods_and_ops(site: Site) -> tuple[Any, int]:
    account = site.billing.account(OWNER, site.main)
    return account.payment_method, len(site.payments.ledger.operations())


def test_the_stripe_card_page_has_no_card_fields_and_loads_stripe_js(stripe_site: Site) -> None:
    html = stripe_site.get("/card").text
    page = parse(html)
    names = {i.get("name") for i in page.inputs}
    assert not names & {"number", "cvc", "exp_month", "exp_year", "holder"}
    assert not [i for i in page.inputs if i.get("autocomplete", "").startswith("cc-number")]
    assert [s.get("src") for s in page.scripts] == [
        "https://js.stripe.com/v3/",
        "http://testserver/static/stripe-card.js",
    ]
    assert page.script_bodies == ["", ""]  # no inline script: the CSP has no 'unsafe-inline'
    [form] = [f for f in page.forms if f.get("id") == "stripe-card-form"]
    assert form["data-stripe-key"] == PK and form["method"] == "post"
    fields = form_fields(html, "/card")
    assert fields["payment_method"] == ""
    assert {"csrf_token", "idempotency_key"} <= set(fields)
    assert page.noscript and "needs JavaScript" in html
    assert a11y_problems(html) == []


def test_the_sandbox_card_page_has_no_script(site: Site) -> None:
    html = site.get("/card").text
    assert "<script" not in html and 'name="number"' in html
    assert site.get("/card").headers["content-security-policy"] == CSP


def test_stripe_is_let_in_by_the_csp_of_the_card_page_only(stripe_site: Site) -> None:
    csp = stripe_site.get("/card").headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self' https://js.stripe.com"
    assert directives["frame-src"] == "https://js.stripe.com https://hooks.stripe.com"
    assert directives["connect-src"] == "https://api.stripe.com"
    # the strict rest is kept
    assert directives["default-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
    assert directives["form-action"] == "'self'" and directives["style-src"] == "'self'"
    assert "unsafe" not in csp
    for path in ("/", "/plan", "/invoices", "/addons"):
        assert stripe_site.get(path).headers["content-security-policy"] == CSP


def test_a_test_shim_origin_replaces_stripes(tmp_path: Path) -> None:
    shimmed = make_site(tmp_path, stripe_publishable_key=PK, stripe_js=SHIM)
    try:
        page = shimmed.get("/card")
        csp = page.headers["content-security-policy"]
        assert "script-src 'self' http://127.0.0.1:8421;" in csp
        assert "frame-src http://127.0.0.1:8421;" in csp
        assert csp.endswith("connect-src http://127.0.0.1:8421")
        assert "stripe.com" not in csp
        assert f'src="{SHIM}"' in page.text
    finally:
        shimmed.client.close()
        shimmed.payments.close()


def test_the_card_script_is_served_as_javascript(stripe_site: Site) -> None:
    got = stripe_site.get("/static/stripe-card.js")
    assert got.status_code == 200
    assert got.headers["content-type"].startswith("text/javascript")
    assert "createPaymentMethod" in got.text and "payment_method" in got.text


def test_a_posted_card_number_is_refused_and_nothing_is_kept(
    stripe_site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    before = methods_and_ops(stripe_site)
    for extra in (
        {"number": "5555555555554444", "exp_month": "11", "exp_year": "2032", "cvc": "987"},
        {"number": "5555555555554444", "payment_method": "pm_1QabcDEFghiJKLmno"},
        {"cvc": "987", "payment_method": "pm_1QabcDEFghiJKLmno"},
    ):
        fields = form_fields(stripe_site.get("/card").text, "/card")
        fields.update(extra)
        page = stripe_site.post("/card", fields)
        assert page.status_code == 400
        assert "Card numbers are not accepted here" in text_of(page.text)
        for text in (page.text, caplog.text, str(page.headers)):
            assert "5555555555554444" not in text and "987" not in text
    assert methods_and_ops(stripe_site) == before


@pytest.mark.parametrize(
    "token",
    ["", "tok_visa", "pm_", "pm_abc;drop", "pm_abc def", "pm_" + "a" * 101, "pm_é1", "PM_abc"],
)
def test_a_malformed_payment_method_is_refused(stripe_site: Site, token: str) -> None:
    before = methods_and_ops(stripe_site)
    fields = form_fields(stripe_site.get("/card").text, "/card")
    fields["payment_method"] = token
    page = stripe_site.post("/card", fields)
    assert page.status_code == 400
    assert methods_and_ops(stripe_site) == before


def test_a_missing_payment_method_is_refused(stripe_site: Site) -> None:
    before = methods_and_ops(stripe_site)
    fields = form_fields(stripe_site.get("/card").text, "/card")
    del fields["payment_method"]
    assert stripe_site.post("/card", fields).status_code == 400
    assert methods_and_ops(stripe_site) == before


def test_the_stripe_post_still_needs_the_csrf_token(stripe_site: Site) -> None:
    fields = form_fields(stripe_site.get("/card").text, "/card")
    fields.update(payment_method="pm_1QabcDEFghiJKLmno", csrf_token="forged")
    assert stripe_site.post("/card", fields).status_code == 403


def test_the_stripe_card_page_in_french(stripe_site: Site) -> None:
    text = text_of(stripe_site.get("/card?lang=fr").text)
    assert "Coordonnées de la carte" in text and "nous n’en voyons jamais le numéro" in text
    html = stripe_site.get("/card?lang=fr").text
    assert 'data-locale="fr"' in html


# Made up per run, never a real or published key: only its shape matters.
_FAKE_SECRET_BODY = secrets.token_hex(12)


@pytest.mark.parametrize("prefix", ["sk_test_", "sk_live_", "rk_live_", "rk_test_"])
def test_a_secret_key_is_refused_at_construction_and_never_echoed(site: Site, prefix: str) -> None:
    key = prefix + _FAKE_SECRET_BODY
    with pytest.raises(ConfigurationError) as info:
        billing_portal(
            site.billing,
            authenticate=test_authenticate,
            account_of=lambda actor: site.main,
            secret=SECRET,
            stripe_publishable_key=key,
        )
    assert info.value.param == "stripe_publishable_key"
    assert "secret" in info.value.message
    assert _FAKE_SECRET_BODY not in str(info.value) + repr(info.value)


@pytest.mark.parametrize(
    ("options", "param"),
    [
        ({"stripe_publishable_key": "pk_foo_123"}, "stripe_publishable_key"),
        ({"stripe_publishable_key": ""}, "stripe_publishable_key"),
        ({"stripe_publishable_key": 'pk_test_abc"><script>'}, "stripe_publishable_key"),
        ({"stripe_publishable_key": 42}, "stripe_publishable_key"),
        ({"stripe_publishable_key": PK, "stripe_js": "http://evil.example/v3/"}, "stripe_js"),
        ({"stripe_publishable_key": PK, "stripe_js": "javascript:alert(1)"}, "stripe_js"),
        (
            {"stripe_publishable_key": PK, "stripe_js": "https://js.stripe.com/v3/'; script-src *"},
            "stripe_js",
        ),
        ({"stripe_publishable_key": PK, "stripe_js": "https://u:p@js.stripe.com/v3/"}, "stripe_js"),
    ],
)
def test_bad_stripe_options_are_typed_errors(
    site: Site, options: dict[str, Any], param: str
) -> None:
    with pytest.raises(ConfigurationError) as info:
        billing_portal(
            site.billing,
            authenticate=test_authenticate,
            account_of=lambda actor: site.main,
            secret=SECRET,
            **options,
        )
    assert info.value.param == param


def test_a_live_key_is_accepted_and_shown_to_the_browser(site: Site) -> None:
    live = "pk_live_" + "Ab1" * 10
    app = billing_portal(
        site.billing,
        authenticate=test_authenticate,
        account_of=lambda actor: site.main,
        secret=SECRET,
        stripe_publishable_key=live,
    )
    with TestClient(app) as client:
        page = client.get("/card", headers={"x-test-user": OWNER.ref})
    assert page.status_code == 200 and f'data-stripe-key="{live}"' in page.text

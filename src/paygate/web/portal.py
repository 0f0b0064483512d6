"""``billing_portal``: the customer billing pages, as an ASGI app a host mounts.

Server-rendered (Jinja2), no JavaScript: every action is a form that posts
back here. The one exception is card entry with Stripe
(``stripe_publishable_key``): that page loads Stripe.js, whose card Element
sends the card from the browser to Stripe, and posts back only the
PaymentMethod id (card numbers never touch the host).

The host says who is asking (``authenticate``) and which billing
account that user looks at (``account_of``); :class:`paygate.billing.Billing`
decides what they may do (its ``paygate_billing_authorize`` hook), so a
multi-user or a sub-account gets the 403 page, never the data.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from paygate.billing import (
    Actor,
    Billing,
    BillingNotFound,
    BillingPermissionDenied,
    Preview,
    StalePreview,
)
from paygate.errors import ConfigurationError, NotFound, PaygateError
from paygate.models import Card, StoredPaymentMethod
from paygate.redaction import scrub_text
from paygate.web import i18n
from paygate.web.security import (
    CSP,
    CSRF_COOKIE,
    CSRF_FIELD,
    IDEMPOTENCY_FIELD,
    Csrf,
    Once,
    SecurityHeaders,
    new_idempotency_key,
)

log = logging.getLogger("paygate.web")
T = TypeVar("T")

Authenticate = Callable[[Request], "Actor | Awaitable[Actor | None] | None"]
AccountOf = Callable[[Actor], "str | None"]

#: Flash messages a redirect may name (codes, never text from the request).
_DONE = {
    "card": "The card was added.",
    "done": "Done.",
    "correction": "Request sent: the billing team will review it.",
}
_FREEZE_DAYS = (30, 60, 90)
#: UNTDID 1001 document types, as the history names them.
_DOC_TYPES = {
    "380": "Invoice (380)",
    "381": "Credit note (381)",
    "384": "Corrected invoice (384)",
}


#: The provider that keeps what Stripe.js makes (the paygate-stripe plugin's name).
STRIPE_PROVIDER = "stripe"
STRIPE_JS = "https://js.stripe.com/v3/"
_PUBLISHABLE_KEY = re.compile(r"pk_(test|live)_[A-Za-z0-9]{1,247}")
#: A PaymentMethod id as Stripe.js gives it (``pm_`` and letters, digits, ``_``).
_PAYMENT_METHOD = re.compile(r"pm_[A-Za-z0-9_]{1,100}")
#: Fields of the sandbox's card form: a post carrying one in Stripe mode is refused.
_CARD_FIELDS = ("number", "cvc", "exp_month", "exp_year")
_HOST = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


def _stripe_key(key: object) -> str:
    """The publishable key, checked: a secret key here would be rendered
    into every card page, so it is refused (and never echoed)."""
    if not isinstance(key, str):
        raise ConfigurationError(
            "stripe_publishable_key must be a str (pk_test_... or pk_live_...)",
            param="stripe_publishable_key",
        )
    if key.startswith(("sk_", "rk_")):
        raise ConfigurationError(
            "stripe_publishable_key got a secret or restricted key (sk_/rk_): give the "
            "publishable key (pk_test_... or pk_live_...); the secret key stays in the "
            "Stripe plugin's configuration and must never reach a browser",
            param="stripe_publishable_key",
        )
    if not _PUBLISHABLE_KEY.fullmatch(key):
        raise ConfigurationError(
            "stripe_publishable_key must be a Stripe publishable key (pk_test_... or pk_live_...)",
            param="stripe_publishable_key",
        )
    return key


def _stripe_csp(stripe_js: object) -> tuple[str, str]:
    """``(stripe_js, CSP of the card page)``: the portal's strict policy plus
    what Stripe.js needs (its script, its frames, its API), or, for a test
    shim (localstripe), that one origin for all three."""
    if not isinstance(stripe_js, str):
        raise ConfigurationError("stripe_js must be a URL (str)", param="stripe_js")
    parts = urlsplit(stripe_js)
    local = parts.scheme == "http" and parts.netloc.split("@")[-1].rsplit(":", 1)[0] in _LOOPBACK
    if (
        not (parts.scheme == "https" or local)
        or not parts.netloc
        or "@" in parts.netloc
        or not _HOST.fullmatch(parts.netloc)
        or any(c in stripe_js for c in " ;,'\"\\<>")
    ):
        raise ConfigurationError(
            "stripe_js must be an https URL (http only on 127.0.0.1 or localhost, for tests)",
            param="stripe_js",
        )
    origin = f"{parts.scheme}://{parts.netloc}"
    if origin == "https://js.stripe.com":
        # Stripe's documented policy for Stripe.js and Elements
        script, frame, connect = (
            origin,
            "https://js.stripe.com https://hooks.stripe.com",
            "https://api.stripe.com",
        )
    else:
        script = frame = connect = origin
    policy = f"{CSP}; script-src 'self' {script}; frame-src {frame}; connect-src {connect}"
    return stripe_js, policy


class _Refused(Exception):
    """Stop a request with a rendered page (403, 404, CSRF...)."""

    def __init__(self, response: Response) -> None:
        self.response = response


@dataclass
class _Page:
    request: Request
    actor: Actor
    lang: str
    csrf_cookie: str
    new_cookie: bool

    @property
    def gettext(self) -> Callable[..., str]:
        return i18n.translator(self.lang)


class Portal:
    """The portal's state; :func:`billing_portal` builds its ASGI app."""

    def __init__(
        self,
        billing: Billing,
        *,
        authenticate: Authenticate,
        account_of: AccountOf,
        secret: str | bytes,
        templates: str | Path | None = None,
        https_only: bool = False,
        stripe_publishable_key: str | None = None,
        stripe_js: str = STRIPE_JS,
    ) -> None:
        self.stripe_key: str | None = None
        self.stripe_js: str | None = None
        self.stripe_csp: str | None = None
        if stripe_publishable_key is not None:
            self.stripe_key = _stripe_key(stripe_publishable_key)
            self.stripe_js, self.stripe_csp = _stripe_csp(stripe_js)
        self.billing = billing
        self.authenticate = authenticate
        self.account_of = account_of
        self.csrf = Csrf(secret)
        self.once = Once()
        self.https_only = https_only
        loaders: list[Any] = [PackageLoader("paygate.web", "templates")]
        if templates is not None:
            loaders.insert(0, FileSystemLoader(str(templates)))
        self.env = Environment(
            loader=ChoiceLoader(loaders),
            autoescape=select_autoescape(default=True, default_for_string=True),
        )

    # -- plumbing ---------------------------------------------------------------------
    async def _page(self, request: Request) -> _Page:
        lang = i18n.negotiate(
            request.headers.get("accept-language"),
            request.query_params.get("lang") or request.cookies.get(i18n.COOKIE),
        )
        found = self.authenticate(request)
        actor = await found if isinstance(found, Awaitable) else found
        cookie = request.cookies.get(CSRF_COOKIE)
        page = _Page(request, Actor("anonymous"), lang, cookie or Csrf.new_cookie(), not cookie)
        if not isinstance(actor, Actor):
            raise _Refused(
                self._message(
                    page, 401, "Please sign in", "Sign in to the application to see your billing."
                )
            )
        page.actor = actor
        return page

    def _render(self, page: _Page, template: str, status: int = 200, **values: Any) -> Response:
        request = page.request

        def url(name: str, path: Mapping[str, str] | None = None, **query: Any) -> str:
            base = str(request.url_for(name, **(path or {})))
            clean = {k: v for k, v in query.items() if v is not None}
            return base + ("?" + urlencode(clean) if clean else "")

        lang_links = {
            code: str(request.url.include_query_params(lang=code)) for code in i18n.LANGUAGES
        }
        html = self.env.get_template(template).render(
            _=page.gettext,
            lang=page.lang,
            lang_links=lang_links,
            url=url,
            money=partial(i18n.money, lang=page.lang),
            day=partial(i18n.day, lang=page.lang),
            csrf_field=CSRF_FIELD,
            csrf_token=self.csrf.token(page.csrf_cookie, page.actor.ref),
            idem_field=IDEMPOTENCY_FIELD,
            new_key=new_idempotency_key,
            actor=page.actor,
            doc_types=_DOC_TYPES,
            **values,
        )
        response = HTMLResponse(html, status_code=status)
        if page.new_cookie:
            response.set_cookie(
                CSRF_COOKIE,
                page.csrf_cookie,
                httponly=True,
                samesite="strict",
                secure=self.https_only,
                path="/",
            )
        chosen = request.query_params.get("lang")
        if chosen in i18n.LANGUAGES:
            response.set_cookie(i18n.COOKIE, chosen, max_age=365 * 86400, samesite="lax", path="/")
        return response

    def _message(self, page: _Page, status: int, title: str, text: str, **values: Any) -> Response:
        return self._render(page, "message.html", status, title=title, text=text, **values)

    def _account(self, page: _Page) -> str:
        found = self.account_of(page.actor)
        if not found:
            raise _Refused(self._message(page, 404, "Not found", "There is nothing here."))
        return found

    async def _call(self, page: _Page, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        """Run a (blocking) billing call off the event loop, turning its typed
        errors into pages."""
        try:
            return await run_in_threadpool(fn, *args, **kw)
        except BillingPermissionDenied:
            raise _Refused(await self._forbidden(page)) from None
        except (BillingNotFound, NotFound):
            raise _Refused(
                self._message(page, 404, "Not found", "There is nothing here.")
            ) from None

    async def _forbidden(self, page: _Page) -> Response:
        owner = await run_in_threadpool(self._billing_owner, self.account_of(page.actor))
        return self._render(page, "forbidden.html", 403, owner=owner)

    def _billing_owner(self, account_id: str | None) -> str | None:
        """Who may use this account's billing: the owner of the main account
        (a sub-account's billing is its parent's). Read from billing's store:
        the 403 page must say who can, to someone who may not read the account."""
        if not account_id:
            return None
        store = self.billing.store
        try:
            with store.read() as conn:
                acct = store.account(conn, account_id)
                if acct.parent_id:
                    acct = store.account(conn, acct.parent_id)
        except PaygateError:
            return None
        return acct.owner_ref

    async def _form(self, page: _Page) -> FormData:
        """The posted form, after its CSRF token is checked."""
        form = await page.request.form()
        if not self.csrf.check(
            page.request.cookies.get(CSRF_COOKIE), page.actor.ref, form.get(CSRF_FIELD)
        ):
            log.warning(
                "portal: refused a post without a valid CSRF token (%s)", page.request.url.path
            )
            raise _Refused(
                self._message(
                    page,
                    403,
                    "This form expired",
                    "Reload the page and send it again (nothing was done).",
                )
            )
        return form

    async def _once(
        self, page: _Page, form: FormData, action: Callable[[str], Awaitable[str]]
    ) -> Response:
        """Do ``action`` once per idempotency key in the form; a repeat (a
        double click, a refresh of the post) is redirected where the first went."""
        raw = form.get(IDEMPOTENCY_FIELD)
        if not isinstance(raw, str) or not 16 <= len(raw) <= 100:
            raise _Refused(
                self._message(
                    page,
                    400,
                    "This form expired",
                    "Reload the page and send it again (nothing was done).",
                )
            )
        key = f"{page.actor.ref}\x00{raw}"
        lock = self.once.lock(key)
        got = await run_in_threadpool(lock.acquire, True, 60)
        if not got:
            raise _Refused(
                self._message(page, 409, "That did not work", "Please wait and reload the page.")
            )
        try:
            done = self.once.get(key)
            if done is None:
                done = await action(raw)
                self.once.put(key, done)
        finally:
            lock.release()
        return RedirectResponse(done, status_code=303)

    def _problem(self, page: _Page, exc: PaygateError, status: int = 400) -> Response:
        # paygate errors never hold a card number; scrubbed again all the same
        return self._message(page, status, "That did not work", scrub_text(exc.message))

    # -- pages ----------------------------------------------------------------------------
    async def details(self, request: Request) -> Response:
        page = await self._page(request)
        acct = self._account(page)
        try:
            d = await self._call(page, self.billing.details, page.actor, acct)
        except PaygateError as exc:
            if exc.code.value == "invalid_state":
                return self._message(
                    page, 200, "No subscription", "This account has no subscription yet."
                )
            raise
        sub = await self._call(page, self.billing.subscription, page.actor, d.subscription_id)
        done = _DONE.get(request.query_params.get("done", ""))
        return self._render(
            page,
            "details.html",
            d=d,
            sub=sub,
            done=done,
            freeze_days=_FREEZE_DAYS,
        )

    async def plan(self, request: Request) -> Response:
        page = await self._page(request)
        acct = self._account(page)
        d = await self._call(page, self.billing.details, page.actor, acct)
        sub = await self._call(page, self.billing.subscription, page.actor, d.subscription_id)
        plans = [o for o in self.billing.catalog.offers.values() if o.kind == "plan"]
        return self._render(page, "plan.html", d=d, sub=sub, plans=plans)

    def _preview_of(
        self, actor: Actor, sub_id: str, kind: str, params: Mapping[str, Any]
    ) -> Preview:
        if kind == "change_plan":
            return self.billing.preview_change(
                actor, sub_id, plan=params.get("plan") or None, cycle=params.get("cycle") or None
            )
        if kind == "add_addon":
            try:
                quantity = int(params.get("quantity") or 1)
            except ValueError:
                quantity = 0
            return self.billing.preview_add_addon(
                actor, sub_id, str(params.get("addon", "")), quantity=quantity
            )
        if kind == "remove_addon":
            return self.billing.preview_remove_addon(actor, sub_id, str(params.get("item", "")))
        raise BillingNotFound(f"no change {kind!r:.30}")

    async def preview(self, request: Request) -> Response:
        page = await self._page(request)
        acct = self._account(page)
        kind = request.query_params.get("kind", "change_plan")
        params = {k: v for k, v in request.query_params.items() if k in _PARAMS}
        d = await self._call(page, self.billing.details, page.actor, acct)
        try:
            p = await self._call(
                page, self._preview_of, page.actor, d.subscription_id, kind, params
            )
        except PaygateError as exc:
            return self._problem(page, exc)
        return self._render(page, "preview.html", p=p, kind=kind, params=params, stale=False)

    async def confirm(self, request: Request) -> Response:
        page = await self._page(request)
        acct = self._account(page)
        form = await self._form(page)
        kind = str(form.get("kind", ""))
        params = {k: str(v) for k, v in form.items() if k in _PARAMS}

        async def act(_key: str) -> str:
            d = await self._call(page, self.billing.details, page.actor, acct)
            fresh = await self._call(
                page, self._preview_of, page.actor, d.subscription_id, kind, params
            )
            if fresh.fingerprint != form.get("fingerprint"):
                raise _Refused(
                    self._render(
                        page, "preview.html", 409, p=fresh, kind=kind, params=params, stale=True
                    )
                )
            try:
                await self._call(page, self.billing.apply, page.actor, fresh)
            except StalePreview:
                again = await self._call(
                    page, self._preview_of, page.actor, d.subscription_id, kind, params
                )
                raise _Refused(
                    self._render(
                        page, "preview.html", 409, p=again, kind=kind, params=params, stale=True
                    )
                ) from None
            return str(request.url_for("details")) + "?done=done"

        try:
            return await self._once(page, form, act)
        except PaygateError as exc:
            return self._problem(page, exc, 402 if exc.code.value == "card_declined" else 400)

    def _card_page(self, page: _Page, status: int = 200, error: str | None = None) -> Response:
        """The card page: the sandbox's test-card form, or with Stripe the card
        Element (its page alone lets Stripe.js in through the CSP)."""
        response = self._render(
            page,
            "card.html",
            status,
            error=error,
            stripe_key=self.stripe_key,
            stripe_js=self.stripe_js,
        )
        if self.stripe_csp is not None:
            response.headers["content-security-policy"] = self.stripe_csp
        return response

    async def card(self, request: Request) -> Response:
        page = await self._page(request)
        acct = self._account(page)
        # viewing the form already needs the right to see billing
        await self._call(page, self.billing.account, page.actor, acct)
        return self._card_page(page)

    def _stripe_method(self, page: _Page, form: FormData) -> StoredPaymentMethod:
        """The PaymentMethod id Stripe.js made, checked; a post with card
        fields is refused unread (card numbers never touch the host)."""
        if any(name in form for name in _CARD_FIELDS):
            raise _Refused(
                self._message(
                    page,
                    400,
                    "That did not work",
                    "Card numbers are not accepted here (nothing was done).",
                )
            )
        token = form.get("payment_method")
        if not isinstance(token, str) or not _PAYMENT_METHOD.fullmatch(token):
            raise _Refused(
                self._message(
                    page,
                    400,
                    "That did not work",
                    "Reload the page and send it again (nothing was done).",
                )
            )
        return StoredPaymentMethod(provider=STRIPE_PROVIDER, token=token)

    async def card_post(self, request: Request) -> Response:
        page = await self._page(request)
        acct = self._account(page)
        form = await self._form(page)
        method: Card | StoredPaymentMethod
        if self.stripe_key is not None:
            method = self._stripe_method(page, form)
        else:
            # read once, never rendered back: an error re-shows an empty form
            try:
                method = Card(
                    str(form.get("number", "")).replace(" ", ""),
                    int(str(form.get("exp_month", "0")) or 0),
                    int(str(form.get("exp_year", "0")) or 0),
                    str(form.get("cvc", "")) or None,
                    str(form.get("holder", "")) or None,
                )
            except (ValueError, TypeError):
                return self._card_page(page, 400, "Check the card number, expiry and CVC.")

        async def act(key: str) -> str:
            await self._call(
                page, self.billing.add_payment_method, page.actor, acct, method, idempotency_key=key
            )
            return str(request.url_for("details")) + "?done=card"

        try:
            return await self._once(page, form, act)
        except PaygateError as exc:
            return self._card_page(page, 402, scrub_text(exc.message))

    async def addons(self, request: Request) -> Response:
        page = await self._page(request)
        acct = self._account(page)
        d = await self._call(page, self.billing.details, page.actor, acct)
        sub = await self._call(page, self.billing.subscription, page.actor, d.subscription_id)
        catalog = self.billing.catalog
        mine = [(i, catalog.offer(i.offer)) for i in sub.active_items() if i.kind != "plan"]
        removing = set((sub.pending or {}).get("remove", []))
        buyable = [o for o in catalog.offers.values() if o.kind != "plan" and sub.cycle in o.cycles]
        return self._render(page, "addons.html", d=d, mine=mine, removing=removing, buyable=buyable)

    async def lifecycle(self, request: Request) -> Response:
        """Freeze, unfreeze, cancel at the period end, reactivate."""
        page = await self._page(request)
        acct = self._account(page)
        form = await self._form(page)
        what = request.path_params["what"]
        if what not in _LIFECYCLE:
            return self._message(page, 404, "Not found", "There is nothing here.")

        async def act(_key: str) -> str:
            d = await self._call(page, self.billing.details, page.actor, acct)
            sub_id = d.subscription_id
            if what == "freeze":
                try:
                    days = int(str(form.get("days", "")))
                except ValueError:
                    days = 0
                await self._call(page, self.billing.freeze, page.actor, sub_id, days=days)
            elif what == "unfreeze":
                await self._call(page, self.billing.unfreeze, page.actor, sub_id)
            elif what == "cancel":
                await self._call(page, self.billing.cancel, page.actor, sub_id, at="period_end")
            else:
                await self._call(page, self.billing.reactivate, page.actor, sub_id)
            return str(request.url_for("details")) + "?done=done"

        try:
            return await self._once(page, form, act)
        except PaygateError as exc:
            return self._problem(page, exc)

    async def invoices(self, request: Request) -> Response:
        """The invoice history: the legal documents (PDF, links between an
        original and its corrections) once the invoices layer issues them,
        else the billing records; and the account's correction requests."""
        page = await self._page(request)
        acct = self._account(page)
        docs = await self._call(page, self.billing.invoices.list, page.actor, acct)
        requests = await self._call(page, self.billing.invoices.corrections, page.actor, acct)
        records: list[Any] = []
        if not docs:
            found = await self._call(page, self.billing.invoices, page.actor, acct)
            records = [i for i in found if i.status != "draft"]
            records.reverse()
        numbers = {d.id: d.number_text for d in docs}
        pending = {r.document_id for r in requests if r.status == "pending"}
        done = _DONE.get(request.query_params.get("done", ""))
        return self._render(
            page,
            "invoices.html",
            docs=list(reversed(docs)),
            numbers=numbers,
            pending=pending,
            requests=list(reversed(requests)),
            invoices=records,
            done=done,
        )

    async def pdf(self, request: Request) -> Response:
        """A document's PDF: only the actor's own account's (another
        account's id is a 404, as if it did not exist)."""
        page = await self._page(request)
        doc = await self._own_document(page, request.path_params["doc"])
        data = await self._call(page, self.billing.invoices.pdf, page.actor, doc.id)
        name = "".join(c if c.isalnum() or c in "-_" else "-" for c in doc.number_text)
        return Response(
            data,
            media_type="application/pdf",
            headers={"content-disposition": f'attachment; filename="{name}.pdf"'},
        )

    async def _own_document(self, page: _Page, doc_id: str) -> Any:
        """The document, if it is of the account the actor may see; a
        multi-user gets the 403 page, an id of another account a 404."""
        acct = self._account(page)
        await self._call(page, self.billing.account, page.actor, acct)
        try:
            doc = await run_in_threadpool(self.billing.invoices.show, page.actor, doc_id)
        except (BillingPermissionDenied, BillingNotFound, NotFound):
            doc = None
        if doc is None or doc.account_id != acct:
            raise _Refused(self._message(page, 404, "Not found", "There is nothing here."))
        return doc

    async def correction(self, request: Request) -> Response:
        page = await self._page(request)
        doc = await self._own_document(page, request.path_params["doc"])
        return self._render(page, "correction.html", doc=doc, error=None)

    async def correction_post(self, request: Request) -> Response:
        page = await self._page(request)
        doc = await self._own_document(page, request.path_params["doc"])
        form = await self._form(page)

        # what the form sent (a browser sends every field, pre-filled with the
        # document's receiver); an emptied optional field removes the detail
        changes: dict[str, str | None] = {
            name: str(form.get(name, "")).strip() or None
            for name in ("legal_name", "address", "country", "vat_id", "email")
            if name in form
        }

        async def act(_key: str) -> str:
            await self._call(
                page,
                self.billing.invoices.request_correction,
                page.actor,
                doc.id,
                reason=str(form.get("reason", "")),
                disable_old_receiver=form.get("disable_old_receiver") == "yes",
                **changes,
            )
            return str(request.url_for("invoices")) + "?done=correction"

        try:
            return await self._once(page, form, act)
        except PaygateError as exc:
            return self._render(
                page, "correction.html", 400, doc=doc, error=scrub_text(exc.message)
            )

    # -- the billing staff --------------------------------------------------------------
    def _staff_only(self, page: _Page) -> None:
        if not page.actor.staff:
            raise _Refused(
                self._message(page, 403, "Staff only", "Only the billing staff decide corrections.")
            )

    async def staff(self, request: Request) -> Response:
        page = await self._page(request)
        self._staff_only(page)
        pending = await self._call(page, self.billing.invoices.pending_corrections, page.actor)
        docs = {
            r.document_id: await self._call(
                page, self.billing.invoices.show, page.actor, r.document_id
            )
            for r in pending
        }
        done = _DONE.get(request.query_params.get("done", ""))
        return self._render(page, "staff.html", pending=pending, docs=docs, done=done)

    async def staff_decide(self, request: Request) -> Response:
        page = await self._page(request)
        self._staff_only(page)
        form = await self._form(page)
        request_id = request.path_params["request"]
        what = request.path_params["what"]
        if what not in ("accept", "reject"):
            return self._message(page, 404, "Not found", "There is nothing here.")

        async def act(_key: str) -> str:
            reason = str(form.get("reason", ""))
            if what == "accept":
                await self._call(
                    page,
                    self.billing.invoices.accept_correction,
                    page.actor,
                    request_id,
                    reason=reason,
                )
            else:
                await self._call(
                    page,
                    self.billing.invoices.reject_correction,
                    page.actor,
                    request_id,
                    reason=reason,
                )
            return str(request.url_for("staff")) + "?done=done"

        try:
            return await self._once(page, form, act)
        except PaygateError as exc:
            return self._problem(page, exc)

    def app(self) -> Starlette:
        def route(
            path: str,
            handler: Callable[[Request], Awaitable[Response]],
            name: str,
            methods: tuple[str, ...] = ("GET",),
        ) -> Route:
            async def endpoint(request: Request) -> Response:
                try:
                    return await handler(request)
                except _Refused as refused:
                    return refused.response

            return Route(path, endpoint, methods=list(methods), name=name)

        async def css(request: Request) -> Response:
            text = resources.files("paygate.web").joinpath("static/portal.css").read_text("utf-8")
            return Response(text, media_type="text/css")

        async def stripe_card_js(request: Request) -> Response:
            text = (
                resources.files("paygate.web").joinpath("static/stripe-card.js").read_text("utf-8")
            )
            return Response(text, media_type="text/javascript")

        routes = [
            route("/", self.details, "details"),
            route("/plan", self.plan, "plan"),
            route("/preview", self.preview, "preview"),
            route("/confirm", self.confirm, "confirm", ("POST",)),
            route("/card", self.card, "card"),
            route("/card", self.card_post, "card_post", ("POST",)),
            route("/addons", self.addons, "addons"),
            route("/lifecycle/{what:str}", self.lifecycle, "lifecycle", ("POST",)),
            route("/invoices", self.invoices, "invoices"),
            route("/documents/{doc:str}.pdf", self.pdf, "pdf"),
            route("/documents/{doc:str}/correction", self.correction, "correction"),
            route(
                "/documents/{doc:str}/correction",
                self.correction_post,
                "correction_post",
                ("POST",),
            ),
            route("/staff", self.staff, "staff"),
            route("/staff/{request:str}/{what:str}", self.staff_decide, "staff_decide", ("POST",)),
            Route("/static/portal.css", css, name="css"),
            Route("/static/stripe-card.js", stripe_card_js, name="stripe_card_js"),
        ]
        app = Starlette(routes=routes)
        app.add_middleware(SecurityHeaders)
        return app


_PARAMS = frozenset({"plan", "cycle", "addon", "quantity", "item"})
_LIFECYCLE = frozenset({"freeze", "unfreeze", "cancel", "reactivate"})


def billing_portal(
    billing: Billing,
    *,
    authenticate: Authenticate,
    account_of: AccountOf,
    secret: str | bytes,
    templates: str | Path | None = None,
    https_only: bool = False,
    stripe_publishable_key: str | None = None,
    stripe_js: str = STRIPE_JS,
) -> Starlette:
    """The billing portal as an ASGI app to mount (``app.mount("/billing", ...)``).

    :param authenticate: ``authenticate(request) -> Actor | None`` (may be
        async): the host's own session or token check. ``None`` shows the
        "please sign in" page; the portal stores no passwords.
    :param account_of: the billing account id the signed-in actor looks at.
    :param secret: the host's secret (16+ bytes) that signs CSRF tokens.
    :param templates: a folder whose templates override the shipped ones
        (same names; see docs/portal.md).
    :param https_only: mark the CSRF cookie ``Secure``.
    :param stripe_publishable_key: card entry with Stripe: the "Add a new
        card" page mounts Stripe.js's card Element and posts back only the
        PaymentMethod id (``pm_...``), stored with the ``stripe`` provider;
        card numbers never touch the host. The publishable key
        (``pk_test_``/``pk_live_``); a secret key is refused
        (``ConfigurationError``). ``None``: the sandbox's test-card form.
    :param stripe_js: where Stripe.js is loaded from (Stripe's own URL; tests
        point it at localstripe's shim). The card page's CSP lets in this
        origin (or Stripe's documented ones) and nothing else.
    """
    return Portal(
        billing,
        authenticate=authenticate,
        account_of=account_of,
        secret=secret,
        templates=templates,
        https_only=https_only,
        stripe_publishable_key=stripe_publishable_key,
        stripe_js=stripe_js,
    ).app()


__all__ = ["STRIPE_JS", "STRIPE_PROVIDER", "Portal", "billing_portal"]

"""The portal's card entry with Stripe in a real browser: Debian's chromium
(Selenium, /usr/bin/chromedriver) on the Stripe-mode card page, with
``stripe_js`` pointed at localstripe's fake Stripe.js, served from a stand-in
"js.stripe.com" on 127.0.0.1.

localstripe's Stripe.js has the card Element but an empty
``createPaymentMethod``, and its server takes ``POST /v1/payment_methods``
only with the secret key. So the stand-in serves localstripe's script with a
``createPaymentMethod`` added (the card's fields to ``/v1/payment_methods``,
as Stripe.js sends them), and passes that one call to localstripe with the
secret key, as Stripe's API would take it with the publishable key. The
portal's page, CSP, script and route, Billing and the Stripe plugin are the
real ones."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette", reason="the web extra is not installed (pip install paygate[web])")
pytest.importorskip("paygate_pricing", reason="paygate-pricing is not installed")
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.skip(
        "chromium/chromedriver missing (apt-get install chromium chromium-driver)",
        allow_module_level=True,
    )
pytest.importorskip("selenium", reason="selenium is not installed (paygate[web-test])")
uvicorn = pytest.importorskip("uvicorn", reason="uvicorn is not installed (paygate[web-test])")

from paygate_stripe.localserver import LOCALSTRIPE_KEY, LocalStripe  # noqa: E402
from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.concurrency import run_in_threadpool  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import Response  # noqa: E402
from starlette.routing import Route  # noqa: E402
from starlette.types import Receive, Scope, Send  # noqa: E402
from stripe_fixtures import EXP_YEAR, Requests  # noqa: E402
from stripe_portal import OWNER, PUBLISHABLE, SECRET, StripeBilling, stripe_billing  # noqa: E402

from paygate.web import billing_portal  # noqa: E402

pytestmark = [pytest.mark.localserver, pytest.mark.slow]

#: Appended to localstripe's Stripe.js: the createPaymentMethod it lacks.
CREATE_PAYMENT_METHOD = """
;(function () {
  var makeStripe = Stripe;
  Stripe = function (key) {
    var stripe = makeStripe(key);
    stripe.createPaymentMethod = async function (data) {
      var card = data.card && data.card.value && data.card.value.card;
      if (!card) {
        return {error: {message: 'Your card number is incomplete.'}};
      }
      var body = new URLSearchParams();
      body.append('type', data.type);
      Object.keys(card).forEach(function (field) {
        body.append('card[' + field + ']', card[field]);
      });
      if (data.billing_details && data.billing_details.name) {
        body.append('billing_details[name]', data.billing_details.name);
      }
      body.append('key', key);
      var response = await fetch(LOCALSTRIPE_BASE_API + '/v1/payment_methods',
                                 {method: 'POST', body: body});
      var res = await response.json().catch(function () { return {}; });
      return response.ok && !res.error ? {paymentMethod: res} : {error: res.error || {}};
    };
    return stripe;
  };
})();
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stand_in(localstripe: LocalStripe) -> Starlette:
    """A "js.stripe.com" for the browser: localstripe's Stripe.js (with
    createPaymentMethod) and the one API call it makes."""
    with urllib.request.urlopen(f"{localstripe.url}/js.stripe.com/v3/", timeout=10) as got:  # noqa: S310
        script = got.read().decode() + CREATE_PAYMENT_METHOD

    async def js(request: Request) -> Response:
        return Response(script, media_type="text/javascript")

    async def payment_methods(request: Request) -> Response:
        body = await request.body()
        forwarded = urllib.request.Request(  # noqa: S310 - localstripe on loopback
            f"{localstripe.url}/v1/payment_methods",
            data=body,
            headers={
                "authorization": f"Bearer {LOCALSTRIPE_KEY}",
                "content-type": "application/x-www-form-urlencoded",
            },
            method="POST",
        )

        def send() -> tuple[int, bytes]:
            try:
                with urllib.request.urlopen(forwarded, timeout=10) as answer:  # noqa: S310
                    return answer.status, answer.read()
            except urllib.error.HTTPError as refused:
                return refused.code, refused.read()

        status, data = await run_in_threadpool(send)
        origin = request.headers.get("origin", "*")
        return Response(
            data,
            status_code=status,
            media_type="application/json",
            headers={"access-control-allow-origin": origin},
        )

    return Starlette(
        routes=[
            Route("/js.stripe.com/v3/", js),
            Route("/v1/payment_methods", payment_methods, methods=["POST"]),
        ]
    )


class Recorder:
    """ASGI wrapper keeping every request body the portal receives."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def recording() -> Any:
            message = await receive()
            if message.get("type") == "http.request":
                self.bodies.append(message.get("body", b""))
            return message

        await self.app(scope, recording, send)


def serve(app: Any) -> tuple[uvicorn.Server, threading.Thread, int]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start in 20 s"
    return server, thread, port


@dataclass
class Page:
    driver: Any
    base: str
    site: StripeBilling
    portal: Recorder

    def wait_for(self, text: str, timeout: float = 15) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if text in self.driver.find_element(By.TAG_NAME, "body").text:
                    return True
            except WebDriverException:  # the page is being replaced
                pass
            time.sleep(0.1)
        return False


@pytest.fixture
def page(tmp_path: Path, localstripe_server: LocalStripe) -> Iterator[Page]:
    site = stripe_billing(tmp_path, localstripe_server)
    # a first card and a subscription, so the details page has something to show
    site.billing.add_payment_method(OWNER, site.account, Requests().card(), idempotency_key="c1")
    site.billing.subscribe(OWNER, site.account, "webinar/s25", idempotency_key="signup")
    servers = []
    stripe_server, stripe_thread, stripe_port = serve(stand_in(localstripe_server))
    servers.append((stripe_server, stripe_thread))
    portal = Recorder(
        billing_portal(
            site.billing,
            authenticate=lambda request: OWNER,
            account_of=lambda actor: site.account,
            secret=SECRET,
            stripe_publishable_key=PUBLISHABLE,
            stripe_js=f"http://127.0.0.1:{stripe_port}/js.stripe.com/v3/",
        )
    )
    portal_server, portal_thread, portal_port = serve(portal)
    servers.append((portal_server, portal_thread))
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--lang=en-US"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield Page(driver, f"http://127.0.0.1:{portal_port}", site, portal)
    finally:
        driver.quit()
        for server, thread in servers:
            server.should_exit = True
            thread.join(timeout=10)
        site.close()


def test_a_card_entered_in_stripes_element_is_stored(page: Page) -> None:
    driver = page.driver
    driver.get(page.base + "/card")
    # localstripe's Element mounts its fields (number, exp_month, exp_year, cvc, postal_code)
    deadline = time.monotonic() + 15
    fields: list[Any] = []
    while len(fields) < 5 and time.monotonic() < deadline:
        fields = driver.find_elements(By.CSS_SELECTOR, "#card-element input")
        time.sleep(0.1)
    assert len(fields) == 5, "Stripe.js's card Element was not mounted"
    # the portal's own page has no card field: only the Element's
    assert not driver.find_elements(By.CSS_SELECTOR, "form input[name=number]")
    driver.find_element(By.ID, "card-holder").send_keys("Ann Owner")
    values = ["5555555555554444", "11", str(EXP_YEAR)[2:], "987", "75002"]
    for field, value in zip(fields, values, strict=True):
        field.send_keys(value)
    driver.find_element(By.XPATH, "//button[normalize-space()='Add the card']").click()
    assert page.wait_for("The card was added."), driver.find_element(By.TAG_NAME, "body").text
    body = driver.find_element(By.TAG_NAME, "body").text
    assert "•••• 4444" in body, body  # (localstripe calls every card a Visa)
    method = page.site.billing.account(OWNER, page.site.account).payment_method
    assert method is not None and method.provider == "stripe" and method.last4 == "4444"
    assert method.token.startswith("pm_")
    # the portal got the pm_ id and never the card
    posted = b"".join(page.portal.bodies)
    assert f"payment_method={method.token}".encode() in posted
    assert b"5555555555554444" not in posted and b"987" not in posted.replace(b"0987", b"")
    # the CSP let Stripe's stand-in in, and nothing was refused
    refused = [e for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]
    assert refused == []


def test_a_card_stripe_refuses_shows_its_error_and_posts_nothing(page: Page) -> None:
    driver = page.driver
    before = page.site.billing.account(OWNER, page.site.account).payment_method
    driver.get(page.base + "/card")
    deadline = time.monotonic() + 15
    fields: list[Any] = []
    while len(fields) < 5 and time.monotonic() < deadline:
        fields = driver.find_elements(By.CSS_SELECTOR, "#card-element input")
        time.sleep(0.1)
    assert len(fields) == 5, "Stripe.js's card Element was not mounted"
    for field, value in zip(fields, ["4242", "11", str(EXP_YEAR)[2:], "987", "75002"], strict=True):
        field.send_keys(value)  # a number Stripe refuses
    posts_before = len(page.portal.bodies)
    driver.find_element(By.XPATH, "//button[normalize-space()='Add the card']").click()
    errors = driver.find_element(By.ID, "card-errors")
    deadline = time.monotonic() + 15
    while not errors.text and time.monotonic() < deadline:
        time.sleep(0.1)
    assert errors.text and errors.get_attribute("role") == "alert"
    # still the card page, the button usable again, nothing posted to the host
    assert driver.find_element(By.TAG_NAME, "h1").text == "Add a new card"
    assert driver.find_element(By.XPATH, "//button[normalize-space()='Add the card']").is_enabled()
    assert [b for b in page.portal.bodies[posts_before:] if b] == []
    assert page.site.billing.account(OWNER, page.site.account).payment_method == before

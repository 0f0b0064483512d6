"""The seed's flows in a real browser: Debian's chromium driven by Selenium
(through /usr/bin/chromedriver, nothing downloaded), against the demo host
served by uvicorn on 127.0.0.1. Screenshots of the main pages are saved (to
$PAYGATE_SCREENSHOTS if set, else a temporary folder)."""

from __future__ import annotations

import contextlib
import io
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import web_helpers  # noqa: F401  (skips the module without the web extra)

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.skip(
        "chromium/chromedriver missing (apt-get install chromium chromium-driver)",
        allow_module_level=True,
    )
pytest.importorskip("selenium", reason="selenium is not installed (paygate[web-test])")
uvicorn = pytest.importorskip("uvicorn")

import pypdf  # noqa: E402
from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import (  # noqa: E402
    WebDriverException,
)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402

from paygate.web.demo import DemoHost, build_demo  # noqa: E402

pytestmark = pytest.mark.slow

PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Browser:
    driver: WebDriver
    base: str
    host: DemoHost
    shots: Path

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)

    def h1(self, expected: str | None = None) -> str:
        """The page's h1; with ``expected``, wait (10 s at most) for a page
        with that h1 to load after a click."""
        found = ""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                found = str(self.driver.find_element(By.TAG_NAME, "h1").text)
            except WebDriverException:  # the page is being replaced
                found = ""
            if (expected is None and found) or found == expected:
                break
            time.sleep(0.1)
        return found

    def text(self) -> str:
        for _ in range(50):  # a page still loading replaces its body: read again
            try:
                return str(self.driver.find_element(By.TAG_NAME, "body").text)
            except WebDriverException:  # stale, or its node left the document
                time.sleep(0.1)
        raise AssertionError("the page never settled")

    def wait_for(self, text: str, timeout: float = 10) -> bool:
        """Wait for ``text`` on the page (a click's answer is still loading)."""
        deadline = time.monotonic() + timeout
        while text not in self.text():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def click(self, text: str) -> None:
        """Click the link or button showing ``text`` (waiting for the page
        that shows it to load, 10 s at most)."""
        xpath = f"//a[normalize-space()='{text}'] | //button[normalize-space()='{text}']"
        deadline = time.monotonic() + 10
        while True:
            try:
                found = self.driver.find_elements(By.XPATH, xpath)
                if found:
                    found[0].click()
                    return
            except WebDriverException:  # the page was replaced meanwhile
                pass
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"nothing to click named {text!r} on {self.driver.current_url}:\n"
                    + self.text()[:500]
                )
            time.sleep(0.1)

    def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        width = self.driver.get_window_size()["width"]
        self.driver.set_window_size(width, max(int(height) + 120, 600))
        self.driver.save_screenshot(str(path))
        return path

    def charges(self) -> int:
        return int(self.host.payments.plugin("sandbox").effects.get("charge_recurring", 0))


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    tmp = tmp_path_factory.mktemp("portal-browser")
    shots = Path(os.environ.get("PAYGATE_SCREENSHOTS") or tmp / "screens")
    shots.mkdir(parents=True, exist_ok=True)
    host = build_demo(tmp / "demo.sqlite3")
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(host.app, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start in 20 s"
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--lang=en-US"):
        options.add_argument(arg)
    options.add_argument("--window-size=1100,900")
    options.add_experimental_option("prefs", {"intl.accept_languages": "en-US,en"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        b = Browser(driver, f"http://127.0.0.1:{port}", host, shots)
        b.open("/billing/?as=owner")
        yield b
    finally:
        driver.quit()
        server.should_exit = True
        thread.join(timeout=10)
        host.close()
    print(f"portal screenshots in {shots}")


def test_billing_details_show_the_seed(browser: Browser) -> None:
    browser.open("/billing/")
    assert browser.h1("Billing details") == "Billing details"
    text = browser.text()
    for label in (
        "Plan size",
        "Payment schedule",
        "Price",
        "Free minutes balance",
        "Renewal date",
        "Next charge",
        "Payment method",
        "Add-ons",
    ):
        assert label in text
    assert "100 attendees" in text and "Toll-free number" in text
    browser.shot("details")


def test_upgrade_with_the_preview(browser: Browser) -> None:
    browser.open("/billing/")
    browser.click("Upgrade or change plan")
    browser.driver.find_element(By.XPATH, "//label[contains(., '500 attendees')]").click()
    browser.click("Preview the change")
    assert browser.h1("Preview") == "Preview"
    assert "Charged now" in browser.text()
    browser.shot("preview")
    before = browser.charges()
    # a double click on "Confirm and pay": the form's key makes it one charge
    button = browser.driver.find_element(By.XPATH, "//button[normalize-space()='Confirm and pay']")
    # the first click may already have left the page: the second finds no button
    with contextlib.suppress(WebDriverException):
        webdriver.ActionChains(browser.driver).double_click(button).perform()
    assert browser.wait_for("Done.")
    assert "500 attendees" in browser.text()
    time.sleep(0.5)  # a second submit, if the browser sent one, has landed
    assert browser.charges() == before + 1


def test_add_a_card_in_the_sandbox(browser: Browser) -> None:
    browser.open("/billing/")
    browser.click("Add a new card")
    browser.shot("add-card")
    fill = {
        "card-holder": "Ann Owner",
        "card-number": "5555 5555 5555 4444",
        "card-month": "11",
        "card-year": "2033",
        "card-cvc": "987",
    }
    for field_id, value in fill.items():
        browser.driver.find_element(By.ID, field_id).send_keys(value)
    browser.click("Add the card")
    assert browser.wait_for("The card was added.")
    assert "•••• 4444" in browser.text()
    source = browser.driver.page_source
    assert "5555555555554444" not in source and "5555 5555 5555 4444" not in source


def test_buy_an_add_on(browser: Browser) -> None:
    browser.open("/billing/addons")
    select = browser.driver.find_element(By.ID, "addon")
    select.find_element(By.XPATH, "option[normalize-space()='Cloud recording add-on']").click()
    browser.shot("addons")
    browser.click("Preview")
    browser.click("Confirm and pay")
    assert browser.wait_for("Done.")
    assert "Cloud recording add-on" in browser.text()


def test_freeze_and_unfreeze(browser: Browser) -> None:
    browser.open("/billing/")
    browser.click("Freeze")
    assert browser.wait_for("Frozen until")
    text = browser.text()
    assert "frozen" in text and "Frozen until" in text
    browser.click("Unfreeze now")
    assert browser.wait_for("Done.")
    assert "Status\nactive" in browser.text() or "active" in browser.text()
    assert "Frozen until" not in browser.text()


def test_invoice_history(browser: Browser) -> None:
    browser.open("/billing/invoices")
    assert browser.h1("Invoice history") == "Invoice history"
    rows = browser.driver.find_elements(By.CSS_SELECTOR, "table.invoices tbody tr")
    assert len(rows) >= 12  # a year of monthly invoices, and the changes
    browser.shot("invoices")


def download(browser: Browser, link: Any) -> bytes:
    """Click a download link; the browser saves the file: return its bytes."""
    folder = browser.shots.parent / f"downloads-{time.monotonic_ns()}"
    folder.mkdir()
    browser.driver.execute_cdp_cmd(  # type: ignore[attr-defined]
        "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(folder)}
    )
    link.click()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        done = [p for p in folder.iterdir() if not p.name.endswith(".crdownload")]
        if done:
            time.sleep(0.2)
            return done[0].read_bytes()
        time.sleep(0.1)
    raise AssertionError("the browser saved no file in 20 s")


def pdf_text(data: bytes) -> str:
    return "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(data)).pages)


def row_of(browser: Browser, number: str) -> Any:
    return browser.driver.find_element(
        By.XPATH, f"//table[contains(@class,'invoices')]//tr[td[1][normalize-space()='{number}']]"
    )


def test_download_an_invoice_pdf(browser: Browser) -> None:
    browser.open("/billing/invoices")
    first = browser.driver.find_element(By.CSS_SELECTOR, "table.invoices tbody tr")
    number = first.find_element(By.TAG_NAME, "td").text
    data = download(browser, first.find_element(By.PARTIAL_LINK_TEXT, "Download PDF"))
    assert data[:5] == b"%PDF-"
    assert number in pdf_text(data)


def test_correction_request_accepted_by_staff_and_linked(browser: Browser) -> None:
    browser.open("/billing/invoices")
    rows = browser.driver.find_elements(By.CSS_SELECTOR, "table.invoices tbody tr")
    target = next(r for r in rows if "Request a correction" in r.text and "Corrects" not in r.text)
    number = target.find_element(By.TAG_NAME, "td").text
    target.find_element(By.PARTIAL_LINK_TEXT, "Request a correction").click()
    assert browser.h1("Invoice Correction Request") == "Invoice Correction Request"
    name = browser.driver.find_element(By.ID, "c-name")
    name.clear()
    name.send_keys("Dupré Événements SARL")
    browser.driver.find_element(By.ID, "c-reason").send_keys("Our company name changed")
    browser.driver.find_element(By.XPATH, "//label[@for='c-disable']").click()
    assert browser.driver.find_element(By.ID, "c-disable").is_selected()
    browser.shot("correction")
    browser.click("Send the request")
    assert browser.wait_for("Request sent")
    assert "Correction requested" in row_of(browser, number).text
    # the billing staff accept it
    browser.open("/billing/staff?as=staff")
    try:
        assert browser.h1("Pending correction requests") == "Pending correction requests"
        assert "Dupré Événements SARL" in browser.text()
        browser.shot("staff")
        section = browser.driver.find_element(
            By.XPATH, f"//section[h2[starts-with(normalize-space(), '{number}')]]"
        )
        section.find_element(By.XPATH, ".//button[normalize-space()='Accept']").click()
        assert browser.wait_for("Done.")
    finally:
        browser.open("/billing/invoices?as=owner")
    original = row_of(browser, number)
    link = original.find_element(By.PARTIAL_LINK_TEXT, "Corrected by")
    corrected_number = link.text.replace("Corrected by", "").strip()
    link.click()  # an in-page link to the corrected document's row
    corrected = row_of(browser, corrected_number)
    assert f"Corrects {number}" in corrected.text
    browser.shot("invoices-corrected")
    data = download(browser, corrected.find_element(By.PARTIAL_LINK_TEXT, "Download PDF"))
    text = pdf_text(data)
    assert corrected_number in text and number in text  # it names the original
    assert "Dupré Événements SARL" in text


def test_french(browser: Browser) -> None:
    browser.open("/billing/?lang=fr")
    assert browser.h1("Détails de facturation") == "Détails de facturation"
    browser.shot("details-fr")
    browser.open("/billing/?lang=en")
    assert browser.h1("Billing details") == "Billing details"


def test_multi_user_sees_who_can(browser: Browser) -> None:
    browser.open("/billing/?as=member")
    try:
        assert browser.h1("Billing is for the account owner") == "Billing is for the account owner"
        assert "owner@example.org" in browser.text()
        browser.shot("forbidden")
    finally:
        browser.open("/billing/?as=owner")


def test_forms_are_keyboard_reachable(browser: Browser) -> None:
    for path, controls in [
        ("/billing/card", ["card-holder", "card-number", "card-month", "card-year", "card-cvc"]),
        ("/billing/", ["freeze-days"]),
        ("/billing/addons", ["addon", "quantity"]),
    ]:
        browser.open(path)
        body = browser.driver.find_element(By.TAG_NAME, "body")
        body.click()
        reached: list[str] = []
        buttons = 0
        for _ in range(40):
            webdriver.ActionChains(browser.driver).send_keys(Keys.TAB).perform()
            active = browser.driver.switch_to.active_element
            reached.append(active.get_attribute("id") or "")
            buttons += active.tag_name == "button"
        assert set(controls) <= set(reached), (path, reached)
        assert buttons > 0, f"no button reachable by keyboard on {path}"


def test_pages_fit_a_phone(browser: Browser) -> None:
    driver: Any = browser.driver
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)
    try:
        for path, name in [
            ("/billing/", "details-phone"),
            ("/billing/invoices", "invoices-phone"),
            ("/billing/card", None),
            ("/billing/preview?kind=change_plan&cycle=annual", None),
        ]:
            browser.open(path)
            scroll, inner = driver.execute_script(
                "return [document.documentElement.scrollWidth, window.innerWidth]"
            )
            assert inner == 390
            assert scroll <= inner, f"{path} scrolls sideways at 390 px ({scroll})"
            if name:
                driver.save_screenshot(str(browser.shots / f"{name}.png"))
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_screenshots_were_saved(browser: Browser) -> None:
    saved = sorted(p.name for p in browser.shots.glob("*.png"))
    assert {"details.png", "preview.png", "add-card.png", "invoices.png"} <= set(saved)
    for p in browser.shots.glob("*.png"):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

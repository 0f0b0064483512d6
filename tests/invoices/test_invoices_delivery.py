"""E-mail delivery through the built-in SMTP deliverer, against a real SMTP
server (aiosmtpd) on 127.0.0.1: the message and its PDF, the outbox retry
when the server is down, never twice to one address, and credentials kept
secret."""

from __future__ import annotations

import email
import socket
from collections.abc import Iterator
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from invoices_helpers import CONSUMER, OWNER, FastRenderer, customer, make_payments

from paygate.billing import Billing


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []
        self.logins: list[tuple[str, str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), email.message_from_bytes(envelope.content)))
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        self.logins.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=auth_data.password == b"s3cret-pw")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


def start(inbox: Inbox, port: int) -> Controller:
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=inbox.authenticate,
        auth_require_tls=False,
        ready_timeout=5,
    )
    controller.start()
    return controller


@pytest.fixture
def server(inbox: Inbox, smtp_port: int) -> Iterator[Controller]:
    controller = start(inbox, smtp_port)
    yield controller
    controller.stop()


def _billing(url: str, clock: Any, port: int) -> Billing:
    smtp = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "username": "billing",
        "password": "s3cret-pw",
        "sender": "Factures <factures@example.fr>",
        "timeout": 5,
    }
    seller = make_payments(url, renderer=FastRenderer).config.section("invoices")["seller"]
    p = make_payments(url, renderer=FastRenderer, invoices={"seller": seller, "smtp": smtp})
    return Billing(p, clock=clock)


def test_an_issued_invoice_is_mailed_with_its_pdf(
    sqlite_url: str, clock: Any, server: Controller, inbox: Inbox, smtp_port: int
) -> None:
    billing = _billing(sqlite_url, clock, smtp_port)
    acct = customer(billing)
    billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="k1")
    [doc] = billing.invoices.list(OWNER, acct)
    [(rcpt, msg)] = inbox.messages
    assert rcpt == [CONSUMER["email"]]
    assert msg["To"] == CONSUMER["email"]
    assert doc.number_text in msg["Subject"] and "Facture" in msg["Subject"]
    body = next(p for p in msg.walk() if p.get_content_type() == "text/plain")
    assert doc.number_text in body.get_payload(decode=True).decode()
    [att] = [p for p in msg.walk() if p.get_content_type() == "application/pdf"]
    assert att.get_filename() == f"{doc.number_text}.pdf"
    assert att.get_payload(decode=True) == billing.invoices.pdf(OWNER, doc.id)
    assert inbox.logins == [("billing", "s3cret-pw")]
    [delivery] = billing.invoices.deliveries(doc.id)
    assert (delivery.status, delivery.attempts) == ("sent", 1)
    # Another pass sends nothing again.
    assert billing.invoices.deliver_due() == 0
    assert len(inbox.messages) == 1


def test_smtp_down_the_document_is_issued_and_sent_later_once(
    sqlite_url: str, clock: Any, inbox: Inbox, smtp_port: int
) -> None:
    billing = _billing(sqlite_url, clock, smtp_port)  # nothing listens yet
    acct = customer(billing)
    billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="k1")
    [doc] = billing.invoices.list(OWNER, acct)  # issued all the same
    [delivery] = billing.invoices.deliveries(doc.id)
    assert delivery.status == "failed" and "Connection" in (delivery.last_error or "")
    assert "s3cret" not in (delivery.last_error or "")
    controller = start(inbox, smtp_port)
    try:
        assert billing.invoices.deliver_due() == 0  # not yet: retried after a pause
        clock.advance(minutes=6)
        assert billing.invoices.deliver_due() == 1
        clock.advance(minutes=60)
        assert billing.invoices.deliver_due() == 0
        billing.invoices.issue_due()  # nothing re-issued either
    finally:
        controller.stop()
    assert [m["Subject"] for _, m in inbox.messages] == [inbox.messages[0][1]["Subject"]]
    assert [d.number for d in billing.invoices.list(OWNER, acct)] == [1]
    [delivery] = billing.invoices.deliveries(doc.id)
    assert (delivery.status, delivery.attempts) == ("sent", 2)


def test_the_password_stays_secret(sqlite_url: str, clock: Any, smtp_port: int) -> None:
    billing = _billing(sqlite_url, clock, smtp_port)
    plugin = billing.payments.plugin("invoice_smtp")
    assert "s3cret" not in repr(plugin) and "s3cret" not in repr(vars(plugin))


@pytest.fixture
def certificate(tmp_path: Any) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (the test's private CA)."""
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (needed to make a test certificate)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return str(cert), str(key)


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_tls_delivery_verifies_the_server(
    sqlite_url: str, clock: Any, inbox: Inbox, smtp_port: int, certificate: tuple[str, str],
    security: str,
) -> None:  # fmt: skip
    import ssl

    cert, key = certificate
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    tls: dict[str, Any] = (
        {"tls_context": server_ctx, "require_starttls": True}
        if security == "starttls"
        # aiosmtpd does not see the TLS of an implicit-TLS socket: allow AUTH.
        else {"ssl_context": server_ctx, "auth_require_tls": False}
    )
    controller = Controller(
        inbox, hostname="127.0.0.1", port=smtp_port, authenticator=inbox.authenticate,
        ready_timeout=5, **tls,
    )  # fmt: skip
    controller.start()
    try:
        seller = make_payments(sqlite_url, renderer=FastRenderer).config.section("invoices")
        smtp = {
            "host": "127.0.0.1", "port": smtp_port, "security": security, "username": "billing",
            "password": "s3cret-pw", "sender": "factures@example.fr", "timeout": 5,
        }  # fmt: skip
        # Without the private CA the server is not trusted: nothing is sent.
        p = make_payments(
            sqlite_url, renderer=FastRenderer, invoices={"seller": seller["seller"], "smtp": smtp}
        )
        billing = Billing(p, clock=clock)
        acct = customer(billing)
        billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="k1")
        [doc] = billing.invoices.list(OWNER, acct)
        [delivery] = billing.invoices.deliveries(doc.id)
        assert delivery.status == "failed" and "CERTIFICATE_VERIFY_FAILED" in (
            delivery.last_error or ""
        )
        assert inbox.messages == []
        p.close()
        # Trusting it (cafile), the retry sends over TLS, once.
        p = make_payments(
            sqlite_url,
            renderer=FastRenderer,
            invoices={"seller": seller["seller"], "smtp": {**smtp, "cafile": cert}},
        )
        billing = Billing(p, clock=clock)
        clock.advance(minutes=6)
        assert billing.invoices.deliver_due() == 1, billing.invoices.deliveries(doc.id)
        [(rcpt, msg)] = inbox.messages
        assert rcpt == [CONSUMER["email"]] and doc.number_text in msg["Subject"]
        assert inbox.logins == [("billing", "s3cret-pw")]
        p.close()
    finally:
        controller.stop()

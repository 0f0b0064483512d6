"""Built-in plugin ``invoice_smtp``: sends issued documents by e-mail with the
standard library's :mod:`smtplib`, when ``[invoices.smtp]`` is configured::

    [invoices.smtp]
    host = "smtp.example.com"
    port = 587
    security = "starttls"        # starttls | ssl | none
    username = "billing@example.com"
    password = "..."              # kept as a pydantic SecretStr: never in repr or logs
    sender = "Billing <billing@example.com>"
    timeout = 10
    cafile = "/etc/ssl/private-ca.pem"   # optional: trust a private CA (default: the system's)

The outbox (``paygate_invoices_deliveries``) decides what to send: one row per
(document, kind, address), marked ``sent`` once the server accepted it, so a
document is never mailed twice to one address; a failed send stays in the
outbox and is retried at the next pass, without issuing anything again.
The Message-ID is derived from that row, so a receiver can still tell a
repeat if a process died between the server's answer and the commit.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from babel.dates import format_date
from pydantic import SecretStr

from paygate._markers import hookimpl
from paygate.billing.documents.models import Document
from paygate.config import Config
from paygate.errors import ConfigurationError

_KEYS = frozenset(
    {"host", "port", "security", "username", "password", "sender", "timeout", "cafile"}
)

SUBJECTS = {
    "fr": {
        "document": "{title} {number} — {seller}",
        "correction_accepted": "Votre demande de correction est acceptée : {title} {number}",
    },
    "en": {
        "document": "{title} {number} — {seller}",
        "correction_accepted": "Your correction request was accepted: {title} {number}",
    },
}
TITLES = {
    "fr": {"380": "Facture", "381": "Avoir", "384": "Facture rectificative"},
    "en": {"380": "Invoice", "381": "Credit note", "384": "Corrected invoice"},
}
BODIES = {
    "fr": (
        "Bonjour,\n\nVeuillez trouver ci-joint votre {title_l} n° {number} du {date}, "
        "d'un montant de {total}.{extra}\n\n{seller}\n"
    ),
    "en": (
        "Hello,\n\nPlease find attached your {title_l} No. {number} of {date}, "
        "for {total}.{extra}\n\n{seller}\n"
    ),
}
EXTRA = {
    "fr": "\nElle annule et remplace la facture n° {preceding} ; votre demande de correction "
    "a été acceptée.",
    "en": "\nIt cancels and replaces invoice No. {preceding}; your correction request was "
    "accepted.",
}


def build_message(
    document: Document, pdf: bytes, address: str, kind: str, sender: str
) -> EmailMessage:
    """The e-mail for one delivery (the PDF attached, the same stored bytes)."""
    loc = "fr" if document.locale.startswith("fr") else "en"
    title = TITLES[loc][document.type.value]
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = address
    msg["Subject"] = SUBJECTS[loc][kind].format(
        title=title, number=document.number_text, seller=document.seller.legal_name
    )
    msg["Date"] = formatdate(localtime=False)
    digest = hashlib.sha256(f"{document.id}|{kind}|{address}".encode()).hexdigest()[:32]
    msg["Message-ID"] = make_msgid(idstring=digest, domain="paygate.invalid")
    extra = ""
    if kind == "correction_accepted" and document.preceding_number:
        extra = EXTRA[loc].format(preceding=document.preceding_number)
    msg.set_content(
        BODIES[loc].format(
            title_l=title.lower(),
            number=document.number_text,
            date=format_date(document.issue_date, format="long", locale=loc),
            total=document.total.format("fr_FR" if loc == "fr" else "en_GB"),
            extra=extra,
            seller=document.seller.legal_name,
        )
    )
    msg.add_attachment(
        pdf, maintype="application", subtype="pdf", filename=f"{document.number_text}.pdf"
    )
    return msg


class SmtpDelivery:
    def __init__(self) -> None:
        self.host: str | None = None
        self.port = 587
        self.security = "starttls"
        self.username: str | None = None
        self.password: SecretStr | None = None
        self.sender = ""
        self.timeout = 10.0
        self.cafile: str | None = None

    def __repr__(self) -> str:
        return f"SmtpDelivery(host={self.host!r}, port={self.port}, security={self.security!r})"

    @hookimpl
    def paygate_configure(self, config: Config) -> None:
        smtp: dict[str, Any] = dict(config.section("invoices").get("smtp") or {})
        if not smtp:
            return
        unknown = sorted(set(smtp) - _KEYS)
        if unknown:
            raise ConfigurationError(f"[invoices.smtp] has unknown keys {unknown}")
        if not isinstance(smtp.get("host"), str) or not smtp["host"]:
            raise ConfigurationError("[invoices.smtp] host is required")
        security = smtp.get("security", "starttls")
        if security not in ("starttls", "ssl", "none"):
            raise ConfigurationError("[invoices.smtp] security is starttls, ssl or none")
        port = smtp.get("port", 465 if security == "ssl" else 587)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ConfigurationError("[invoices.smtp] port is a TCP port number")
        if not isinstance(smtp.get("sender"), str) or "@" not in smtp["sender"]:
            raise ConfigurationError("[invoices.smtp] sender is an e-mail address")
        self.host, self.port, self.security = smtp["host"], port, security
        self.username = smtp.get("username")
        password = smtp.get("password")
        self.password = SecretStr(str(password)) if password is not None else None
        self.sender = smtp["sender"]
        self.timeout = float(smtp.get("timeout", 10))
        self.cafile = smtp.get("cafile")

    def _connect(self) -> smtplib.SMTP:
        assert self.host is not None
        # Certificates are always verified (host name included).
        context = ssl.create_default_context(cafile=self.cafile)
        if self.security == "ssl":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        server = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.security == "starttls":
            server.starttls(context=context)
        return server

    @hookimpl(trylast=True)
    def paygate_billing_deliver(
        self, document: Document, pdf: bytes, address: str, kind: str
    ) -> bool | None:
        if self.host is None:
            return None
        msg = build_message(document, pdf, address, kind, self.sender)
        with self._connect() as server:
            if self.username and self.password is not None:
                server.login(self.username, self.password.get_secret_value())
            server.send_message(msg)
        return True


__all__ = ["SmtpDelivery", "build_message"]

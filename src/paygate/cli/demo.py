"""``paygate demo``: the seed's billing story, end to end, on the sandbox.

A SaaS account owner adds a card (the $1 check), buys a plan, gets a partial
refund; a declined card shows its standard code; a 3-D Secure card needs
``confirm``; an annual nonprofit quote and a ticket sale with its payout
breakdown; a renewal charges the stored card; a sub-account may not pay; a
customer from a card-limited country pays through PayPal.
"""

from __future__ import annotations

import contextlib
import importlib.util
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from paygate.errors import PaygateError
from paygate.models import Card, Customer, PayPalWallet, Transaction
from paygate.money import Money

VISA = "4242424242424242"
# Declines when charged, on Stripe, localstripe and the sandbox alike
# (4000 0000 0000 0002 declines only on attach in localstripe).
DECLINED = "4000000000000341"
THREE_DS = "4000002500003155"
CARD_LIMITED_COUNTRY = "NG"
#: A made-up test key: localstripe accepts any ``sk_test_`` key.
LOCALSTRIPE_DEMO_KEY = "sk_test_paygate_demo_localstripe"


class _Story:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.table = Table(title="paygate demo: the seed's billing story", show_lines=True)
        for column in ("#", "step", "operation", "amount", "status", "detail"):
            self.table.add_column(column)
        self.failures = 0

    def row(self, step: str, operation: str, amount: str, status: str, detail: str) -> None:
        n = str(len(self.table.rows) + 1)
        self.table.add_row(n, step, operation, amount, status, detail)

    def tx(self, step: str, operation: str, tx: Transaction, detail: str = "") -> None:
        self.row(
            step,
            operation,
            str(tx.amount),
            tx.status.value,
            detail or f"{tx.id} · {tx.payment_method or ''}",
        )

    def expect_error(self, step: str, operation: str, amount: str, fn: Callable[[], Any]) -> None:
        try:
            fn()
        except PaygateError as exc:
            self.row(step, operation, amount, f"[red]{exc.code.value}[/red]", exc.message)
        else:
            self.failures += 1
            self.row(step, operation, amount, "[red]UNEXPECTED SUCCESS[/red]", "")


def usd(amount: str) -> Money:
    return Money(amount, "USD")


def _card(number: str) -> Card:
    return Card(number, 12, time.gmtime().tm_year + 3, "123", holder="Ada Owner")


@contextlib.contextmanager
def _paypal_recordings() -> Iterator[bool]:
    """PayPal's recorded responses stand in for the network, when installed."""
    if importlib.util.find_spec("paygate_paypal") is None:
        yield False
        return
    with contextlib.ExitStack() as stack:
        try:
            from paygate_paypal.recorded import paypal_sandbox_responses

            # Entering needs the demo extra (``responses``): without it the
            # PayPal step is skipped with the install line, not a traceback.
            stack.enter_context(paypal_sandbox_responses())
        except ImportError:
            yield False
            return
        yield True


@contextlib.contextmanager
def _local_stripe(base: dict[str, Any]) -> Iterator[None]:
    """Run localstripe (a real local Stripe server) on 127.0.0.1 for the demo."""
    import tempfile

    from paygate_stripe.localserver import start_localstripe

    with tempfile.TemporaryDirectory(prefix="paygate-demo-") as tmp:
        server = start_localstripe(tmp, max_seconds=600)
        try:
            base["stripe"] = {
                **dict(base.get("stripe") or {}),
                "api_key": LOCALSTRIPE_DEMO_KEY,
                "api_base": server.url,
                "localstripe": True,
                "max_network_retries": 0,
            }
            yield
        finally:
            server.stop()


def _payer_completes_3ds(payments: Any, tx: Transaction) -> None:
    """Stand in for the payer's browser: pass the 3-D Secure challenge."""
    if tx.provider != "stripe" or tx.next_action is None:
        return  # the sandbox needs no browser step
    import requests

    plugin = payments.plugin("stripe")
    intent = plugin.client().v1.payment_intents.retrieve(tx.provider_reference)
    # localstripe's stand-in for the issuer's page; it wants the demo's own key.
    requests.post(
        tx.next_action.redirect_url,
        data={"client_secret": intent.client_secret, "success": "true"},
        headers={"Authorization": f"Bearer {LOCALSTRIPE_DEMO_KEY}"},
        timeout=10,
    ).raise_for_status()


def run_demo(
    *, database: str, provider: str, config_path: str | None, localstripe: bool = False
) -> int:
    """Run the story; returns the process exit code."""
    with contextlib.ExitStack() as stack:
        base: dict[str, Any] = {}
        if localstripe:
            stack.enter_context(_local_stripe(base))
        return _run(database=database, provider=provider, config_path=config_path, extra=base)


def _run(*, database: str, provider: str, config_path: str | None, extra: dict[str, Any]) -> int:
    from paygate.config import Config
    from paygate.payments import Payments
    from paygate.pricing.models import LineItem

    console = Console()
    if not console.is_terminal:
        console = Console(width=160)  # a log file or CI gets the whole table
    path = Path(database).resolve()
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    base = Config.load(config_path).as_dict()
    base.update(extra)
    base["database_url"] = f"sqlite:///{path}"
    cardnetworks = dict(base.get("cardnetworks") or {})
    cardnetworks.setdefault("card_limited_countries", [CARD_LIMITED_COUNTRY])
    cardnetworks.setdefault("fallback_provider", "paypal")
    base["cardnetworks"] = cardnetworks
    base.setdefault("pricing", {"nonprofit_discount": "0.25"})
    base.setdefault(
        "paypal",
        {"client_id": "demo-client", "client_secret": "demo-secret", "environment": "sandbox"},
    )
    story = _Story(console)
    started = time.perf_counter()
    with Payments(base) as payments:
        owner = Customer(id="acct_owner", email="owner@example.com", country="US")
        card = _card(VISA)

        check = payments.verify(card, customer=owner, provider=provider)
        story.tx("Add a card: the $1 check", "verify", check, "authorized 1.00, voided at once")
        stored = payments.store_payment_method(card, customer=owner, provider=provider)
        story.row(
            "Save the card for renewals",
            "store_payment_method",
            "",
            "stored",
            f"{stored.token[:14]}… · {stored.brand or 'card'} •••• {stored.last4}",
        )

        plan = [
            LineItem(
                sku="pro",
                description="Pro plan (25 attendees)",
                unit_price=usd("25.00"),
                kind="plan",
            )
        ]
        monthly = payments.quote(plan, cycle="monthly", customer=owner)
        tx = payments.purchase(
            monthly.total,
            card,
            customer=owner,
            provider=provider,
            description="Pro plan, monthly",
            idempotency_key="demo-plan-1",
        )
        story.tx("Buy the Pro plan (monthly)", "purchase", tx)
        again = payments.purchase(
            monthly.total,
            card,
            customer=owner,
            provider=provider,
            description="Pro plan, monthly",
            idempotency_key="demo-plan-1",
        )
        story.tx(
            "Same click twice (same key)",
            "purchase",
            again,
            "replayed from the ledger: "
            + ("same transaction, no second charge" if again.id == tx.id else "NEW CHARGE"),
        )
        tx = payments.refund(tx.id, usd("5.00"), reason="goodwill")
        story.tx("Partial refund", "refund", tx, f"refunded {tx.refunded} of {tx.captured}")

        story.expect_error(
            "A declined card",
            "purchase",
            "25.00 USD",
            lambda: payments.purchase(
                usd("25.00"), _card(DECLINED), customer=owner, provider=provider
            ),
        )
        pending = payments.purchase(
            usd("25.00"),
            _card(THREE_DS),
            customer=owner,
            provider=provider,
            return_url="https://example.com/back",
        )
        story.tx(
            "A 3-D Secure card",
            "purchase",
            pending,
            f"next action: {pending.next_action.redirect_url if pending.next_action else '-'}",
        )
        _payer_completes_3ds(payments, pending)
        done = payments.confirm(pending.id)
        story.tx("Payer back from 3-D Secure", "confirm", done)

        renewal = payments.charge_recurring(
            monthly.total, stored, customer=owner, description="Pro plan renewal"
        )
        story.tx("Monthly renewal", "charge_recurring", renewal)

        nonprofit = Customer(id="acct_np", country="US", nonprofit=True)
        annual = payments.quote(plan, cycle="annual", customer=nonprofit)
        detail = " ; ".join(f"{line.label}: {line.amount}" for line in annual.lines)
        story.row("Annual plan for a nonprofit", "quote", str(annual.total), "quoted", detail)

        ticket = usd("50.00")
        fees = payments.fees(ticket, provider=provider, kind="ticket")
        detail = " ; ".join(f"{line.label}: {line.amount}" for line in fees.lines)
        story.row("Webinar ticket: payout", "fees", str(ticket), f"net {fees.net}", detail)

        sub = Customer(id="acct_sub", role="sub_account")
        story.expect_error(
            "A sub-account tries to pay",
            "purchase",
            "25.00 USD",
            lambda: payments.purchase(usd("25.00"), card, customer=sub),
        )

        buyer = Customer(id="acct_ng", country=CARD_LIMITED_COUNTRY)
        story.expect_error(
            f"Card-limited country ({CARD_LIMITED_COUNTRY}): a card",
            "purchase",
            "25.00 USD",
            lambda: payments.purchase(usd("25.00"), card, customer=buyer),
        )
        with _paypal_recordings() as recorded:
            if recorded and "paypal" in payments.plugin_manager.providers():
                wallet = PayPalWallet(email="buyer@example.com")
                order = payments.purchase(
                    usd("25.00"), wallet, customer=buyer, description="Pro plan via PayPal"
                )
                story.tx(
                    f"Card-limited country ({CARD_LIMITED_COUNTRY}): PayPal",
                    "purchase",
                    order,
                    f"routed to {order.provider}; approve at "
                    f"{order.next_action.redirect_url if order.next_action else '-'}",
                )
                paid = payments.confirm(order.id)
                story.tx("Payer approved on PayPal", "confirm", paid)
            else:
                story.row(
                    f"Card-limited country ({CARD_LIMITED_COUNTRY}): PayPal",
                    "purchase",
                    "",
                    "skipped",
                    # Escaped: rich would take "[demo]" for markup and drop it.
                    escape("install paygate-paypal[demo] to see this step"),
                )
        operations = len(payments.ledger.operations())
    elapsed = time.perf_counter() - started
    console.print(story.table)
    console.print(
        f"Ledger: [bold]{path}[/bold] ({operations} operations recorded) in {elapsed:.2f} s"
    )
    return 1 if story.failures else 0

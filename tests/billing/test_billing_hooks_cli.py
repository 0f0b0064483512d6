"""The billing hooks a host plugin implements, the events outbox, and the
``paygate billing`` commands."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from billing_helpers import OWNER, Clock, account_with_card, card_declines
from click.testing import CliRunner

import paygate
from paygate.billing import Billing, BillingEvent, RetryDecision, TaxLine
from paygate.cli import main


class HostPolicies:
    """A host's billing plugin: its own series, VAT, 30-day proration, retries."""

    def __init__(self) -> None:
        self.events: list[BillingEvent] = []

    @paygate.hookimpl
    def paygate_billing_number_series(self, invoice: Any) -> str:
        return f"F-{invoice.created_at.year}"

    @paygate.hookimpl
    def paygate_billing_tax_lines(self, context: Any) -> list[TaxLine]:
        base = sum((ln.amount for ln in context.lines), paygate.Money("0", context.currency))
        return [TaxLine("VAT 20 %", base.multiply("0.20"), rate="0.20")]

    @paygate.hookimpl
    def paygate_billing_proration(self, context: Any) -> str:
        return "days_30"

    @paygate.hookimpl
    def paygate_billing_retry_schedule(
        self, invoice: Any, attempt: int, error: Any
    ) -> RetryDecision:
        return RetryDecision(timedelta(hours=6) if attempt < 2 else None, "host schedule")

    @paygate.hookimpl
    def paygate_billing_event(self, event: BillingEvent) -> None:
        self.events.append(event)


def test_host_hooks_shape_invoices_proration_retries_and_hear_events(
    payments: paygate.Payments, clock: Clock
) -> None:
    host = HostPolicies()
    payments.plugin_manager.register(host, name="host-policies")
    billing = Billing(payments, clock=clock)
    acct = account_with_card(billing)
    sub = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")
    [first] = billing.invoices(OWNER, acct)
    assert (first.series, first.number) == ("F-2027", 1)
    assert [(ln.kind, ln.amount) for ln in first.lines] == [
        ("recurring", paygate.Money("30.00", "USD")),
        ("tax", paygate.Money("6.00", "USD")),
    ]
    assert first.total == paygate.Money("36.00", "USD")
    clock.set(2027, 2, 14)
    preview = billing.preview_change(OWNER, sub.id, plan="webinar/s100")
    assert preview.policy == "days_30"
    card_declines(billing, acct)
    clock.set(2027, 2, 28)
    billing.run_once()
    inv = billing.invoices(OWNER, acct)[-1]
    assert inv.next_attempt_at == clock.now + timedelta(hours=6)
    clock.advance(hours=6)
    billing.run_once()
    assert billing.invoices(OWNER, acct)[-1].status == "uncollectible"
    kinds = [e.type for e in host.events]
    assert kinds[:3] == ["account.created", "payment_method.updated", "subscription.created"]
    assert (
        "invoice.paid" in kinds and "payment.failed" in kinds and "subscription.past_due" in kinds
    )
    # the outbox holds the same events, in order, for a host that polls
    assert [e.type for e in billing.events()] == kinds
    assert [e.seq for e in billing.events()] == sorted(e.seq for e in billing.events())


def test_cli_details_run_and_a_refused_actor(tmp_path: Path, clock: Clock) -> None:
    from billing_helpers import make_payments

    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    config = tmp_path / "paygate.toml"
    config.write_text(f'database_url = "{url}"\n')
    payments = make_payments(url)
    billing = Billing(payments, clock=clock)
    acct = account_with_card(billing)
    billing.subscribe(OWNER, acct, "webinar/s100", addons=[("toll-free", 1)], idempotency_key="s")
    payments.close()
    runner = CliRunner()
    out = runner.invoke(
        main, ["--config", str(config), "billing", "details", acct, "--actor", OWNER.ref]
    )
    assert out.exit_code == 0, out.output
    for words in (
        "Webinar 100 attendees",
        "100 attendees",
        "monthly",
        "2027-02-28",
        "•••• 4242",
        "Toll-free number x 1",
        "100 left of 100",
    ):
        assert words in out.output, words
    out = runner.invoke(
        main, ["--config", str(config), "billing", "details", acct, "--actor", "colleague"]
    )
    assert out.exit_code == 2 and "permission_denied" in out.output
    out = runner.invoke(main, ["--config", str(config), "billing", "run"])
    assert out.exit_code == 0 and "claimed 0" in out.output  # nothing due yet (real clock: 2026)


def test_cli_simulate_prints_each_invoice() -> None:
    out = CliRunner().invoke(
        main,
        [
            "billing",
            "simulate",
            "--months",
            "4",
            "--upgrade",
            "2027-02-14=webinar/s100",
            "--decline",
            "2027-03-20",
            "--new-card",
            "2027-04-02",
        ],
    )
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert any("INV-000001  subscribe paid" in ln for ln in lines)
    assert any("INV-000002  change    paid          15.00 USD" in ln for ln in lines)
    assert any("2027-03-31  INV-000004  renewal   open" in ln for ln in lines)
    assert any("2027-04-02  INV-000004  renewal   paid" in ln for ln in lines)
    assert "invoices (" in lines[-1]


def test_cli_billing_demo_tells_the_seed_story() -> None:
    out = CliRunner().invoke(main, ["billing", "demo"])
    assert out.exit_code == 0, out.output
    text = out.output
    for words in (
        "INV-000001 subscribe paid",
        "2027-02-28  The runner renews it",
        "Unused 17/31 of Webinar 25 attendees",
        "minutes: 60 past the 100 included",
        "renewal   open",
        "is now paid",
        "renews 2027-05-15",
        "Annual billing discount (20 %)",
        "Nonprofit discount (10 %)",
        "status canceled",
        "refused 6 of 6",
    ):
        assert words in text, words
    assert "PROBLEM" not in text


def test_cli_pay_settles_what_dunning_gave_up_on_and_release_unparks(
    tmp_path: Path, clock: Clock
) -> None:
    """``paygate billing pay`` charges an uncollectible invoice once the card
    works again; ``paygate billing release`` is staff-only and unparks."""
    from billing_helpers import make_payments

    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    state = tmp_path / "sandbox.json"  # the gateway's memory, shared with the CLI
    config = tmp_path / "paygate.toml"
    config.write_text(
        f'database_url = "{url}"\n[billing]\ndunning_end = "past_due"\n'
        f'[sandbox]\nstate_file = "{state}"\n'
    )
    payments = make_payments(
        url, sandbox={"state_file": str(state)}, billing={"dunning_end": "past_due"}
    )
    billing = Billing(payments, clock=clock)
    acct = account_with_card(billing)
    sub = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="s")
    card_declines(billing, acct)
    clock.set(2027, 2, 28, hour=1)
    for _ in range(8):  # the renewal and every retry fail: dunning gives up
        billing.run_once()
        clock.advance(days=2)
    [unpaid] = [i for i in billing.invoices(OWNER, acct) if i.status == "uncollectible"]
    assert billing.subscription(OWNER, sub.id).status == "past_due"
    card_declines(billing, acct, declines=False)
    payments.close()
    runner = CliRunner()
    refused = runner.invoke(
        main, ["--config", str(config), "billing", "pay", unpaid.id, "--actor", "colleague"]
    )
    assert refused.exit_code == 2 and "permission_denied" in refused.output
    out = runner.invoke(
        main, ["--config", str(config), "billing", "pay", unpaid.id, "--actor", OWNER.ref]
    )
    assert out.exit_code == 0, out.output
    assert f"invoice {unpaid.id}: paid" in out.output
    payments = make_payments(url, sandbox={"state_file": str(state)})
    billing = Billing(payments, clock=clock)
    assert billing.subscription(OWNER, sub.id).status == "active"
    with billing.store.write() as conn:  # parked, as the safety bound would
        row = billing.store.subscription(conn, sub.id, lock=True)
        billing.store.update_subscription(
            conn, row, billing.now(), billing_state="needs_review", review_reason="bound"
        )
    payments.close()
    out = runner.invoke(
        main, ["--config", str(config), "billing", "release", sub.id, "--staff", "ops"]
    )
    assert out.exit_code == 0, out.output
    assert f"subscription {sub.id}: active" in out.output
    again = runner.invoke(
        main, ["--config", str(config), "billing", "release", sub.id, "--staff", "ops"]
    )
    assert again.exit_code == 2 and "not parked" in again.output

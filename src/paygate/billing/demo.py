"""``paygate billing demo``: the seed's billing story, end to end, on the sandbox.

An owner adds a card (the $1 check) and subscribes monthly; the plan renews;
the owner upgrades (prorated), buys an add-on and a toll-free number, uses
minutes past the allowance; a renewal fails and is paid at once with a new
card; the account is frozen and unfrozen; the billing staff grant the
nonprofit discount and the owner switches to annual (20 % off); the
subscription is cancelled at the period end. A sub-account is refused at
every billing action. The clock is simulated: the story spans a year and
takes a second.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from paygate.billing.errors import BillingPermissionDenied
from paygate.billing.models import Actor
from paygate.billing.service import Billing, Details
from paygate.models import Card

OWNER = Actor.user("owner@example.org")
STAFF = Actor.staff_member("billing-team")
SUB_ACCOUNT_OWNER = Actor.user("sub-account@example.org")


def run_billing_demo(
    database: Path, echo: Callable[[str], object], pdf_dir: Path | None = None
) -> int:
    """Run the story; returns 0 when every step did what the seed says.
    The invoice PDFs go to ``pdf_dir`` (default: beside ``database``)."""
    from paygate.billing.documents.demo import DEMO_SELLER, run_invoices_demo
    from paygate.payments import Payments

    now = {"t": datetime(2027, 1, 31, 9, tzinfo=UTC)}
    payments = Payments(
        {
            "database_url": f"sqlite:///{database}",
            "default_provider": "sandbox",
            "pricing": {"nonprofit_discount": "0.10"},
            "invoices": {"seller": DEMO_SELLER},
        }
    )
    billing = Billing(payments, clock=lambda: now["t"])
    problems: list[str] = []

    def at(year: int, month: int, day: int) -> None:
        now["t"] = datetime(year, month, day, 9, tzinfo=UTC)

    def step(text: str) -> None:
        echo(f"\n{now['t'].date()}  {text}")

    def show_invoices(acct: str, since: int) -> int:
        invoices = billing.invoices(OWNER, acct)
        for inv in invoices[since:]:
            if inv.status == "draft":
                continue
            echo(f"    {inv.series}-{inv.number:06d} {inv.reason:<9} {inv.status:<13} {inv.total}")
            for ln in inv.lines:
                echo(f"        {ln.amount!s:>12}  {ln.description}")
        return len(invoices)

    def show(d: Details) -> None:
        echo(
            f"    plan {d.plan} ({d.plan_size} attendees), {d.cycle}, {d.price}, "
            f"status {d.status}, renews {d.renewal_date}, {d.payment_method}"
        )
        for metric, (inc, _used, left) in d.allowances.items():
            echo(f"    free {metric}: {left} left of {inc}")
        echo(f"    next charge: {d.next_charge_total}")

    try:
        seen = 0
        step("The owner opens an account and adds a Visa card: the $1 check, voided at once")
        acct = billing.create_account(OWNER.ref, currency="USD", timezone="Europe/Paris").id
        pm = billing.add_payment_method(
            OWNER, acct, Card("4242424242424242", 12, 2034, "123"), idempotency_key="visa"
        )
        echo(f"    stored {pm.brand or 'card'} ending {pm.last4}")
        step("Subscribes to Webinar 25 attendees, monthly, charged in advance")
        sub = billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="signup").id
        seen = show_invoices(acct, seen)

        at(2027, 2, 28)
        step("The runner renews it on Feb 28 (from the Jan 31 anchor)")
        billing.run_once()
        seen = show_invoices(acct, seen)

        at(2027, 3, 14)
        step("Upgrade to 100 attendees now: the unused part is credited from what was charged")
        preview = billing.preview_change(OWNER, sub, plan="webinar/s100")
        echo(f"    preview ({preview.policy}): {preview.total}")
        billing.apply(OWNER, preview)
        step("Buys the recording add-on and a toll-free number (prorated)")
        billing.apply(OWNER, billing.preview_add_addon(OWNER, sub, "recording"))
        billing.apply(OWNER, billing.preview_add_addon(OWNER, sub, "toll-free"))
        seen = show_invoices(acct, seen)
        step("Toll-free calls: 160 minutes, 100 are free")
        billing.record_usage(STAFF, sub, event_id="calls-march", metric="minutes", quantity=160)
        show(billing.details(OWNER, acct))

        step("The card starts declining (the sandbox's issuer says no)")
        sandbox = payments.plugin("sandbox")
        token = billing.account(OWNER, acct).payment_method.token  # type: ignore[union-attr]
        sandbox.set_stored_outcome(token, "decline_on_charge")
        at(2027, 3, 31)
        step("Renewal fails: the invoice stays open, a retry is scheduled, access is kept")
        billing.run_once()
        seen = show_invoices(acct, seen)
        sub_now = billing.subscription(OWNER, sub)
        echo(f"    status {sub_now.status}, collection {sub_now.collection_state.value}")
        if sub_now.collection_state.value != "retrying":
            problems.append("the failed renewal is not being retried")

        at(2027, 4, 1)
        step("A new Mastercard: the open invoice is retried at once")
        billing.add_payment_method(
            OWNER, acct, Card("5555555555554444", 12, 2034, "123"), idempotency_key="mc"
        )
        last = billing.invoices(OWNER, acct)[-1]
        echo(f"    {last.series}-{last.number:06d} is now {last.status}")
        if last.status != "paid":
            problems.append("the retried invoice is not paid")

        at(2027, 4, 10)
        step("Freeze for 30 days: no access, no charge")
        billing.freeze(OWNER, sub, days=30)
        at(2027, 4, 25)
        step("Unfreeze early: the period end moves by the 15 days frozen")
        show(billing.details(OWNER, acct))
        billing.unfreeze(OWNER, sub)
        show(billing.details(OWNER, acct))

        step("The billing staff grant the nonprofit discount; the owner switches to annual")
        billing.grant_nonprofit(STAFF, acct)
        billing.apply(OWNER, billing.preview_change(OWNER, sub, cycle="annual"))
        show(billing.details(OWNER, acct))
        at(2027, 5, 15)
        billing.run_once()
        seen = show_invoices(acct, seen)

        step("Cancel at the period end: access until then, nothing more is charged")
        billing.cancel(OWNER, sub)
        at(2028, 5, 16)
        billing.run_once()
        echo(f"    status {billing.subscription(OWNER, sub).status}")

        step("A sub-account tries every billing action")
        child = billing.create_account(SUB_ACCOUNT_OWNER.ref, currency="USD", parent_id=acct)
        refused = 0
        attempts: list[Callable[[], object]] = [
            lambda: billing.details(SUB_ACCOUNT_OWNER, child.id),
            lambda: billing.invoices(SUB_ACCOUNT_OWNER, child.id),
            lambda: billing.add_payment_method(
                SUB_ACCOUNT_OWNER,
                child.id,
                Card("4242424242424242", 12, 2034, "123"),
                idempotency_key="x",
            ),
            lambda: billing.subscribe(
                SUB_ACCOUNT_OWNER, child.id, "webinar/s25", idempotency_key="x"
            ),
            lambda: billing.details(SUB_ACCOUNT_OWNER, acct),
            lambda: billing.preview_add_addon(SUB_ACCOUNT_OWNER, sub, "toll-free"),
        ]
        for attempt in attempts:
            try:
                attempt()
            except BillingPermissionDenied:
                refused += 1
        echo(f"    refused {refused} of {len(attempts)}")
        if refused != len(attempts):
            problems.append("a sub-account was allowed a billing action")

        run_invoices_demo(
            billing,
            lambda t: now.__setitem__("t", t),
            echo,
            pdf_dir or database.parent / "invoices",
            problems,
        )
    finally:
        payments.close()
    for problem in problems:
        echo(f"PROBLEM: {problem}")
    return 1 if problems else 0


__all__ = ["run_billing_demo"]

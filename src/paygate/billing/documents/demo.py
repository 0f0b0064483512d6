"""The end of ``paygate billing demo``: the seed's invoice correction.

A French association subscribes and receives its invoice; its owner files an
"Invoice Correction Request" from the history with "Disable the old
receiver?" ticked; the billing staff accept it; a corrected invoice (384)
linked to the original is issued, and the next renewal's invoice carries the
new receiver. Every PDF is written to a folder the demo names.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from paygate.billing.models import Actor
from paygate.models import Card

ASSOCIATION = Actor.user("tresorier@cafe-theatre.example")
STAFF = Actor.staff_member("billing-team")

#: The demo's seller (the SIREN and VAT number are check-digit-valid examples).
DEMO_SELLER: dict[str, str] = {
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


def run_invoices_demo(
    billing: Any,
    set_now: Callable[[datetime], None],
    echo: Callable[[str], object],
    out: Path,
    problems: list[str],
) -> None:
    def step(when: datetime, text: str) -> None:
        set_now(when)
        echo(f"\n{when.date()}  {text}")

    def save(doc: Any) -> Path:
        path = out / f"{doc.number_text}.pdf"
        path.write_bytes(billing.invoices.pdf(ASSOCIATION, doc.id))
        kind = {"380": "invoice", "381": "credit note", "384": "corrected invoice"}
        link = f", corrects {doc.preceding_number}" if doc.preceding_number else ""
        echo(
            f"    {kind[doc.type.value]} {doc.number_text}: {doc.buyer.legal_name}, "
            f"{doc.total} ({doc.net} + VAT {doc.tax}){link} -> {path}"
        )
        return path

    if not billing.invoices.ready():
        echo("\n(invoices: install paygate-invoices-typst to issue and render the PDFs)")
        return
    out.mkdir(parents=True, exist_ok=True)
    step(
        datetime(2028, 6, 1, 9, tzinfo=UTC),
        "A French association gives its billing details and subscribes (EUR)",
    )
    acct = billing.create_account(ASSOCIATION.ref, currency="EUR", timezone="Europe/Paris").id
    billing.invoices.set_profile(
        ASSOCIATION,
        acct,
        legal_name="Asso Café Théâtre",
        address="5 rue Mercière\n69002 Lyon",
        country="FR",
        email="tresorier@cafe-theatre.example",
    )
    billing.add_payment_method(
        ASSOCIATION, acct, Card("4242424242424242", 12, 2034, "123"), idempotency_key="asso"
    )
    billing.subscribe(ASSOCIATION, acct, "webinar/s25", idempotency_key="asso-signup")
    [original] = billing.invoices.list(ASSOCIATION, acct)
    save(original)

    step(
        datetime(2028, 6, 3, 9, tzinfo=UTC),
        "History -> Details -> Invoice Correction Request: the association's full legal "
        "name, 'Disable the old receiver?' ticked",
    )
    request = billing.invoices.request_correction(
        ASSOCIATION,
        original.id,
        reason="Notre raison sociale complète est « Association Café-Théâtre de Lyon »",
        disable_old_receiver=True,
        legal_name="Association Café-Théâtre de Lyon",
    )
    echo(f"    request {request.id}: {request.status}")

    step(datetime(2028, 6, 4, 9, tzinfo=UTC), "The billing service accepts it")
    decided = billing.invoices.accept_correction(STAFF, request.id)
    echo(f"    request {decided.id}: {decided.status}")
    docs = billing.invoices.list(ASSOCIATION, acct)
    corrected = [d for d in docs if d.preceding_id == original.id]
    if [d.type.value for d in corrected] != ["384"]:
        problems.append("the accepted correction did not issue one corrected invoice (384)")
        return
    save(corrected[0])
    linked = next(d for d in docs if d.id == original.id).amended_by
    numbers = [d.number_text for d in docs if d.id in linked]
    echo(f"    in the history, {original.number_text} is linked to {', '.join(numbers)}")
    if linked != (corrected[0].id,):
        problems.append("the corrected invoice is not linked to the original")

    step(datetime(2028, 7, 1, 9, tzinfo=UTC), "The next renewal bills the new receiver")
    billing.run_once()
    renewal = billing.invoices.list(ASSOCIATION, acct)[-1]
    save(renewal)
    if (
        renewal.type.value != "380"
        or renewal.buyer.legal_name != "Association Café-Théâtre de Lyon"
    ):
        problems.append("the renewal's invoice does not carry the new receiver")
    found = billing.invoices.verify()
    echo(f"    paygate invoices verify: {found or 'ok'}")
    if found:
        problems.append("the documents' chain does not verify")
    echo(f"\nInvoice PDFs written to {out}")


__all__ = ["DEMO_SELLER", "run_invoices_demo"]

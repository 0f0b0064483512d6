"""The invoice history on the invoices layer: PDFs (only the actor's own),
links between originals and corrections, the Invoice Correction Request form
with "Disable the old receiver?", the request's status, and the staff view."""

from __future__ import annotations

import io
import re

import pypdf
from web_helpers import (
    MEMBER,
    OWNER,
    RECEIVER,
    STAFF,
    STRANGER,
    VISA,
    Site,
    a11y_problems,
    form_fields,
    text_of,
)

import paygate


def pdf_text(data: bytes) -> str:
    return "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(data)).pages)


def pdf_links(html: str) -> list[str]:
    return re.findall(r'href="http://testserver(/documents/[^"]+\.pdf)"', html)


def test_history_downloads_the_accounts_pdf(docsite: Site) -> None:
    [doc] = docsite.billing.invoices.list(OWNER, docsite.main)
    page = docsite.get("/invoices")
    assert doc.number_text in text_of(page.text)
    assert pdf_links(page.text) == [f"/documents/{doc.id}.pdf"]
    pdf = docsite.get(f"/documents/{doc.id}.pdf")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert "attachment" in pdf.headers["content-disposition"]
    assert pdf.headers["cache-control"] == "no-store"
    text = pdf_text(pdf.content)
    assert doc.number_text in text and RECEIVER["legal_name"] in text


def test_another_accounts_pdf_is_404(docsite: Site) -> None:
    billing = docsite.billing
    other = billing.create_account(STRANGER.ref, currency="USD", timezone="Europe/Paris").id
    billing.invoices.set_profile(STRANGER, other, **dict(RECEIVER, legal_name="Other Co"))
    billing.add_payment_method(
        STRANGER, other, paygate.Card(VISA, 12, 2031, "123"), idempotency_key="card-x"
    )
    billing.subscribe(STRANGER, other, "webinar/s25", idempotency_key="signup-x")
    [theirs] = billing.invoices.list(STRANGER, other)
    for path in (f"/documents/{theirs.id}.pdf", f"/documents/{theirs.id}/correction"):
        page = docsite.get(path)
        assert page.status_code == 404, path
        assert b"%PDF" not in page.content and "Other Co" not in page.text
    assert docsite.get("/documents/doc_nope.pdf").status_code == 404


def test_a_multi_user_gets_403_for_the_accounts_pdf(docsite: Site) -> None:
    [doc] = docsite.billing.invoices.list(OWNER, docsite.main)
    page = docsite.get(f"/documents/{doc.id}.pdf", user=MEMBER)
    assert page.status_code == 403 and b"%PDF" not in page.content


def file_request(site: Site, doc_id: str, **changes: str) -> object:
    form_page = site.get(f"/documents/{doc_id}/correction")
    assert form_page.status_code == 200
    fields = form_fields(form_page.text, f"/documents/{doc_id}/correction")
    # what a browser sends: every field, pre-filled with the current receiver
    for name in ("legal_name", "address", "country", "email"):
        assert RECEIVER[name].split("\n")[0] in form_page.text
        fields[name] = RECEIVER[name]
    fields["vat_id"] = ""
    fields.update(changes)
    return site.post(f"/documents/{doc_id}/correction", fields)


def test_correction_requested_accepted_and_linked(docsite: Site) -> None:
    [doc] = docsite.billing.invoices.list(OWNER, docsite.main)
    form = docsite.get(f"/documents/{doc.id}/correction")
    assert "Disable the old receiver?" in form.text
    assert a11y_problems(form.text) == []
    sent = file_request(
        docsite,
        doc.id,
        legal_name="Dupré Conseil SARL",
        reason="we are a company now",
        disable_old_receiver="yes",
    )
    assert sent.status_code == 303  # type: ignore[attr-defined]
    history = text_of(docsite.get("/invoices?done=correction").text)
    assert "Request sent" in history and "Correction requested" in history
    assert "pending" in history
    # the staff view lists it; the owner may not open it
    assert docsite.get("/staff", user=OWNER).status_code == 403
    staff_page = docsite.get("/staff", user=STAFF)
    assert staff_page.status_code == 200
    assert "Dupré Conseil SARL" in staff_page.text and doc.number_text in staff_page.text
    assert a11y_problems(staff_page.text) == []
    [pending] = docsite.billing.invoices.pending_corrections(STAFF)
    accept = form_fields(staff_page.text, f"/staff/{pending.id}/accept")
    assert docsite.post(f"/staff/{pending.id}/accept", accept, user=STAFF).status_code == 303
    assert docsite.billing.invoices.pending_corrections(STAFF) == []
    # the corrected document is linked both ways and its PDF names the new receiver
    docs = {d.id: d for d in docsite.billing.invoices.list(OWNER, docsite.main)}
    [corrected] = [d for d in docs.values() if d.preceding_id == doc.id]
    history = text_of(docsite.get("/invoices").text)
    assert f"Corrects {doc.number_text}" in history
    assert f"Corrected by {corrected.number_text}" in history
    assert "accepted" in history
    text = pdf_text(docsite.get(f"/documents/{corrected.id}.pdf").content)
    assert "Dupré Conseil SARL" in text and doc.number_text in text
    # "Disable the old receiver?" was ticked: future invoices go to the new one
    assert docsite.billing.invoices.profile(OWNER, docsite.main).legal_name == "Dupré Conseil SARL"


def test_unticked_box_keeps_the_old_receiver_for_future_invoices(docsite: Site) -> None:
    [doc] = docsite.billing.invoices.list(OWNER, docsite.main)
    file_request(docsite, doc.id, legal_name="Just This Once SAS", reason="typo")
    [pending] = docsite.billing.invoices.pending_corrections(STAFF)
    assert pending.disable_old_receiver is False
    staff_page = docsite.get("/staff", user=STAFF)
    accept = form_fields(staff_page.text, f"/staff/{pending.id}/accept")
    docsite.post(f"/staff/{pending.id}/accept", accept, user=STAFF)
    assert docsite.billing.invoices.profile(OWNER, docsite.main).legal_name == "Hélène Dupré"


def test_a_rejected_request_shows_its_reason(docsite: Site) -> None:
    [doc] = docsite.billing.invoices.list(OWNER, docsite.main)
    file_request(docsite, doc.id, address="1 rue Neuve\n69001 Lyon", reason="moved")
    [pending] = docsite.billing.invoices.pending_corrections(STAFF)
    reject = form_fields(docsite.get("/staff", user=STAFF).text, f"/staff/{pending.id}/reject")
    reject["reason"] = "the invoice predates the move"
    assert docsite.post(f"/staff/{pending.id}/reject", reject, user=STAFF).status_code == 303
    history = text_of(docsite.get("/invoices").text)
    assert "rejected: the invoice predates the move" in history
    assert "Request a correction" in history  # it may be asked again


def test_correction_post_needs_the_csrf_token_and_a_reason(docsite: Site) -> None:
    [doc] = docsite.billing.invoices.list(OWNER, docsite.main)
    fields = form_fields(
        docsite.get(f"/documents/{doc.id}/correction").text, f"/documents/{doc.id}/correction"
    )
    no_token = {k: v for k, v in fields.items() if k != "csrf_token"}
    no_token.update(legal_name="X SAS", reason="r", country="FR", address="a")
    assert docsite.post(f"/documents/{doc.id}/correction", no_token).status_code == 403
    blank = dict(fields, legal_name="X SAS", address="a", country="FR", reason=" ")
    refused = docsite.post(f"/documents/{doc.id}/correction", blank)
    assert refused.status_code == 400
    assert docsite.billing.invoices.corrections(OWNER, docsite.main) == []


def test_staff_decisions_need_staff(docsite: Site) -> None:
    [doc] = docsite.billing.invoices.list(OWNER, docsite.main)
    file_request(docsite, doc.id, legal_name="Y SAS", reason="r")
    [pending] = docsite.billing.invoices.pending_corrections(STAFF)
    owner_fields = form_fields(docsite.get("/").text, "/lifecycle/cancel")
    answer = docsite.post(f"/staff/{pending.id}/accept", owner_fields, user=OWNER)
    assert answer.status_code == 403
    assert [r.status for r in docsite.billing.invoices.corrections(OWNER, docsite.main)] == [
        "pending"
    ]

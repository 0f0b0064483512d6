"""``paygate billing demo`` ends with the seed's correction, and the
``paygate invoices`` commands."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

from click.testing import CliRunner
from invoices_helpers import pdf_text

from paygate.cli import main


def test_the_billing_demo_ends_with_the_seed_correction(tmp_path: Path) -> None:
    out = tmp_path / "pdfs"
    result = CliRunner().invoke(main, ["billing", "demo", "--pdf-dir", str(out)])
    assert result.exit_code == 0, result.output
    assert "PROBLEM" not in result.output
    assert "Invoice Correction Request" in result.output
    assert f"Invoice PDFs written to {out}" in result.output
    names = sorted(p.name for p in out.glob("*.pdf"))
    assert names == ["TEST-F-2028-000001.pdf", "TEST-F-2028-000002.pdf", "TEST-F-2028-000003.pdf"]
    original, corrected, renewal = (
        pdf_text((out / n).read_bytes()).replace("\xa0", " ") for n in names
    )
    assert "Asso Café Théâtre" in original
    assert "Facture rectificative" in corrected
    assert "Annule et remplace la facture n° TEST-F-2028-000001" in corrected
    assert "Association Café-Théâtre de Lyon" in corrected
    assert "Association Café-Théâtre de Lyon" in renewal and "Facture rectificative" not in renewal


def _config(tmp_path: Path) -> Path:
    db = tmp_path / "cli.sqlite3"
    conf = tmp_path / "paygate.toml"
    conf.write_text(
        f'database_url = "sqlite:///{db}"\n'
        "[invoices.seller]\n"
        'legal_name = "Webinaires Exemple SAS"\n'
        'address = "12 rue de la Paix, 75002 Paris"\n'
        'country = "FR"\n'
        'vat_id = "FR40303265045"\n'
        'siren = "303265045"\n'
        'legal_form = "SAS"\n'
        'share_capital = "50 000 EUR"\n'
        'rcs = "RCS Paris"\n',
        encoding="utf-8",
    )
    return conf


def test_invoices_commands(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from invoices_helpers import CONSUMER, OWNER, account_with_card
    from sqlalchemy import text

    import paygate
    from paygate.billing import Billing

    conf = _config(tmp_path)
    payments = paygate.Payments(str(conf))
    billing = Billing(payments, clock=lambda: datetime(2027, 1, 31, 10, tzinfo=UTC))
    acct = account_with_card(billing, currency="EUR")
    billing.invoices.set_profile(OWNER, acct, **CONSUMER)
    billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="k1")
    [doc] = billing.invoices.list(OWNER, acct)
    run = CliRunner()
    base = ["--config", str(conf), "invoices"]

    out = run.invoke(main, [*base, "list", acct, "--actor", OWNER.ref])
    assert out.exit_code == 0, out.output
    assert doc.number_text in out.output and "Hélène Dupré" in out.output
    refused = run.invoke(main, [*base, "list", acct, "--actor", "stranger"])
    assert refused.exit_code != 0

    out = run.invoke(main, [*base, "show", doc.id, "--actor", OWNER.ref])
    assert out.exit_code == 0 and doc.sha256 in out.output and "fr.late_penalties" in out.output

    target = tmp_path / "x.pdf"
    out = run.invoke(main, [*base, "pdf", doc.id, "--actor", OWNER.ref, "-o", str(target)])
    assert out.exit_code == 0 and target.read_bytes() == billing.invoices.pdf(OWNER, doc.id)

    out = run.invoke(main, [*base, "verify"])
    assert out.exit_code == 0 and "1 documents checked, 0 problem(s)" in out.output

    zpath = tmp_path / "export.zip"
    out = run.invoke(
        main, [*base, "export", "--from", "2027-01-01", "--to", "2027-01-31", "-o", str(zpath)]
    )
    assert out.exit_code == 0, out.output
    with zipfile.ZipFile(zpath) as zf:
        assert sorted(zf.namelist()) == sorted([f"{doc.number_text}.pdf", "journal.csv"])
        assert zf.read(f"{doc.number_text}.pdf") == target.read_bytes()
        rows = list(csv.DictReader(io.StringIO(zf.read("journal.csv").decode())))
    assert [(r["number"], r["total"], r["vat_rate"]) for r in rows] == [
        (doc.number_text, "28.00", "20")
    ]
    out = run.invoke(
        main, [*base, "export", "--from", "2027-02-01", "--to", "2027-02-28", "-o", str(zpath)]
    )
    assert "0 documents" in out.output

    # Tamper with the stored PDF: verify fails and names the document.
    with billing.store.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER paygate_invoices_document_frozen"))
        conn.execute(text("UPDATE paygate_invoices_documents SET pdf = :p"), {"p": b"%PDF-x"})
    out = run.invoke(main, [*base, "verify"])
    assert out.exit_code == 1 and "altered" in out.output and "1 problem(s)" in out.output
    payments.close()


def test_a_separate_worker_issues_the_documents(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from invoices_helpers import CONSUMER, OWNER, SELLER, account_with_card, make_payments

    from paygate.billing import Billing

    url = f"sqlite:///{tmp_path / 'w.sqlite3'}"
    payments = make_payments(url, invoices={"seller": SELLER, "issue": "worker"})
    billing = Billing(payments, clock=lambda: datetime(2027, 1, 31, 10, tzinfo=UTC))
    acct = account_with_card(billing, currency="EUR")
    billing.invoices.set_profile(OWNER, acct, **CONSUMER)
    billing.subscribe(OWNER, acct, "webinar/s25", idempotency_key="k1")
    assert billing.invoices.list(OWNER, acct) == []  # the renewal path issued nothing
    conf = tmp_path / "paygate.toml"
    # JSON strings are valid TOML basic strings (the address has a newline).
    seller = "".join(f"{k} = {json.dumps(v)}\n" for k, v in SELLER.items())
    conf.write_text(
        f'database_url = "{url}"\n[invoices]\nissue = "worker"\n[invoices.seller]\n{seller}',
        encoding="utf-8",
    )
    out = CliRunner().invoke(main, ["--config", str(conf), "invoices", "issue"])
    assert out.exit_code == 0, out.output
    assert "issued 1 document(s)" in out.output
    assert [d.number for d in billing.invoices.list(OWNER, acct)] == [1]
    payments.close()

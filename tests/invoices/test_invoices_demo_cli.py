"""``paygate billing demo`` ends with the seed's correction, and the
``paygate invoices`` commands."""

from __future__ import annotations

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

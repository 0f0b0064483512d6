"""docs/billing.md: its catalog example loads and its Python example runs."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

from paygate.billing import Catalog

PAGE = Path(__file__).resolve().parents[2] / "docs" / "billing.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", PAGE.read_text(), flags=re.DOTALL)


def test_the_catalog_example_loads() -> None:
    [catalog, config] = _blocks("toml")
    cat = Catalog.loads(catalog)
    assert set(cat.offers) == {"webinar/s25", "toll-free"}
    assert len(cat.offer("webinar/s25").prices) == 2
    assert "[billing]" in config


def test_the_python_example_runs(tmp_path: Path) -> None:
    [example] = [b for b in _blocks("python") if b.startswith("from datetime import UTC")]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(  # noqa: S102 - the page's own example
            compile(example, str(PAGE), "exec"),
            {"DATABASE_URL": f"sqlite:///{tmp_path / 'docs.sqlite3'}"},
        )
    printed = out.getvalue().splitlines()
    assert printed[0] == "15.00 USD ['proration_credit', 'proration_debit']"
    assert printed[1].startswith("Webinar 100 attendees 2027-02-28")
    assert printed[2] == "1 1"
    # 60.00 for Feb 28 - Mar 31 (31 days), canceled on Mar 16: 15 days unused,
    # 60.00 x 15 / 31 = 29.032... rounded once
    assert printed[3] == "-29.03 USD"

"""docs/invoices.md: its Python example runs and prints what the page says."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

from invoices_helpers import SELLER

PAGE = Path(__file__).resolve().parents[2] / "docs" / "invoices.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", PAGE.read_text(), flags=re.DOTALL)


def test_the_python_example_prints_what_the_page_says(tmp_path: Path) -> None:
    [example] = _blocks("python")
    printed_block = PAGE.read_text().split("prints\n\n```\n", 1)[1].split("```", 1)[0]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(  # noqa: S102 - the page's own example
            compile(example, str(PAGE), "exec"),
            {"DATABASE_URL": f"sqlite:///{tmp_path / 'docs.sqlite3'}", "SELLER": SELLER},
        )
    assert out.getvalue() == printed_block

"""The hash chain of issued documents (VAT Directive art. 233: integrity).

Each document stores the SHA-256 of its PDF (``pdf_sha256``), of its
canonical data (``data_sha256``), and a chain value::

    chain = sha256(prev_chain | series | number | issue_date | pdf_sha256 | data_sha256)

where ``prev_chain`` is the chain of the previous number of the same series
(64 zeros for number 1). Changing a document's bytes or data breaks its own
hashes; removing one leaves a gap and breaks the next link; renumbering one
changes its chain and the next link. :func:`verify` reports each.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical(data: dict[str, Any]) -> str:
    """The one JSON text of a document's data (sorted keys, no spaces)."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def link(
    prev_chain: str, series: str, number: int, issue_date: str, pdf_sha: str, data_sha: str
) -> str:
    text = "|".join([prev_chain, series, str(number), issue_date, pdf_sha, data_sha])
    return sha256(text.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class Problem:
    series: str
    number: int | None
    kind: str  # altered | gap | broken_link | duplicate
    detail: str

    def __str__(self) -> str:
        where = f"{self.series}/{self.number}" if self.number is not None else self.series
        return f"{where}: {self.kind}: {self.detail}"


@dataclass(frozen=True, slots=True)
class StoredRow:
    id: str
    series: str
    number: int
    issue_date: str
    data: str
    pdf: bytes
    pdf_sha256: str
    data_sha256: str
    prev_chain: str
    chain: str


def verify(rows: Iterable[StoredRow]) -> list[Problem]:
    """Check every series: hashes of each file and data, contiguous numbers
    from 1, and each link to the previous document of its series."""
    problems: list[Problem] = []
    by_series: dict[str, list[StoredRow]] = {}
    for row in rows:
        by_series.setdefault(row.series, []).append(row)
    for series, docs in sorted(by_series.items()):
        docs.sort(key=lambda r: r.number)
        expected_prev = GENESIS
        expected_number = 1
        for row in docs:
            if row.number < expected_number:
                problems.append(Problem(series, row.number, "duplicate", "number used twice"))
                continue
            if row.number > expected_number:
                missing = (
                    f"{expected_number}"
                    if row.number == expected_number + 1
                    else f"{expected_number}..{row.number - 1}"
                )
                problems.append(Problem(series, row.number, "gap", f"missing number(s) {missing}"))
                expected_prev = row.prev_chain  # the link check below cannot bridge a gap
            if sha256(row.pdf) != row.pdf_sha256:
                problems.append(
                    Problem(series, row.number, "altered", f"document {row.id}: PDF bytes changed")
                )
            if sha256(row.data.encode("utf-8")) != row.data_sha256:
                problems.append(
                    Problem(series, row.number, "altered", f"document {row.id}: data changed")
                )
            if row.prev_chain != expected_prev:
                problems.append(
                    Problem(
                        series,
                        row.number,
                        "broken_link",
                        f"document {row.id} does not follow the previous document of its series",
                    )
                )
            recomputed = link(
                row.prev_chain,
                row.series,
                row.number,
                row.issue_date,
                row.pdf_sha256,
                row.data_sha256,
            )
            if recomputed != row.chain:
                problems.append(
                    Problem(
                        series,
                        row.number,
                        "altered",
                        f"document {row.id}: number, date or hashes differ from its chain",
                    )
                )
            expected_prev = row.chain
            expected_number = row.number + 1
    return problems


__all__ = ["GENESIS", "Problem", "StoredRow", "canonical", "link", "sha256", "verify"]

"""The bench's own helpers: what its figures rest on, checked without timing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bench import valgrind_requests as vg
from bench.instructions import read_dumps
from bench.stub_stripe import answer


def test_client_requests_are_harmless_outside_valgrind() -> None:
    if vg.requests_available():
        pytest.skip(vg.requests_available())
    # The magic sequence is a no-op on a real CPU: the default (0) comes back.
    assert vg.running_on_valgrind() is False
    vg.zero_stats()
    vg.dump_stats_at("nothing")


def test_read_dumps_takes_each_client_request_dump_by_its_label(tmp_path: Path) -> None:
    (tmp_path / "cg.7.1").write_text(
        "version: 1\ncreator: callgrind-3.19.0\ndesc: Trigger: Client Request: sdk\n"
        "events: Ir\nsummary: 4200000\ntotals: 4200000\n"
    )
    (tmp_path / "cg.7.2").write_text(
        "desc: Trigger: Client Request: sqlite\nevents: Ir\nsummary: 5400000\n"
    )
    # The final dump at exit is not a client request: left out.
    (tmp_path / "cg.7").write_text("desc: Trigger: Program termination\nsummary: 99\n")
    (tmp_path / "other.7.1").write_text("desc: Trigger: Client Request: x\nsummary: 1\n")
    assert read_dumps(tmp_path, "cg") == {"sdk": 4_200_000, "sqlite": 5_400_000}


def test_stub_answers_the_checkout_session_django_payments_reads() -> None:
    status, body = answer(
        "POST",
        "/v1/checkout/sessions",
        {
            "mode": "payment",
            "client_reference_id": "tok",
            "line_items[0][price_data][unit_amount]": "2500",
            "line_items[0][price_data][currency]": "usd",
        },
    )
    assert status == 200
    assert body["object"] == "checkout.session"
    assert body["id"].startswith("cs_test_") and body["id"] in body["url"]
    assert (body["amount_total"], body["currency"], body["client_reference_id"]) == (
        2500,
        "usd",
        "tok",
    )


def test_hand_wired_baseline_runs_in_the_settings_it_is_given(tmp_path: Path) -> None:
    from bench.sides import HAND_TABLE, HandWiredSQLite
    from paygate.ledger.schema import operations

    hand = HandWiredSQLite(
        tmp_path / "hand.sqlite3",
        {"journal_mode": "wal", "synchronous": 3, "wal_autocheckpoint": 1234},
    )
    try:
        got = [hand.conn.execute(f"PRAGMA {n}").fetchone()[0] for n in ("synchronous",)]
        assert got == [3]  # EXTRA: not the default (FULL)
        assert hand.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1234
    finally:
        hand.close()
    # The row has the ledger's operation shape: same columns, same indexed columns.
    conn = sqlite3.connect(tmp_path / "hand.sqlite3")
    columns = [r[1] for r in conn.execute(f"PRAGMA table_info({HAND_TABLE})")]
    assert columns == [c.name for c in operations.columns]
    indexed = sorted(
        tuple(r[2] for r in conn.execute(f"PRAGMA index_info({name})"))
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
            "AND name NOT LIKE 'sqlite_autoindex%'",
            (HAND_TABLE,),
        )
    )
    assert indexed == sorted(tuple(c.name for c in i.columns) for i in operations.indexes)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()

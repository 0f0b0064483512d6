"""Leakage: a full run with PAYGATE_DEBUG=1 and DEBUG logging, then every
byte of output, log, ledger database (and its WAL), provider state file and
exception text is searched for the test card numbers and CVCs.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import traceback
from pathlib import Path
from typing import Any

import pytest

from paygate import Card, Customer, Money
from paygate.errors import PaygateError
from paygate.operations import ProviderResult

PANS = [
    "4242424242424242",
    "5555555555554444",
    "4000002500003155",
    "4000000000000002",
    "378282246310005",
    "4000000000009995",
]
CVCS = ["739", "8231"]  # not amounts, not in any id: a stray one is a leak


def _pan_forms(pan: str) -> list[str]:
    grouped = " ".join(pan[i : i + 4] for i in range(0, len(pan), 4))
    return [pan, grouped, grouped.replace(" ", "-")]


def _leaks(text: str) -> list[str]:
    found = [form for pan in PANS for form in _pan_forms(pan) if form in text]
    found += [c for c in CVCS if re.search(rf"(?<![0-9A-Za-z]){c}(?![0-9A-Za-z])", text)]
    return found


class EchoingProvider:
    """A careless provider: logs the card and echoes it in its transcript."""

    name = "echo"

    @staticmethod
    def _pan(request: Any) -> str:
        return str(request.method.number.get_secret_value())

    @staticmethod
    def _cvc(request: Any) -> str:
        return str(request.method.cvc.get_secret_value())

    from paygate import hookimpl

    @hookimpl
    def paygate_provider_info(self) -> Any:
        from paygate.models import Capabilities, ProviderInfo

        return ProviderInfo(
            name="echo",
            currencies=None,
            payment_methods=frozenset({"card"}),
            capabilities=Capabilities(),
            test_mode=True,
        )

    @hookimpl
    def paygate_authorize(self, request: Any) -> ProviderResult:
        pan, cvc = self._pan(request), self._cvc(request)
        logging.getLogger("echo_sdk").debug("POST card[number]=%s&card[cvc]=%s", pan, cvc)
        logging.getLogger("echo_sdk").debug("json %s", {"number": pan, "cvc": cvc})
        return ProviderResult(
            status="authorized",
            provider_reference="echo_1",
            raw={"card": {"number": pan, "cvc": cvc}, "echo": f"charged {pan} cvc {cvc}"},
            provider_data={"note": f"card {pan}"},
        )


@pytest.mark.slow
def test_no_pan_or_cvc_anywhere(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    figures: Any,
) -> None:
    monkeypatch.setenv("PAYGATE_DEBUG", "1")
    log_file = tmp_path / "debug.log"
    handler = logging.FileHandler(log_file)
    # No clock in the format: a 3-digit CVC could match its milliseconds.
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    db = tmp_path / "ledger.sqlite3"
    state = tmp_path / "gateway.json"
    texts: list[str] = []
    ops = 0
    try:
        import paygate

        payments = paygate.Payments(
            {"database_url": f"sqlite:///{db}", "sandbox": {"state_file": str(state)}},
            plugins=[EchoingProvider()],
            load_entrypoints=False,
        )
        sandbox = payments.plugin("sandbox")
        visa = Card(PANS[0], 12, 2034, CVCS[0])
        amex = Card(PANS[4], 12, 2034, CVCS[1])

        def run(fn: Any, *args: Any, **kwargs: Any) -> Any:
            nonlocal ops
            ops += 1
            try:
                return fn(*args, **kwargs)
            except PaygateError as exc:
                texts.extend(
                    [
                        str(exc),
                        repr(exc),
                        str(exc.to_dict()),
                        "".join(traceback.format_exception(exc)),
                    ]
                )
                logging.getLogger("host").exception("payment failed")
                return None

        careless = f"order for card {PANS[1]} cvc {CVCS[0]}"
        tx = run(
            payments.authorize,
            Money("12.00", "USD"),
            visa,
            description=careless,
            metadata={
                "note": f"{PANS[1][:4]} {PANS[1][4:8]} {PANS[1][8:12]} {PANS[1][12:]}",
                "cvc": CVCS[1],
            },
        )
        run(payments.capture, tx.id)
        run(payments.refund, tx.id, Money("2.00", "USD"))
        run(payments.purchase, Money("30.00", "USD"), amex)
        run(payments.purchase, Money("10.00", "USD"), Card(PANS[3], 12, 2034, CVCS[0]))
        run(payments.purchase, Money("10.00", "USD"), Card(PANS[5], 12, 2034, CVCS[0]))
        three_ds = run(payments.purchase, Money("15.00", "USD"), Card(PANS[2], 12, 2034, CVCS[0]))
        run(payments.confirm, three_ds.id)
        run(payments.verify, visa)
        stored = run(payments.store_payment_method, visa, customer=Customer(id="cus_9"))
        run(payments.charge_recurring, Money("9.00", "USD"), stored, customer=Customer(id="cus_9"))
        sandbox.inject("timeout")
        run(payments.purchase, Money("11.00", "USD"), visa, idempotency_key="lost-1")
        run(payments.purchase, Money("11.00", "USD"), visa, idempotency_key="lost-1")
        sandbox.inject("reset_after_charge")
        run(payments.purchase, Money("13.00", "USD"), visa, idempotency_key="lost-2")
        payments.reconcile()
        run(payments.authorize, Money("5.00", "USD"), visa, provider="echo")
        run(payments.authorize, Money("5.00", "USD"), Card(PANS[0][:-1] + "3", 12, 2034, "1"))
        run(payments.authorize, Money("5.00", "USD"), Card(PANS[0], 13, 2034, CVCS[0]))
        run(payments.authorize, "5.00", visa)
        run(payments.authorize, Money("5.00", "USD"), PANS[0])
        headers, body = sandbox.make_webhook("payment.captured", tx.id)
        run(payments.parse_webhook, "sandbox", headers, body)
        run(payments.parse_webhook, "sandbox", {}, f'{{"card": "{PANS[0]}"}}')
        texts.extend([repr(visa), str(visa), visa.model_dump_json(), repr(payments)])
        texts.extend(repr(payments.transaction(t.id)) for t in (tx, three_ds) if t)
        payments.close()
    finally:
        root.removeHandler(handler)
        handler.close()
        root.setLevel(old_level)
    out, err = capfd.readouterr()
    log_text = log_file.read_text()
    con = sqlite3.connect(db)
    dump = "\n".join(con.iterdump())
    con.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("ledger"))
    sources = {
        "stdout": out,
        "stderr": err,
        "log": log_text,
        "ledger dump": dump,
        "ledger files (raw, with WAL)": raw.decode("latin-1"),
        "provider state file": state.read_text(),
        "exception texts": "\n".join(texts),
    }
    found = {name: _leaks(text) for name, text in sources.items()}
    assert "[REDACTED]" in log_text  # the scrubber did see secrets, and hid them
    assert "call paygate_authorize" in log_text  # the debug trace did run
    assert {k: v for k, v in found.items() if v} == {}
    size = sum(len(t) for t in sources.values())
    figures(
        "leakage",
        f"{ops} calls with PAYGATE_DEBUG=1 and DEBUG logging (a careless provider SDK and "
        f"host text included); searched {size:,} characters in {len(sources)} places "
        f"({', '.join(sources)}) for {len(PANS)} test PANs in 3 spellings and "
        f"{len(CVCS)} CVCs: 0 found; log lines redacted: {log_text.count('[REDACTED]')}",
    )

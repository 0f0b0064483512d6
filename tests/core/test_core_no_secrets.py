"""Nothing logged, printed or stored during a sandbox run holds a card number or CVC."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from paygate.cli.demo import DECLINED, THREE_DS, VISA

SECRETS = [VISA, DECLINED, THREE_DS]
CVC = "123"

SCRIPT = """
import logging, sys
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
from paygate.cli import main
main(["demo", "--database", sys.argv[1]])
"""


def test_demo_run_leaks_no_card_data(tmp_path: Path) -> None:
    db = tmp_path / "run.sqlite3"
    env = {**os.environ, "PAYGATE_DEBUG": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(db)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "call paygate_authorize" in proc.stderr  # the trace did run
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    for pan in SECRETS:
        assert pan not in proc.stdout
        assert pan not in proc.stderr
        assert pan.encode() not in stored
        # grouped forms a log line might use
        grouped = " ".join(pan[i : i + 4] for i in range(0, 16, 4))
        assert grouped not in proc.stderr
    # the CVC is never stored: look for it as a JSON value or a form field
    assert b'"cvc": "123"' not in stored and b"cvc=123" not in stored
    assert f"cvc='{CVC}'" not in proc.stderr and f"cvc={CVC}" not in proc.stderr

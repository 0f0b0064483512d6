"""``paygate serve``: the demo host comes up on 127.0.0.1, says how to log in
as each demo user, serves the seeded account, and stops by itself here."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
import web_helpers  # noqa: F401  (skips the module without the web extra)

pytest.importorskip("uvicorn")
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - loopback
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


def test_paygate_serve_shows_the_seeded_demo() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from paygate.cli import main; main()",
            "serve",
            "--port",
            str(port),
            "--stop-after",
            "40",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and not any("webhooks:" in ln for ln in lines):
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
        printed = "".join(lines)
        base = f"http://127.0.0.1:{port}/"
        assert f"{base}billing/?as=owner" in printed, printed
        assert "member@example.org" in printed and "sub@example.org" in printed
        assert "DEMO ONLY" in printed
        for _ in range(100):  # the server starts right after printing
            try:
                status, html = fetch(f"{base}billing/?as=owner")
                break
            except OSError:
                time.sleep(0.1)
        assert status == 200 and "Billing details" in html
        status, html = fetch(f"{base}billing/invoices?as=owner")
        assert status == 200 and html.count('<tr id="doc-') >= 12
        assert fetch(f"{base}billing/?as=member")[0] == 403
    finally:
        proc.terminate()
        proc.wait(timeout=20)

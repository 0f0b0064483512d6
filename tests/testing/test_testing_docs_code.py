"""Every Python block in README.md and docs/ runs (or is listed, with why not).

Each block runs in a fresh interpreter, after a prelude of paygate's public
imports and a ``payments`` facade on the sandbox (host snippets assume
one). A hook-signature block (``def paygate_x(...) -> T``) is completed with
``: ...`` and run, which checks its names. Blocks checked elsewhere are not
run twice here: the guide's ``tinygate/...`` blocks
(test_testing_provider_guide.py) and README's provider plugin
(test_testing_readme_provider.py).

``NOT_RUN`` lists, visibly, the fragments that cannot run on their own (they
continue the host's code, or need a real gateway); each still compiles.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PRELUDE = textwrap.dedent(
    """
    import datetime, hashlib, hmac, json, os, re, secrets, time
    from decimal import Decimal

    import paygate
    from paygate import *
    from paygate.errors import *
    from paygate.models import *
    from paygate.money import Money
    from paygate.operations import *
    from paygate.operations import RoutingRequest, ValidationContext
    from paygate.billing import *
    from paygate.billing.documents import *

    payments = paygate.Payments({"database_url": "memory"})
    """
)

#: (file, the block's first code line) -> why it is not run on its own.
NOT_RUN: dict[tuple[str, str], str] = {
    ("docs/billing.md", "from datetime import UTC, datetime"): (
        "run, with its printed output checked, by tests/billing/test_billing_docs.py,"
        " which names the SQL database billing needs (DATABASE_URL)"
    ),
    ("docs/invoices.md", "from datetime import UTC, datetime"): (
        "run, with its printed output checked, by tests/invoices/test_invoices_docs.py,"
        " which names the SQL database and the seller"
    ),
    ("README.md", "import paygate"): "the host example configures Stripe with a real key",
    ("docs/portal.md", "import secrets"): (
        "run, and its app requested, by tests/web/test_portal_docs.py, which names the"
        " SQL database billing needs (DATABASE_URL)"
    ),
    ("docs/portal.md", "from fastapi import FastAPI"): (
        "needs FastAPI (not a paygate dependency); the same mount runs with Starlette"
        " in tests/web/test_portal_docs.py"
    ),
    ("docs/portal.md", "from django.core.asgi import get_asgi_application"): (
        "needs Django (not a paygate dependency); its path routing is run with a"
        " stand-in Django app by tests/web/test_portal_docs.py"
    ),
    (
        "docs/card-networks.md",
        'if payments.plugin("cardnetworks").cards_limited_in(customer.country):',
    ): ("a fragment of the host's checkout (its customer)"),
    ("docs/errors.md", "from paygate.errors import CardDeclined, ErrorCode, ProviderUnavailable"): (
        "a fragment of the host's checkout (its amount, card and order)"
    ),
    (
        "docs/getting-started.md",
        "from paygate.errors import CardDeclined, InvalidRequest, ProviderUnavailable",
    ): ("a fragment of the host's checkout (its amount, card and order)"),
    ("docs/getting-started.md", 'payments = paygate.Payments("paygate.toml")'): (
        "reads the host's paygate.toml and pays with PayPal"
    ),
    (
        "docs/providers/paypal.md",
        'paypal = payments.plugin_manager.get_plugin("paypal")   # the PayPalProvider instance',
    ): ("needs a PayPal authorization (the plugin's tests run reauthorize)"),
    (
        "docs/providers/stripe.md",
        'method = paygate.StoredPaymentMethod(provider="stripe", token="pm_1Q...")',
    ): ("needs a Stripe key and a saved Stripe payment method"),
    (
        "docs/providers/stripe.md",
        'event = payments.parse_webhook("stripe", request.headers, request.body)',
    ): ("a fragment of the host's web handler (its request)"),
    ("docs/providers/stripe.md", "from paygate_stripe.localserver import start_localstripe"): (
        "starts localstripe (the plugin's own tests do)"
    ),
    ("docs/reliability.md", "from paygate.ledger.migrations import upgrade"): (
        "migrates the host's PostgreSQL database"
    ),
}

SIGNATURE = re.compile(r"def \w+\([^)]*\)( -> [^\n]+)?\n")


def _blocks() -> list[tuple[str, int, str]]:
    found = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith("docs/examples/"):
            continue
        text = path.read_text()
        for match in re.finditer(r"```python([^\n]*)\n(.*?)```", text, flags=re.DOTALL):
            info, code = match.group(1), match.group(2)
            if 'title="tinygate/' in info:
                continue  # the guide's plugin: test_testing_provider_guide.py
            line = text[: match.start()].count("\n") + 1
            found.append((relative, line, code))
    readme_provider = (ROOT / "README.md").read_text().split("## A provider plugin", 1)[1]
    readme_provider = readme_provider.split("\n## ", 1)[0]
    return [b for b in found if not (b[0] == "README.md" and b[2] in readme_provider)]


def _first_line(code: str) -> str:
    return next(
        (ln.strip() for ln in code.splitlines() if ln.strip() and not ln.strip().startswith("#")),
        "",
    )


def _runnable(code: str) -> str:
    code = textwrap.dedent(code)
    return code.rstrip() + ": ...\n" if SIGNATURE.fullmatch(code) else code


BLOCKS = _blocks()

#: Runs each block given as JSON on stdin in a fresh namespace (after the
#: prelude), and prints {"file:line": null or the error}.
RUNNER = textwrap.dedent(
    """
    import json, sys, traceback
    prelude, blocks = json.load(sys.stdin)
    out = {}
    for name, code in blocks:
        namespace = {"__name__": "__docs__"}
        try:
            exec(compile(prelude + code, name, "exec"), namespace)
            out[name] = None
        except BaseException:
            out[name] = traceback.format_exc()[-2000:]
        finally:
            closing = namespace.get("payments")
            if hasattr(closing, "close"):
                closing.close()
    print(json.dumps(out))
    """
)


@pytest.fixture(scope="module")
def ran() -> dict[str, str | None]:
    """Every runnable block, run once in one child interpreter."""
    todo = [
        (f"{where}:{line}", _runnable(code))
        for where, line, code in BLOCKS
        if (where, _first_line(textwrap.dedent(code))) not in NOT_RUN
    ]
    result = subprocess.run(
        [sys.executable, "-c", RUNNER],
        input=json.dumps([PRELUDE, todo]),
        cwd=ROOT / "tests",
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PAYGATE_DATABASE_URL": "memory"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found: dict[str, str | None] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


@pytest.mark.parametrize(("where", "line", "code"), BLOCKS, ids=[f"{w}:{n}" for w, n, _ in BLOCKS])
def test_docs_code_block_runs(ran: dict[str, str | None], where: str, line: int, code: str) -> None:
    runnable = _runnable(code)
    compile(runnable, f"{where}:{line}", "exec")
    reason = NOT_RUN.get((where, _first_line(textwrap.dedent(code))))
    if reason is not None:
        pytest.skip(f"not run on its own: {reason}")
    error = ran[f"{where}:{line}"]
    assert error is None, f"{where}:{line} failed:\n{error}"


def test_every_not_run_entry_names_a_block() -> None:
    present = {(where, _first_line(textwrap.dedent(code))) for where, _, code in BLOCKS}
    assert set(NOT_RUN) - present == set(), "NOT_RUN lists blocks that no longer exist"

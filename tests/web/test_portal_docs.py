"""docs/portal.md: its Starlette host runs and serves the portal and the
webhook endpoint; its Django ``asgi.py`` routes the portal's paths."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
import web_helpers  # noqa: F401  (skips the module without the web extra)
from starlette.testclient import TestClient

PAGE = Path(__file__).resolve().parents[2] / "docs" / "portal.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.DOTALL)


def test_the_starlette_host_runs(tmp_path: Path) -> None:
    starlette_block = _blocks()[0]
    namespace: dict[str, Any] = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'docs.sqlite3'}",
        "SECRET": "docs-secret-0123456789abcdef",
        "ACCOUNTS": {},
    }
    exec(compile(starlette_block, str(PAGE), "exec"), namespace)  # noqa: S102 - the page's own
    billing = namespace["billing"]
    acct = billing.create_account("ann", currency="USD")
    namespace["ACCOUNTS"]["ann"] = acct.id
    try:
        with TestClient(namespace["app"]) as client:
            assert client.get("/billing/").status_code == 401  # nobody signed in
            # the host's auth middleware puts the user in the scope
            signed = TestClient(_with_user(namespace["app"], "ann"))
            page = signed.get("/billing/")
            assert page.status_code == 200 and "No subscription" in page.text
            assert client.post("/webhooks/sandbox", content=b"{}").status_code == 400
            assert client.post("/webhooks/nosuch", content=b"{}").status_code == 404
    finally:
        namespace["payments"].close()


def _with_user(app: Any, user: str) -> Any:
    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await app(dict(scope, user_id=user), receive, send)

    return wrapped


def test_the_django_routing_sends_portal_paths_to_the_portal() -> None:
    django_block = _blocks()[2]
    seen: list[tuple[str, str, str]] = []

    def recorder(name: str) -> Any:
        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            seen.append((name, scope.get("root_path", ""), scope["path"]))

        return app

    class _DjangoCore:  # a stand-in for django.core.asgi (Django is not installed)
        @staticmethod
        def get_asgi_application() -> Any:
            return recorder("django")

    import sys
    import types

    fake = types.ModuleType("django.core.asgi")
    fake.get_asgi_application = _DjangoCore.get_asgi_application  # type: ignore[attr-defined]
    names = ["django", "django.core", "django.core.asgi"]
    saved = {n: sys.modules.get(n) for n in names}
    sys.modules.update(
        {
            "django": types.ModuleType("django"),
            "django.core": types.ModuleType("django.core"),
            "django.core.asgi": fake,
        }
    )
    try:
        namespace: dict[str, Any] = {
            "billing_portal": lambda *a, **k: recorder("portal"),
            "webhook_endpoint": lambda *a, **k: recorder("hooks"),
            "billing": types.SimpleNamespace(on_webhook=None),
            "payments": None,
            "authenticate": None,
            "account_of": None,
            "SECRET": "x",
        }
        exec(compile(django_block, str(PAGE), "exec"), namespace)  # noqa: S102
        application = namespace["application"]
        for path in ("/billing/invoices", "/billing", "/webhooks/stripe", "/billingx", "/admin/"):
            asyncio.run(application({"type": "http", "path": path}, None, None))
    finally:
        for n, mod in saved.items():
            if mod is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = mod
    assert seen == [
        ("portal", "/billing", "/invoices"),
        ("portal", "/billing", "/"),
        ("hooks", "/webhooks", "/stripe"),
        ("django", "", "/billingx"),
        ("django", "", "/admin/"),
    ]


def test_the_stripe_card_entry_example_prints_what_it_says(
    capsys: pytest.CaptureFixture[str],
) -> None:
    [block] = [b for b in _blocks() if "stripe_publishable_key=" in b and "pk_test_" in b]
    namespace: dict[str, Any] = {}
    try:
        exec(compile(block, str(PAGE), "exec"), namespace)  # noqa: S102 - the page's own
    finally:
        namespace["payments"].close()
    printed = capsys.readouterr().out.splitlines()
    assert printed == ["False", "script-src 'self' https://js.stripe.com", "stripe_publishable_key"]
    for line in printed:  # each is what the page's comments say it prints
        assert f"# {line}" in block

"""``paygate serve``: the billing portal and the webhook endpoint on
127.0.0.1, with the sandbox and a seeded demo account (needs ``paygate[web]``)."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

import click


@click.command("serve")
@click.option("--port", type=click.IntRange(1024, 65535), default=8765, show_default=True)
@click.option(
    "--database",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="SQLite file for the demo (default: a fresh temporary one).",
)
@click.option("--stop-after", type=click.FloatRange(min=0.1), default=None, hidden=True)
def serve_command(port: int, database: Path | None, stop_after: float | None) -> None:
    """Serve the billing portal demo on 127.0.0.1 (sandbox, seeded account).

    DEMO ONLY: the user is picked with ?as=owner|member|sub|staff, no password.
    """
    try:
        import uvicorn

        from paygate.web.demo import build_demo, describe
    except ImportError as exc:  # the extra is not installed
        raise click.ClickException(
            f"paygate serve needs the web extra: pip install 'paygate[web]' ({exc.name} missing)"
        ) from None
    with tempfile.TemporaryDirectory(prefix="paygate-serve-") as tmp:
        path = database if database is not None else Path(tmp) / "demo.sqlite3"
        click.echo("seeding the demo account (a year of invoices)...")
        host = build_demo(path)
        try:
            server = uvicorn.Server(
                uvicorn.Config(host.app, host="127.0.0.1", port=port, log_level="warning")
            )
            for line in describe(f"http://127.0.0.1:{port}/"):
                click.echo(line)
            if stop_after is not None:
                timer = threading.Timer(stop_after, lambda: setattr(server, "should_exit", True))
                timer.daemon = True
                timer.start()
            server.run()
        finally:
            host.close()

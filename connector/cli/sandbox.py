"""`smsync demo` and `smsync sandbox serve`: the connector and the embedded emulators."""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer

from connector.cli.app import app, fail, sandbox_app
from connector.errors import ConfigError, SmsyncError


@app.command()
def demo(  # noqa: PLR0917 (typer options)
    crm: Annotated[str, typer.Option(help="salesforce or hubspot")] = "salesforce",
    contacts: Annotated[int, typer.Option(min=10)] = 500,
    as_json: Annotated[bool, typer.Option("--json", help="End with one JSON line.")] = False,
    keep_db: Annotated[
        Path | None,
        typer.Option(help="Keep the demo's SQLite database here (a new file), e.g. for report"),
    ] = None,
    effect: Annotated[
        float,
        typer.Option(
            help="What a play's text adds to a contact's chance of booking a meeting"
            " (the world's true lift; 0 = texts change nothing)"
        ),
    ] = 0.35,
    seed: Annotated[
        int, typer.Option(min=0, help="The world's seed: the records and who books, shows, wins")
    ] = 7,
) -> None:
    """Run the real connector against the embedded sandbox on SQLite, end to end."""
    from connector import logs
    from connector.demo.runner import CRMS, run_demo

    if crm not in CRMS:
        fail(f"demo: --crm must be one of {', '.join(CRMS)} (got {crm!r})")
    logs.configure("warning")  # the progress bars and the summary are the demo's output
    try:
        run_demo(crm, contacts, as_json=as_json, keep_db=keep_db, effect=effect, seed=seed)
    except (SmsyncError, ValueError) as exc:
        fail(f"demo: {exc}", 2 if isinstance(exc, ConfigError | ValueError) else 1)


@sandbox_app.command("serve")
def sandbox_serve(
    port: Annotated[int, typer.Option(help="First of four consecutive ports; 0 = any")] = 0,
    seed_contacts: Annotated[int, typer.Option(min=0)] = 0,
    webhook_base_url: Annotated[
        str, typer.Option(help="Where Twilio webhooks go (the sidecar's public base URL)")
    ] = "http://127.0.0.1:8080",
) -> None:
    """Serve the emulators until SIGTERM or SIGINT; print one JSON line once listening."""
    from connector.sandbox.server import Sandbox

    stop = threading.Event()

    def _stop(*_: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        sandbox = Sandbox(
            port=port, seed_contacts=seed_contacts, webhook_base_url=webhook_base_url
        ).start()
    except OSError as exc:
        fail(f"sandbox: cannot listen on port {port}: {exc.strerror}; try --port 0")
    try:
        sys.stdout.write(json.dumps(sandbox.describe()) + "\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        sandbox.stop()

"""`smsync run` (the sidecar) and `smsync sync --once` (one cycle)."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from connector.cli.app import app, fail
from connector.errors import ConfigError, SmsyncError


@app.command()
def run() -> None:
    """The sidecar: scheduler plus webhook, health and metrics endpoints."""
    import os

    from connector.config import load_settings
    from connector.runtime.service import Service
    from connector.store.migrate import database_errors

    settings = load_settings()
    service = Service(settings)
    # ConfigError (bad settings, mapping, credentials, a vendor refusing them, a second
    # replica, a database that cannot be reached or written) -> exit 2
    with database_errors(settings.database_url):
        code = service.run()
    if service.unfinished:  # a job overran the shutdown timeout: its leases cover it
        sys.stderr.flush()
        os._exit(code)
    raise typer.Exit(code)


@app.command()
def sync(
    once: Annotated[bool, typer.Option("--once", help="One full cycle, then exit.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """One full pull, plan, send, ingest, writeback and sweep cycle."""
    if not once:
        fail("smsync sync: pass --once (the continuous loop is `smsync run`)")
    from connector.config import load_settings
    from connector.engine.cycle import run_cycle
    from connector.runtime.wiring import build, configure
    from connector.store.migrate import database_errors, upgrade

    try:
        settings = load_settings()
        configured = configure(settings)  # every mistake is found before the database
        upgrade(settings.database_url)  # schema only; a dry run rolls back everything else
        with database_errors(settings.database_url):
            parts = build(settings, configured=configured)
            try:
                report = run_cycle(parts.engine, dry_run=dry_run).to_json()
            finally:
                parts.close()
    except SmsyncError as exc:
        fail(str(exc), 2 if isinstance(exc, ConfigError) else 1)
    if as_json:
        typer.echo(json.dumps(report))
        return
    for name in ("pull", "rep_send", "send", "reconcile", "ingest", "writeback", "sweep"):
        if report.get(name) is not None:
            typer.echo(f"{name}: {json.dumps(report[name])}")
    if dry_run:
        typer.echo(f"would write {len(report['would_write'])} CRM record(s):")
        for w in report["would_write"]:
            fields = json.dumps(w["fields"])
            typer.echo(f"  {w['kind']} {w['external_id']} -> {w['target']}: {fields}")
        typer.echo(f"would send {len(report['would_send'])} SMS:")
        for m in report["would_send"]:
            typer.echo(f"  {m['idempotency_key']} to {m['to']}: {m['body']}")
    for note in report["notes"]:
        typer.echo(f"note: {note}")

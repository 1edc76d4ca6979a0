"""`smsync status`: the sync's health at a glance; exit 1 when unhealthy (a probe)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from connector.cli.app import app
from connector.cli.ops_common import migrated_store, sidecar_now


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Jobs, lags, queues, retry ledger and API budget; exits 1 when something is unhealthy."""
    from connector.config import load_settings
    from connector.ops.status import Thresholds, build, lines

    s = load_settings()
    thresholds = Thresholds(s.alert_writeback_lag_s, s.alert_job_failures, s.alert_api_budget_pct)
    now = sidecar_now()
    with migrated_store() as conn:
        found = build(conn, now, thresholds)
    typer.echo(json.dumps(found, sort_keys=True) if as_json else "\n".join(lines(found)))
    if not found["healthy"]:
        raise typer.Exit(1)

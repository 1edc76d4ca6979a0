"""`smsync failures`: per-record CRM and SMS failures; `retry` and `drop` act on them."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from connector.cli.app import app, fail
from connector.cli.ops_common import actor, migrated_store, parse_time, sidecar_now, when

if TYPE_CHECKING:
    from connector.ops.failures import Queue

failures_app = typer.Typer(
    help="Per-record CRM and SMS failures: list them, retry them, drop them.",
    invoke_without_command=True,
)
app.add_typer(failures_app, name="failures")


@failures_app.callback()
def failures(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array.")] = False,
    since: Annotated[
        str | None, typer.Option(help="Only failures since (ISO date or time, UTC if naive)")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Only this error code")] = None,
) -> None:
    """List the current failures (phone numbers masked)."""
    if ctx.invoked_subcommand is not None:
        return
    from connector.ops.failures import list_failures

    start = parse_time(since, "--since")
    with migrated_store() as conn:
        found = list_failures(conn, since=start, reason=reason)
    if as_json:
        typer.echo(json.dumps([f.as_json() for f in found], sort_keys=True))
        return
    if not found:
        typer.echo("no failures")
        return
    for f in found:
        typer.echo(
            f"{f.id}  {f.state}  {f.record}  {f.code}: {f.message}\n"
            f"    key {f.key}  attempts {f.attempts}  failed {when(f.last_failed_at)}"
            f"  next retry {when(f.next_retry)}\n"
            f"    payload {json.dumps(f.payload, sort_keys=True, default=str)}"
        )
    typer.echo(f"{len(found)} failure(s)")


def _targets(ids: list[str]) -> list[tuple[Queue, int]]:
    from connector.ops.failures import FailureIdError, parse_id

    try:
        return [parse_id(i) for i in ids]
    except FailureIdError as exc:
        fail(f"failures: {exc}")


@failures_app.command("retry")
def retry(
    ids: Annotated[list[str] | None, typer.Argument(help="Failure ids (crm-12 sms-3 ...)")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every current failure")] = False,
    reason: Annotated[str | None, typer.Option(help="With --all: only this error code")] = None,
    by: Annotated[str | None, typer.Option(help="Who retries (default: $USER)")] = None,
) -> None:
    """Requeue failures with the same external id or idempotency key (exactly once)."""
    from connector.ops.failure_actions import ActionError
    from connector.ops.failure_actions import retry as do_retry
    from connector.ops.failures import list_failures

    if bool(ids) == all_:
        fail("failures retry: give failure ids or --all, not both and not neither")
    if reason is not None and not all_:
        fail("failures retry: --reason goes with --all")
    who = actor(by)
    now = sidecar_now()
    with migrated_store() as conn:
        if all_:
            targets = [
                (f.queue, f.row_id)
                for f in list_failures(conn, reason=reason)
                if f.state != "claimed"
            ]
        else:
            targets = _targets(ids or [])
        try:
            done = do_retry(conn, targets, who, now)
        except ActionError as exc:
            fail(f"failures retry: {exc}; nothing changed")
    for d in done:
        typer.echo(f"requeued {d.failure.id} ({d.failure.key})")
    typer.echo(f"{len(done)} requeued by {who}")


@failures_app.command("drop")
def drop(
    ids: Annotated[list[str], typer.Argument(help="Failure ids (crm-12 sms-3 ...)")],
    why: Annotated[str, typer.Option("--why", help="Why it is abandoned (kept for audit)")],
    by: Annotated[str | None, typer.Option(help="Who drops (default: $USER)")] = None,
) -> None:
    """Abandon failures for good, recording who and why."""
    from connector.ops.failure_actions import ActionError
    from connector.ops.failure_actions import drop as do_drop

    who = actor(by)
    targets = _targets(ids)
    now = sidecar_now()
    with migrated_store() as conn:
        try:
            done = do_drop(conn, targets, who, why, now)
        except ActionError as exc:
            fail(f"failures drop: {exc}; nothing changed")
    for d in done:
        typer.echo(f"dropped {d.failure.id} ({d.failure.key})")
    typer.echo(f"{len(done)} dropped by {who}: {why}")

"""`smsync consent show|export|verify`: the consent audit trail."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from connector.cli.app import app, fail
from connector.cli.ops_common import migrated_store, parse_time

consent_app = typer.Typer(help="The consent audit trail: show a number, export, verify.")
app.add_typer(consent_app, name="consent")


@consent_app.command("show")
def show(
    phone: Annotated[str, typer.Argument(help="The number (E.164, or national with +1 default)")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """A number's whole ledger, each change with the texts sent after it and the decision
    that allowed each (the number masked in the output)."""
    from connector.domain.phones import InvalidPhoneNumber, to_e164
    from connector.ops.consent_audit import show as show_phone
    from connector.ops.consent_audit import show_lines

    try:
        e164 = to_e164(phone)
    except InvalidPhoneNumber as exc:
        fail(f"consent show: {exc}")
    with migrated_store() as conn:
        found = show_phone(conn, e164)
    typer.echo(json.dumps(found, sort_keys=True) if as_json else "\n".join(show_lines(found)))


@consent_app.command("export")
def export(
    since: Annotated[
        str | None, typer.Option(help="From this event time (ISO, UTC if naive)")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Before this event time (exclusive)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv or jsonl")] = "jsonl",
    out: Annotated[Path | None, typer.Option(help="Write here instead of stdout")] = None,
) -> None:
    """The ledger for a period, streamed, ending with a digest line (sha256, row count,
    chain hashes)."""
    from connector.ops.consent_audit import export as export_rows

    if fmt not in ("csv", "jsonl"):
        fail(f"consent export: --format must be csv or jsonl, not {fmt!r}")
    start, end = parse_time(since, "--since"), parse_time(until, "--until")
    if start is not None and end is not None and start >= end:
        fail("consent export: --since must be before --until")
    with migrated_store() as conn:
        lines = export_rows(conn, "csv" if fmt == "csv" else "jsonl", start, end)
        if out is None:
            for line in lines:
                sys.stdout.write(line)
            sys.stdout.flush()
            return
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding="utf-8", newline="") as f:
            f.writelines(lines)
    typer.echo(f"wrote {out}", err=True)


@consent_app.command("verify")
def verify() -> None:
    """Check the ledger's hash chain end to end; exit 1 naming the first broken row."""
    from connector.ops.consent_audit import verify as verify_chain

    with migrated_store() as conn:
        verdict = verify_chain(conn)
    if verdict.broken is None:
        typer.echo(f"consent ledger intact: {verdict.rows} rows, head {verdict.head}")
        return
    typer.echo(
        f"consent ledger TAMPERED at row id {verdict.broken.row_id}: {verdict.broken.reason}"
        f" ({verdict.rows - 1} rows before it hold)",
        err=True,
    )
    raise typer.Exit(1)

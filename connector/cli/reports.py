"""`smsync explain` (one contact's decisions) and `smsync report` (outcomes by play and
segment)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from connector.cli.app import app, fail, record_id


@app.command()
def explain(
    contact: Annotated[str, typer.Option(help="CRM record id")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """The decision log for one contact, newest first."""
    from connector.config import load_settings
    from connector.engine.contact_context import find_contact
    from connector.engine.explain import explain as explain_contact
    from connector.runtime.wiring import open_store
    from connector.store.migrate import database_errors

    contact = record_id(contact)
    settings = load_settings()
    url = settings.database_url
    store = open_store(settings)
    try:
        with database_errors(url), store.begin() as conn:
            found = explain_contact(conn, contact)
            known = find_contact(conn, contact) is not None
    finally:
        store.close()
    if not known and not found.entries:  # a typo, or a record never pulled: say which
        fail(
            f"explain: no record {contact!r} is known to smsync: it was never pulled from the"
            " CRM (check the id, e.g. 00Q... for a Salesforce Lead, or run `smsync sync"
            " --once` first)"
        )
    if as_json:
        typer.echo(json.dumps(found.as_json(), sort_keys=True))
    else:
        typer.echo("\n".join(found.lines()))


@app.command()
def report(
    *,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    html: Annotated[Path | None, typer.Option(help="Write an HTML report here")] = None,
    since: Annotated[
        str | None, typer.Option(help="Start of the period (ISO date or time, UTC if naive)")
    ] = None,
    until: Annotated[str | None, typer.Option(help="End of the period, exclusive")] = None,
    by: Annotated[str | None, typer.Option(help="Group by play, segment, team or owner")] = None,
    segment: Annotated[str, typer.Option(help="The segment key for --by segment")] = "industry",
) -> None:
    """Outcome measurement by play, segment, team or owner.

    Every rate is a share of the contacts texted in the period: contact rate (a text
    delivered), reply rate (a reply after the first text), meeting rate (a meeting booked
    or held after the first text: a meeting disposition set then, or a linked opportunity
    at a mapped stage at or past meeting held then), opt-out rate (an opt-out within 7 days
    after a text; STOPs from numbers not texted in the 7 days before are counted apart).
    Rep first response: from a reply that needed a person to the first person's text (a
    manual send through smsync or a rep's text from the CRM) or completed follow-up task,
    wall-clock and business hours; SLA met % over closed timers. Play conversion and lift
    (95% interval) are over the play's treated arm, or its texted contacts when it has no
    holdout. Plays with variants: each variant's rates and its difference to the other
    variants and the holdout (95% interval, or too small to judge). README, "Measuring
    outcomes", has every definition.
    """
    from rich.console import Console

    from connector.config import load_settings
    from connector.report.html import to_html
    from connector.report.options import mapping_scope, parse_when, play_outcomes_of
    from connector.report.queries import GroupBy, Scope, build_report
    from connector.report.render import print_report, to_json
    from connector.store import SqlStore
    from connector.store.migrate import database_errors, require_current

    try:
        group = GroupBy(by) if by is not None else None
    except ValueError:
        fail(f"report: --by must be one of {', '.join(g.value for g in GroupBy)}")
    settings = load_settings()
    scope = Scope(parse_when(since, "--since"), parse_when(until, "--until"), group, segment)
    calendar, pipeline = mapping_scope(settings)
    if calendar is not None:
        scope = replace(scope, calendar=calendar)
    if pipeline is not None:
        scope = replace(scope, pipeline=pipeline)
    outcomes = play_outcomes_of(settings)
    require_current(settings.database_url)
    store = SqlStore.from_url(settings.database_url)
    try:
        with database_errors(settings.database_url), store.begin() as conn:
            found = build_report(conn, scope, outcomes)
    finally:
        store.close()
    if html is not None:
        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(to_html(found), encoding="utf-8")
    if as_json:
        typer.echo(to_json(found))
    elif html is None:
        print_report(found, Console())
    else:
        typer.echo(f"wrote {html}")

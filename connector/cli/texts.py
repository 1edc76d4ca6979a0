"""`smsync send` (a manual send, governed) and `smsync classify` (what a reply would be read
as)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from connector.cli.app import app, fail, record_id


@app.command()
def send(
    contact: Annotated[str, typer.Option(help="CRM record id")],
    play: Annotated[str, typer.Option(help="Play name from plays.yaml")],
    body: Annotated[str | None, typer.Option(help="Override the play's text")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run")] = False,
) -> None:
    """A manual send, governed like every other; on the sidecar's clock (the sandbox's with
    SMSYNC_SANDBOX_CLOCK_URL), so quiet hours are the ones `smsync run` would apply."""
    from connector.config import load_settings
    from connector.engine.links import LinkMaker
    from connector.engine.manual import UnknownContactError, manual_send, play_of
    from connector.engine.plan import load_policy
    from connector.errors import ConfigError
    from connector.runtime.wiring import clock_for, open_store, sms_adapter, worker_id
    from connector.store.migrate import database_errors

    settings = load_settings()
    policy = load_policy(settings)
    if policy is None:
        fail("send: no plays file; set SMSYNC_PLAYS (or add mappings/plays.yaml)")
    play_of(policy, play)  # a typo is reported before the database is looked at
    clock = clock_for(settings)
    try:
        clock.sync()  # an unreadable sandbox clock: exit 2 naming the fix
    except ConfigError:
        clock.close()
        raise
    sms = None if dry_run else sms_adapter(settings)
    store = open_store(settings)
    try:
        with database_errors(settings.database_url):
            result = manual_send(
                store,
                sms,
                clock,
                policy,
                contact_id=record_id(contact),
                play=play,
                body=body,
                dry_run=dry_run,
                worker_id=worker_id(),
                links=LinkMaker.from_settings(settings),
            )
    except UnknownContactError as exc:
        fail(f"send: {exc}")
    finally:
        store.close()
        clock.close()
    typer.echo(json.dumps(result.as_dict(), sort_keys=True))
    if result.verdict.value == "block" or result.outcome in ("blocked", "failed"):
        raise typer.Exit(1)


@app.command()
def classify(
    texts: Annotated[list[str], typer.Argument(help="Replies to classify, each in quotes.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per text.")] = False,
    opted_out: Annotated[
        bool, typer.Option("--opted-out", help="As if the sender's number were opted out.")
    ] = False,
    contact: Annotated[
        str | None,
        typer.Option(help="CRM record id: as if the record's number sent it (its consent)"),
    ] = None,
) -> None:
    """What the engine would decide for each reply: compliance, disposition, rule, task.

    Reads the mapping's disposition rules (SMSYNC_MAPPINGS, else the example for
    SMSYNC_CRM) and the plays file's keyword policy (SMSYNC_PLAYS or mappings/plays.yaml)."""
    from connector.config import load_settings
    from connector.domain.policy import Policy
    from connector.engine.reply_preview import BadReplyError, check_texts, preview
    from connector.runtime.wiring import load_config

    try:
        check_texts(texts)
    except BadReplyError as exc:
        fail(f"classify: {exc}")
    settings = load_settings()
    if contact is not None:
        opted_out = opted_out or _opted_out(settings.database_url, record_id(contact))
    mapping, planner = load_config(settings)  # Mapping/PlaysError: every problem, exit 2
    policy = planner.policy if planner is not None else Policy()
    for shown in preview(texts, mapping=mapping, policy=policy, opted_out=opted_out):
        typer.echo(json.dumps(shown.as_json(), ensure_ascii=False) if as_json else shown.line())


def _opted_out(url: str, contact: str) -> bool:
    """Whether the record's number is opted out; an unknown record id exits 2."""
    from connector.domain.model import ConsentStatus
    from connector.engine.contact_context import find_contact
    from connector.store import SqlStore
    from connector.store.migrate import database_errors, require_current

    require_current(url)
    store = SqlStore.from_url(url)
    try:
        with database_errors(url), store.begin() as conn:
            state = find_contact(conn, contact)
    finally:
        store.close()
    if state is None or state.deleted:
        fail(
            f"classify: no record {contact!r} is known to smsync: it was never pulled from the"
            " CRM (check the id, or run `smsync sync --once` first)"
        )
    return state.consent is ConsentStatus.OPTED_OUT

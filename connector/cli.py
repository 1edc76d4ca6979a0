"""The `smsync` command. Exit codes: 0 ok, 1 runtime failure, 2 bad input or not built yet."""

from __future__ import annotations

import importlib
import importlib.util
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from connector import __version__
from connector.errors import ConfigError, MappingError, SmsyncError

app = typer.Typer(
    name="smsync",
    help="Keep a CRM (Salesforce or HubSpot) and Twilio SMS telling one story.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
mappings_app = typer.Typer(help="Admin YAML mappings: validate offline, check online.")
db_app = typer.Typer(help="The state store.")
sandbox_app = typer.Typer(help="The embedded Salesforce, HubSpot and Twilio emulators.")
app.add_typer(mappings_app, name="mappings")
app.add_typer(db_app, name="db")
app.add_typer(sandbox_app, name="sandbox")

EXIT_USAGE = 2


def _fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def _configure_logs() -> None:
    from connector import logs
    from connector.config import SECRET_FIELDS, load_settings, set_max_bytes

    try:
        settings = load_settings()
    except ConfigError as exc:
        _fail(str(exc))
    logs.configure(settings.log_level, settings.log_format)
    set_max_bytes(settings.config_max_bytes)
    logs.secrets_from(
        (s.get_secret_value() if s else None)
        for s in (getattr(settings, name) for name in SECRET_FIELDS)
    )


@app.callback()
def _root() -> None:
    _configure_logs()


@app.command()
def version() -> None:
    """Print the smsync version."""
    typer.echo(__version__)


@mappings_app.command("validate")
def mappings_validate(
    paths: Annotated[list[Path], typer.Argument(help="Mapping or plays YAML files to check.")],
    mapping: Annotated[
        Path | None,
        typer.Option(help="Mapping that plays files' tokens must fit (default: SMSYNC_MAPPINGS)"),
    ] = None,
) -> None:
    """Check mapping and plays files offline; print every problem as FILE:LINE:COL: message.

    A file whose top level has `plays:` or `policy:` is a plays file: its tokens are checked
    against `--mapping`, else SMSYNC_MAPPINGS, else the example for SMSYNC_CRM."""
    from connector.config import (
        MappingConfig,
        load_mapping,
        load_settings,
        mapping_path,
        read_yaml,
        validate_mapping_paths,
        validate_plays_paths,
    )
    from connector.errors import Problem

    def is_plays(path: Path) -> bool:
        data = read_yaml(path).data
        return isinstance(data, dict) and bool({"plays", "policy"} & set(data))

    plays_files = [p for p in paths if is_plays(p)]
    problems: list[Problem] = validate_mapping_paths(
        [str(p) for p in paths if p not in plays_files]
    )
    if plays_files:
        target = mapping or mapping_path(load_settings())
        against: MappingConfig | None = None
        try:
            against = load_mapping(target)
        except MappingError as exc:
            if mapping is not None:  # named on purpose: its problems are the user's too
                problems.extend(exc.problems)
        problems.extend(validate_plays_paths(plays_files, against))
    for problem in problems:
        typer.echo(str(problem))
    if problems:
        typer.echo(f"{len(problems)} problem(s) in {len(paths)} file(s)", err=True)
        raise typer.Exit(EXIT_USAGE)
    typer.echo(f"ok: {len(paths)} file(s) valid", err=True)


@mappings_app.command("schema")
def mappings_schema() -> None:
    """Print the JSON Schema of mapping files, for editor autocompletion."""
    from connector.config import mapping_json_schema

    typer.echo(json.dumps(mapping_json_schema(), indent=2, sort_keys=True))


@mappings_app.command("check")
def mappings_check(
    path: Annotated[
        Path | None, typer.Argument(help="Mapping file (default: SMSYNC_MAPPINGS)")
    ] = None,
) -> None:
    """Check every mapped field against the live CRM's describe or properties."""
    from connector.config import load_mapping, load_settings, mapping_path

    settings = load_settings()
    target = path or mapping_path(settings)
    mapping = load_mapping(target)
    settings = settings.model_copy(update={"crm": mapping.crm})
    if mapping.crm == "salesforce":
        from connector.crm.salesforce.schema_check import check_mapping as check_salesforce

        problems = check_salesforce(settings, mapping, target)
    else:
        from connector.crm.hubspot.schema_check import check_mapping as check_hubspot

        problems = check_hubspot(settings, mapping, target)
    for problem in problems:
        typer.echo(str(problem))
    if problems:
        typer.echo(f"{len(problems)} problem(s) against the {mapping.crm} schema", err=True)
        raise typer.Exit(EXIT_USAGE)
    typer.echo(f"ok: every mapped field of {target} fits the {mapping.crm} schema", err=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the store's migrations (a second run changes nothing)."""
    from connector.config import load_settings
    from connector.logs import scrub_text
    from connector.store.migrate import upgrade

    settings = load_settings()
    where = scrub_text(settings.database_url.split("@")[-1])
    try:
        applied = upgrade(settings.database_url)
    except ConfigError as exc:
        _fail(f"db upgrade: {exc}; nothing changed")
    if applied:
        typer.echo(f"applied {', '.join(applied)} to {where}")
    else:
        typer.echo(f"already current: {where}")


@app.command()
def demo(
    crm: Annotated[str, typer.Option(help="salesforce or hubspot")] = "salesforce",
    contacts: Annotated[int, typer.Option(min=10)] = 500,
    as_json: Annotated[bool, typer.Option("--json", help="End with one JSON line.")] = False,
    keep_db: Annotated[
        Path | None,
        typer.Option(help="Keep the demo's SQLite database here (a new file), e.g. for report"),
    ] = None,
) -> None:
    """Run the real connector against the embedded sandbox on SQLite, end to end."""
    from connector import logs
    from connector.demo.runner import CRMS, run_demo

    if crm not in CRMS:
        _fail(f"demo: --crm must be one of {', '.join(CRMS)} (got {crm!r})")
    logs.configure("warning")  # the progress bars and the summary are the demo's output
    try:
        run_demo(crm, contacts, as_json=as_json, keep_db=keep_db)
    except (SmsyncError, ValueError) as exc:
        _fail(f"demo: {exc}", 2 if isinstance(exc, ConfigError | ValueError) else 1)


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
        _fail("smsync sync: pass --once (the continuous loop is `smsync run`)")
    from connector.config import load_settings
    from connector.engine.context import build_context
    from connector.engine.cycle import run_cycle
    from connector.store.migrate import database_errors, upgrade

    try:
        settings = load_settings()
        planner = None
        if importlib.util.find_spec("connector.engine.plan") is not None:
            planner = importlib.import_module("connector.engine.plan").build_planner(settings)
        upgrade(settings.database_url)  # schema only; a dry run rolls back everything else
        with database_errors(settings.database_url):
            ctx = build_context(settings, planner=planner)
            try:
                report = run_cycle(ctx, dry_run=dry_run).to_json()
            finally:
                ctx.store.close()
    except SmsyncError as exc:
        _fail(str(exc), 2 if isinstance(exc, ConfigError) else 1)
    if as_json:
        typer.echo(json.dumps(report))
        return
    for name in ("pull", "send", "reconcile", "ingest", "writeback", "sweep"):
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


@app.command()
def send(
    contact: Annotated[str, typer.Option(help="CRM record id")],
    play: Annotated[str, typer.Option(help="Play name from plays.yaml")],
    body: Annotated[str | None, typer.Option(help="Override the play's text")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run")] = False,
) -> None:
    """A manual send, governed like every other."""
    from connector.config import load_settings
    from connector.engine.context import SystemClock, default_worker_id
    from connector.engine.manual import UnknownContactError, manual_send, play_of
    from connector.engine.plan import load_policy
    from connector.sms.twilio.client import TwilioSms
    from connector.store import SqlStore
    from connector.store.migrate import database_errors, require_current

    settings = load_settings()
    policy = load_policy(settings)
    if policy is None:
        _fail("send: no plays file; set SMSYNC_PLAYS (or add mappings/plays.yaml)")
    play_of(policy, play)  # a typo is reported before the database is looked at
    sms = None
    if not dry_run:
        sms = TwilioSms.from_settings(settings)
    require_current(settings.database_url)
    store = SqlStore.from_url(settings.database_url)
    try:
        with database_errors(settings.database_url):
            result = manual_send(
                store,
                sms,
                SystemClock(),
                policy,
                contact_id=contact,
                play=play,
                body=body,
                dry_run=dry_run,
                worker_id=default_worker_id(),
            )
    except UnknownContactError as exc:
        _fail(f"send: {exc}")
    finally:
        store.close()
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
) -> None:
    """What the engine would decide for each reply: compliance, disposition, rule, task.

    Reads the mapping's disposition rules (SMSYNC_MAPPINGS, else the example for
    SMSYNC_CRM) and the plays file's keyword policy (SMSYNC_PLAYS or mappings/plays.yaml)."""
    from connector.config import load_mapping, load_settings, mapping_path
    from connector.domain.policy import Policy
    from connector.engine.plan import load_policy
    from connector.engine.reply_preview import BadReplyError, check_texts, preview

    try:
        check_texts(texts)
    except BadReplyError as exc:
        _fail(f"classify: {exc}")
    settings = load_settings()
    mapping = load_mapping(mapping_path(settings))  # MappingError: every problem, exit 2
    policy = load_policy(settings, mapping) or Policy()
    for shown in preview(texts, mapping=mapping, policy=policy, opted_out=opted_out):
        typer.echo(json.dumps(shown.as_json(), ensure_ascii=False) if as_json else shown.line())


@app.command()
def explain(
    contact: Annotated[str, typer.Option(help="CRM record id")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """The decision log for one contact, newest first."""
    from connector.config import load_settings
    from connector.engine.explain import explain as explain_contact
    from connector.store import SqlStore
    from connector.store.migrate import database_errors, require_current

    url = load_settings().database_url
    require_current(url)
    store = SqlStore.from_url(url)
    try:
        with database_errors(url), store.begin() as conn:
            found = explain_contact(conn, contact)
    finally:
        store.close()
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
    """Outcome measurement by play and segment."""
    from rich.console import Console

    from connector.config import load_settings
    from connector.report.options import parse_when, play_outcomes_of
    from connector.report.queries import GroupBy, Scope, build_report
    from connector.report.render import print_report, to_html, to_json
    from connector.store import SqlStore
    from connector.store.migrate import database_errors, require_current

    try:
        group = GroupBy(by) if by is not None else None
    except ValueError:
        _fail(f"report: --by must be one of {', '.join(g.value for g in GroupBy)}")
    settings = load_settings()
    scope = Scope(parse_when(since, "--since"), parse_when(until, "--until"), group, segment)
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
        _fail(f"sandbox: cannot listen on port {port}: {exc.strerror}; try --port 0")
    try:
        sys.stdout.write(json.dumps(sandbox.describe()) + "\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        sandbox.stop()


def main() -> None:
    try:
        app()
    except ConfigError as exc:
        _print_and_exit(str(exc), EXIT_USAGE)
    except SmsyncError as exc:
        _print_and_exit(str(exc), 1)


def _print_and_exit(message: str, code: int) -> NoReturn:
    from connector.logs import scrub_text

    sys.stderr.write(scrub_text(message) + "\n")
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()

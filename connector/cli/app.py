"""The `smsync` Typer app, its command groups, and what every command shares: the log
set-up from the settings and `fail` (a message, then exit 2)."""

from __future__ import annotations

from typing import NoReturn

import typer

from connector import __version__
from connector.errors import ConfigError

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


def record_id(value: str) -> str:
    """A CRM record id as given: the bare id, or the `Lead/00Q...` form smsync's own logs
    print (the object before the slash is dropped: ids are unique across objects)."""
    kind, slash, rest = value.strip().partition("/")
    return rest if slash and kind.isalpha() and rest else value.strip()


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def _configure_logs() -> None:
    from connector import logs
    from connector.config import SECRET_FIELDS, load_settings, set_max_bytes

    try:
        settings = load_settings()
    except ConfigError as exc:
        fail(str(exc))
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

"""`smsync db upgrade`: the store's migrations."""

from __future__ import annotations

import typer

from connector.cli.app import db_app, fail
from connector.errors import ConfigError


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
        fail(f"db upgrade: {exc}; nothing changed")
    if applied:
        typer.echo(f"applied {', '.join(applied)} to {where}")
    else:
        typer.echo(f"already current: {where}")

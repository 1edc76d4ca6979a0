"""Alembic environment, configured from code by ``connector.store.migrate``.

There is no alembic.ini: ``migrate`` hands over an open connection (inside its own
transaction) through ``config.attributes["connection"]``."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from connector.errors import ConfigError
from connector.store.tables import metadata


def run_online() -> None:
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, sa.Connection):
        raise ConfigError("run migrations through `smsync db upgrade`, not the alembic CLI")
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise ConfigError("offline (SQL script) migrations are not supported")
run_online()

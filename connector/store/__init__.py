"""The state store: SQLAlchemy Core tables, alembic migrations and small repositories
(one module per table or pair of tables), on SQLite (one replica) or Postgres (several).

Repositories are plain functions taking a ``sqlalchemy.Connection``; the caller owns the
transaction (``SqlStore.begin()``)."""

from connector.store.database import SqlStore, make_engine

__all__ = ["SqlStore", "make_engine"]

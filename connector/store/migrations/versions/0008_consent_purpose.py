"""consent ledger: the purpose an entry holds for (NULL: every purpose)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

Consent by purpose (`connector.domain.purposes`): with `revocation_scope: purpose` an
opt-out attributed to a play revokes that play's purpose only. Existing entries keep
NULL, which holds for every purpose, so nothing already suppressed is lifted.

Adding a nullable column is done in place on both SQLite and Postgres, so the ledger's
append-only triggers stay. Downgrade drops the column: a purpose-only opt-out then reads
as an opt-out of every purpose (suppresses more, never less); on SQLite the table is
rebuilt and 0001's triggers are created again."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("consent_ledger", sa.Column("purpose", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("consent_ledger") as batch:
        batch.drop_column("purpose")
    if op.get_bind().dialect.name != "sqlite":
        return
    for action in ("UPDATE", "DELETE"):
        op.execute(f"DROP TRIGGER IF EXISTS consent_ledger_no_{action.lower()}")
        op.execute(
            f"CREATE TRIGGER consent_ledger_no_{action.lower()} BEFORE {action} ON "
            "consent_ledger BEGIN SELECT RAISE(ABORT, 'consent_ledger is append-only'); END"
        )

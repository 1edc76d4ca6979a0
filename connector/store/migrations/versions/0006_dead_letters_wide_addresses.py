"""dead letters (inbox dead_at, 'dead' outbox state, 'inbox' ledger effect); wide addresses

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

Phone and address columns grow from 20 to 64 characters: providers send channel-prefixed
addresses (``whatsapp:+14155550123`` is 21) and alphanumeric sender ids. A row smsync gives
up on is dead-lettered: the outboxes gain the state ``dead``, the inbox a ``dead_at`` time
(its claim index covers it), and the retry ledger an ``inbox`` effect.

Rows already settled as failed that are dead letters by the new rule move to ``dead``: CRM
writes that failed for any reason but an orphaned target, and texts the provider refused
for a reason that left a retry-ledger entry.

SQLite cannot alter a column's type or a CHECK constraint in place, so each changed table
is rebuilt (alembic's batch mode) there, which drops the consent ledger's append-only
triggers: they are created again. Constraint names are given final (``op.f``): 0001 wrote
them through the naming convention twice (``ck_crm_outbox_ck_crm_outbox_state``); the
replaced ones get the convention's name once (``ck_crm_outbox_state``).

Downgrade turns ``dead`` rows back into ``failed`` (dead inbox items become claimable
again), restores 0001's constraint names, and fails rather than truncate an address
longer than 20 characters."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WIDE, NARROW = 64, 20
# table -> (column, nullable) of every phone number or provider address
ADDRESSES: dict[str, list[tuple[str, bool]]] = {
    "contact_state": [("phone", True)],
    "consent_ledger": [("phone", False)],
    "messages": [("from_number", False), ("to_number", False)],
    "sms_outbox": [("to_number", False)],
    "decision_log": [("phone", True)],
}
SMS_OLD = ("pending", "claimed", "sent", "failed", "ambiguous")
CRM_OLD = ("pending", "claimed", "done", "failed")
EFFECTS_OLD = ("crm", "sms")
# table -> (column, 0001's doubled name, the conventional name, old values, new values)
CHECKS: dict[str, tuple[str, str, str, tuple[str, ...], tuple[str, ...]]] = {
    "sms_outbox": (
        "state",
        "ck_sms_outbox_ck_sms_outbox_state",
        "ck_sms_outbox_state",
        SMS_OLD,
        (*SMS_OLD, "dead"),
    ),
    "crm_outbox": (
        "state",
        "ck_crm_outbox_ck_crm_outbox_state",
        "ck_crm_outbox_state",
        CRM_OLD,
        (*CRM_OLD, "dead"),
    ),
    "retry_ledger": (
        "effect",
        "ck_retry_ledger_ck_retry_ledger_effect",
        "ck_retry_ledger_effect",
        EFFECTS_OLD,
        (*EFFECTS_OLD, "inbox"),
    ),
}


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _rebuild(table: str, *, widen: bool, check_from: str, check_to: str, new: bool) -> None:
    """Change one table's address widths and its CHECK (one rebuild on SQLite)."""
    with op.batch_alter_table(table) as batch:
        for column, nullable in ADDRESSES.get(table, []):
            old, wide = (NARROW, WIDE) if widen else (WIDE, NARROW)
            batch.alter_column(
                column,
                type_=sa.String(wide),
                existing_type=sa.String(old),
                existing_nullable=nullable,
            )
        if table in CHECKS:
            column, _, _, old_values, new_values = CHECKS[table]
            batch.drop_constraint(op.f(check_from), type_="check")
            batch.create_check_constraint(
                op.f(check_to), _in(column, new_values if new else old_values)
            )


def _append_only_triggers() -> None:
    """0001's SQLite triggers on the consent ledger, lost when the table is rebuilt (on
    Postgres the column changes in place and its trigger stays)."""
    if op.get_bind().dialect.name != "sqlite":
        return
    for action in ("UPDATE", "DELETE"):
        op.execute(f"DROP TRIGGER IF EXISTS consent_ledger_no_{action.lower()}")
        op.execute(
            f"CREATE TRIGGER consent_ledger_no_{action.lower()} BEFORE {action} ON "
            "consent_ledger BEGIN SELECT RAISE(ABORT, 'consent_ledger is append-only'); END"
        )


def upgrade() -> None:
    for table in (*ADDRESSES, *(t for t in CHECKS if t not in ADDRESSES)):
        doubled, conventional = CHECKS[table][1:3] if table in CHECKS else ("", "")
        _rebuild(table, widen=True, check_from=doubled, check_to=conventional, new=True)
    _append_only_triggers()

    op.add_column("inbox", sa.Column("dead_at", sa.DateTime(timezone=True), nullable=True))
    op.drop_index("ix_inbox_processed_at_id", table_name="inbox")
    op.create_index("ix_inbox_processed_at_dead_at_id", "inbox", ["processed_at", "dead_at", "id"])

    op.execute(
        "UPDATE crm_outbox SET state = 'dead' WHERE state = 'failed'"
        " AND (last_error IS NULL OR last_error NOT LIKE 'orphaned:%')"
    )
    op.execute(
        "UPDATE sms_outbox SET state = 'dead' WHERE state = 'failed' AND idempotency_key IN"
        """ (SELECT "key" FROM retry_ledger WHERE effect = 'sms')"""
    )


def downgrade() -> None:
    op.execute("UPDATE sms_outbox SET state = 'failed' WHERE state = 'dead'")
    op.execute("UPDATE crm_outbox SET state = 'failed' WHERE state = 'dead'")
    op.execute("DELETE FROM retry_ledger WHERE effect = 'inbox'")

    op.drop_index("ix_inbox_processed_at_dead_at_id", table_name="inbox")
    op.create_index("ix_inbox_processed_at_id", "inbox", ["processed_at", "id"])
    with op.batch_alter_table("inbox") as batch:
        batch.drop_column("dead_at")

    for table in (*ADDRESSES, *(t for t in CHECKS if t not in ADDRESSES)):
        doubled, conventional = CHECKS[table][1:3] if table in CHECKS else ("", "")
        _rebuild(table, widen=False, check_from=conventional, check_to=doubled, new=False)
    _append_only_triggers()

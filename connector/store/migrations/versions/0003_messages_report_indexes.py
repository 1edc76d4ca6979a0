"""messages: indexes for the report (outbound by time, a contact's messages by direction)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Outbound messages in a period; the trailing columns are every other column the report
# reads from `messages`, so its scans never touch the table rows (see tables.py).
REPORT_COLUMNS = [
    "direction",
    "created_at",
    "contact_type",
    "contact_id",
    "play",
    "status",
    "to_number",
]


def upgrade() -> None:
    op.create_index("ix_messages_direction_created_at", "messages", REPORT_COLUMNS)
    # "did the contact reply after X" is one index probe; it still serves contact look-ups,
    # so the two-column index it extends goes.
    op.create_index(
        "ix_messages_contact_type_contact_id_direction_created_at",
        "messages",
        ["contact_type", "contact_id", "direction", "created_at"],
    )
    op.drop_index("ix_messages_contact_type_contact_id", table_name="messages")


def downgrade() -> None:
    op.create_index(
        "ix_messages_contact_type_contact_id", "messages", ["contact_type", "contact_id"]
    )
    op.drop_index("ix_messages_contact_type_contact_id_direction_created_at", table_name="messages")
    op.drop_index("ix_messages_direction_created_at", table_name="messages")

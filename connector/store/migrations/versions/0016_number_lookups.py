"""sms_outbox.to_number and messages (from_number, direction, created_at) indexed: the
clock plans a page of due contacts at once and reads their texts queued and their last
replies by number in one query each (`sms_outbox.live_to_many`, `failed_with_any`,
`messages.last_inbound_of`), which without these scanned both tables once a page

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_sms_outbox_to_number", "sms_outbox", ["to_number"])
    op.create_index(
        "ix_messages_from_number", "messages", ["from_number", "direction", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_messages_from_number", table_name="messages")
    op.drop_index("ix_sms_outbox_to_number", table_name="sms_outbox")

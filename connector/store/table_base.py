"""What every table of the store shares: the one `MetaData` (and its constraint naming),
the states and kinds the CHECK constraints allow, and the column helpers. The tables are
`tables.py` (the engine's), `tables_ops.py` and `tables_pipeline.py`."""

from __future__ import annotations

import sqlalchemy as sa

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING)

# `failed`: a definite outcome nobody needs to act on; `dead`: smsync gave up on the row and
# an operator should look (see connector/engine/dead_letters.py)
SMS_STATES = ("pending", "claimed", "sent", "failed", "ambiguous", "dead")
CRM_STATES = ("pending", "claimed", "done", "failed", "dead")
CRM_KINDS = ("field_update", "activity", "task")
INBOX_KINDS = ("inbound", "status")
EFFECTS = ("crm", "sms", "inbox")
# Phone numbers and provider addresses: E.164 is at most 16 characters, but providers also
# send channel-prefixed addresses (whatsapp:+14155550123) and alphanumeric sender ids.
ADDRESS = sa.String(64)


def check_in(column: str, values: tuple[str, ...]) -> str:
    """A CHECK constraint's text: `column` holds one of `values`."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def ref_columns(prefix: str = "contact", *, nullable: bool = True) -> list[sa.Column[str]]:
    """A contact ref: the CRM object type and id, two columns and no foreign key."""
    return [
        sa.Column(f"{prefix}_type", sa.String(64), nullable=nullable),
        sa.Column(f"{prefix}_id", sa.String(64), nullable=nullable),
    ]

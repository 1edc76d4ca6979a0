"""The journey moves a pull sees (the mapping's `journey.on_meeting` and `journey.on_close`):
a meeting booked in the CRM (the `meeting_time` segment set or moved) and a lifecycle stage
that closes the journey. Replies and opt-outs move it at ingest (`ingest_inbound`)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from connector.config import MappingConfig
from connector.domain.model import ContactState
from connector.engine import crm_records
from connector.store import contacts

MEETING_TIME = "meeting_time"


def target(
    mapping: MappingConfig, previous: ContactState | None, current: ContactState
) -> tuple[str | None, bool]:
    """(the journey state to move to or None, whether the active motion ends)."""
    moves = mapping.journey
    if previous is None or current.deleted:
        return None, False
    stage = current.lifecycle_stage
    if moves.on_close and stage in moves.close_stages and stage != previous.lifecycle_stage:
        return moves.on_close, True
    meeting = current.segments.get(MEETING_TIME)
    if moves.on_meeting and meeting and meeting != previous.segments.get(MEETING_TIME):
        return moves.on_meeting, False
    return None, False


def after_pull(
    mapping: MappingConfig,
    conn: sa.Connection,
    previous: ContactState | None,
    current: ContactState,
    now: datetime,
) -> int:
    """Move the record's journey (and end its motion on close) in the store and queue the
    record's kept fields; returns the CRM writes queued."""
    journey, ends = target(mapping, previous, current)
    if journey is None:
        return 0
    keys: set[str] = set()
    if journey != current.journey_state:
        contacts.set_motion(conn, current.ref, journey_state=journey, now=now)
        keys.add("journey_state")
    if ends and current.active_motion:
        contacts.set_motion(conn, current.ref, active_motion=None, now=now)
        keys.add("active_motion")
    return int(bool(keys) and crm_records.record_fields(conn, current.ref, keys, now))

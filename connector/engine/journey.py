"""The journey moves a pull sees (the mapping's `journey.on_meeting` and `journey.on_close`):
a meeting booked in the CRM (the `meeting_time` segment set or moved) and a lifecycle stage
that closes the journey. Replies and opt-outs move it at ingest (`ingest_inbound`).

A play's motion (`active_motion`) ends on close, on an opt-out or a wrong number, and when
no play has texted the record for `tasks.reply_window` (`ended_motions`, run by the sweep),
so a play in motion holds lower-priority plays back only while it is in motion."""

from __future__ import annotations

from datetime import datetime

from connector.config import MappingConfig
from connector.domain.model import ContactState
from connector.engine import crm_records
from connector.ports import Connection, Cursor
from connector.store import contacts, cursors, messages

MEETING_TIME = "meeting_time"
MOTION_CURSOR = "motions:ended"


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
    conn: Connection,
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


def ended_motions(mapping: MappingConfig, conn: Connection, now: datetime, limit: int = 500) -> int:
    """Clear `active_motion` on records no play has texted within `tasks.reply_window`;
    `limit` records in motion per sweep, taking up after the last one checked (a cursor),
    so every record is reached however many are in motion. Returns the CRM writes queued."""
    since = now - mapping.tasks.reply_window
    after = cursors.get(conn, MOTION_CURSOR)
    start = int(after.id) if after is not None and after.id.isdigit() else 0
    rows = contacts.in_motion_after(conn, start, limit)
    writes = 0
    for _, ref, phone in rows:
        if phone and messages.last_play_to(conn, phone, since) is not None:
            continue
        contacts.set_motion(conn, ref, active_motion=None, now=now)
        writes += int(crm_records.record_fields(conn, ref, {"active_motion"}, now))
    last = str(rows[-1][0]) if len(rows) == limit else "0"  # a short page: start over
    cursors.set_(conn, MOTION_CURSOR, Cursor(modstamp=now, id=last), now)
    return writes

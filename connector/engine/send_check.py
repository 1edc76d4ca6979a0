"""The chokepoint at send time: a queued text is evaluated again (`governance.evaluate`)
with the store as it is now, right before the provider is called; a play's date reminder
whose date moved is blocked; and one row can be claimed for a send going out at once."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from connector.domain.caps import SendKind
from connector.domain.governance import Evaluation, Reason, SendCandidate, evaluate
from connector.domain.instants import parse_instant
from connector.domain.model import ContactState, CrmRef, Verdict
from connector.domain.plays import Play, TriggerKind
from connector.domain.policy import Policy
from connector.engine import contact_context
from connector.engine.outbox_keys import fired_at, kind_of
from connector.ports import Connection
from connector.store import contacts, sms_outbox
from connector.store.records import SmsOutboxRow

LEASE_S = 30.0  # SMSYNC_CLAIM_LEASE_S's default; a heartbeat keeps it while a row is worked on


def blocked(code: str, detail: str) -> Evaluation:
    return Evaluation(Verdict.BLOCK, (Reason(code, detail),))


def _state_for(conn: Connection, row: SmsOutboxRow) -> ContactState:
    state = contacts.get(conn, row.contact) if row.contact is not None else None
    if state is None:
        return ContactState(ref=row.contact or CrmRef("unknown", ""), phone=row.to)
    return state if state.phone == row.to else replace(state, phone=row.to)


def _date_moved(play: Play, state: ContactState, fired: datetime | None) -> str | None:
    """Why a reminder queued for a date no longer applies (the meeting moved or was
    cleared), or None. The new date queues its own reminder when it comes due."""
    trigger = play.trigger
    if trigger.kind is not TriggerKind.DATE_APPROACHING or trigger.field is None:
        return None
    when = parse_instant(state.segments.get(trigger.field))
    if when is None:
        return f"{trigger.field} is empty now"
    if fired is not None and when - trigger.before != fired:
        planned = fired + trigger.before
        return f"{trigger.field} moved; the reminder was for {planned:%Y-%m-%d %H:%M} UTC"
    return None


def check(conn: Connection, row: SmsOutboxRow, policy: Policy, now: datetime) -> Evaluation:
    """The chokepoint's verdict on a queued text, with the store as it is now."""
    state = _state_for(conn, row)
    kind = kind_of(row.idempotency_key)
    play = policy.plays.get(row.play) if row.play else None
    if kind is SendKind.PLAY and play is None:
        return blocked("unknown_play", f"play {row.play!r} is not in the plays file")
    if play is not None and kind is SendKind.PLAY:
        moved = _date_moved(play, state, fired_at(row.idempotency_key))
        if moved is not None:
            return blocked("trigger_changed", moved)
    ctx = contact_context.load(
        conn, state, exclude_outbox_id=row.id, default_zone=policy.quiet_hours.default_zone
    )
    candidate = SendCandidate(
        kind, play, fired_at(row.idempotency_key) if kind is SendKind.PLAY else None, row.body
    )
    return evaluate(candidate, ctx, policy, now)


def claim_one(
    conn: Connection, row_id: int, worker_id: str, now: datetime, lease_s: float = LEASE_S
) -> SmsOutboxRow | None:
    """Lease one pending, due row (a manual send going out at once)."""
    return sms_outbox.claim_one(conn, row_id, worker_id, now, lease_s)

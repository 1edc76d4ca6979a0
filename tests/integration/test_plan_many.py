"""Planning a page of contacts at once decides exactly what planning them one by one does,
over the real store on SQLite and Postgres (issue #21: the clock plans its due contacts
set-based). `contact_context.load_many` must return what `load` returns for each contact,
and `PlaysPlanner.evaluate_many` must log, queue and preempt as `evaluate` contact by
contact, on contacts with varied history: consent entries (for every purpose and for one),
prior texts, caps hit, a landline, a reply, a click, an open task, the rep's activity and
smsync's own, no number, quiet hours, holdouts, two records sharing a number, a trigger
already queued."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from connector.config import load_mapping, load_plays, to_policy
from connector.domain.model import (
    ConsentRecord,
    ConsentScope,
    ConsentSource,
    ConsentStatus,
    ContactState,
    CrmRef,
    CrmWrite,
    Direction,
    Message,
    MessageStatus,
    SlaKind,
    TimeZones,
    TzSource,
)
from connector.domain.signals import Signal, SignalKind, became_inactive, date_due
from connector.engine import contact_context
from connector.engine.contact_context import LANDLINE_ERROR, NOT_NOW
from connector.engine.outbox_keys import play_key
from connector.engine.plan import PlanOutcome, PlaysPlanner
from connector.store import (
    SqlStore,
    consent,
    contacts,
    crm_outbox,
    links,
    messages,
    sla,
    sms_outbox,
)
from connector.store import tables as tb

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)  # Tuesday 10:00 in New York
NY = "America/New_York"
PEOPLE = 96  # enough that the shipped plays' holdouts hold some out


def _ref(i: int) -> CrmRef:
    return CrmRef("Contact", f"003{i:012d}")


def _phone(i: int) -> str:
    return f"+1212201{i:04d}"


def _state(i: int, **changes: Any) -> ContactState:
    phone = changes.pop("phone", _phone(i))
    segments = {
        "first_name": f"P{i}",
        "owner_name": "Dana Reyes",
        "last_activity": (NOW - timedelta(days=14, minutes=5)).isoformat(),
        "meeting_time": (NOW + timedelta(hours=2) - timedelta(minutes=3)).isoformat(),
    }
    segments.update(changes.pop("segments", {}))
    base: dict[str, Any] = {
        "time_zones": TimeZones((NY,), TzSource.CRM_FIELD),
        "consent": ConsentStatus.OPTED_IN,
        "lifecycle_stage": "sql",
        "owner_id": "005A",
        "segments": segments,
    }
    base.update(changes)
    return ContactState(_ref(i), phone, **base)


def _people() -> list[ContactState]:
    """Everyone, varied by `i % 16`: the kinds of history the store gives below."""
    found: list[ContactState] = []
    for i in range(PEOPLE):
        kind = i % 16
        if kind == 7:  # no number
            found.append(_state(i, phone=None))
        elif kind == 8:  # the CRM says opted out, the ledger does not know yet
            found.append(_state(i, consent=ConsentStatus.OPTED_OUT))
        elif kind == 9:  # a "not now" reply
            found.append(_state(i, disposition=NOT_NOW, modstamp=NOW - timedelta(days=2)))
        elif kind == 10:  # night where they are: quiet hours
            found.append(_state(i, time_zones=TimeZones(("Asia/Tokyo",), TzSource.CRM_FIELD)))
        elif kind == 11:  # no zone: the policy's default zone places them
            found.append(_state(i, time_zones=None))
        elif kind == 12:  # the rep's activity yesterday, a date only
            found.append(
                _state(i, segments={"last_activity": (NOW - timedelta(days=1)).date().isoformat()})
            )
        elif kind == 13:  # today's date, on a day smsync logged a text: its own write
            found.append(_state(i, segments={"last_activity": NOW.date().isoformat()}))
        elif kind == 14:  # shares the number of kind 3 (a Lead and a Contact), capped
            found.append(_state(i, phone=_phone(i - 11)))
        else:
            found.append(_state(i))
    return found


def _seed(conn: sa.Connection, people: list[ContactState]) -> None:
    for state in people:
        contacts.upsert(conn, state, NOW - timedelta(days=30))
    for i, state in enumerate(people):
        kind, phone, ref = i % 16, state.phone, state.ref
        if kind == 1 and phone:  # opted in, then STOP
            _consent(conn, phone, ConsentStatus.OPTED_IN, NOW - timedelta(days=60), f"in{i}")
            _consent(conn, phone, ConsentStatus.OPTED_OUT, NOW - timedelta(days=2), f"out{i}")
        elif kind == 2 and phone:  # opted out of marketing alone
            _consent(conn, phone, ConsentStatus.OPTED_IN, NOW - timedelta(days=60), f"in{i}")
            out = NOW - timedelta(days=1)
            _consent(conn, phone, ConsentStatus.OPTED_OUT, out, f"p{i}", purpose="marketing")
        elif kind == 3 and phone:  # two texts today already: the daily cap (2) is hit
            sent = NOW - timedelta(hours=3)
            _text(conn, f"play:stalled_stage_nudge:{ref}:a", state, sent, outcome="sent")
            _text(conn, f"play:stalled_stage_nudge:{ref}:b", state, NOW + timedelta(hours=4))
        elif kind == 4 and phone:  # one sent this week, one landline failure
            sent, failed = NOW - timedelta(days=3), NOW - timedelta(days=5)
            _text(conn, f"play:speed_to_lead:{ref}:c", state, sent, outcome="sent")
            _text(conn, f"manual:x:{ref}:d", state, failed, outcome="failed", error=LANDLINE_ERROR)
        elif kind == 5 and phone:  # replied an hour ago: an active conversation
            _inbound(conn, f"SMin{i}", phone, NOW - timedelta(hours=1))
        elif kind == 6:  # a counted click, an open SLA timer
            sent = NOW - timedelta(days=9)
            outbox_id = _text(conn, f"play:speed_to_lead:{ref}:e", state, sent, outcome="sent")
            token = links.create(
                conn,
                token=f"tok{i}",
                outbox_id=outbox_id,
                link="pricing",
                play="speed_to_lead",
                contact=ref,
                destination="https://acme.example/pricing",
                high_intent=True,
                now=NOW - timedelta(days=9),
                expires_at=NOW + timedelta(days=30),
            )
            link = links.by_token(conn, token)
            assert link is not None
            assert links.record_click(conn, link, links.COUNTED, "ua", NOW - timedelta(hours=5))
            sla.start(
                conn,
                ref,
                SlaKind.FOLLOW_UP,
                started=NOW - timedelta(hours=1),
                due=NOW + timedelta(hours=1),
            )
        elif kind == 9 and phone:
            _inbound(conn, f"SMin{i}", phone, NOW - timedelta(days=3))
        elif kind == 13:  # smsync logged a text on the record this morning; a task queued
            _crm_write(
                conn,
                CrmWrite("activity", f"activity:{i}", ref, {}),
                NOW - timedelta(hours=4),
                done=True,
            )
            _crm_write(
                conn, CrmWrite("task", f"task:{i}", ref, {}), NOW - timedelta(hours=2), done=False
            )
        elif kind == 15:  # the no-show reminder is queued already: decided once only
            when = NOW - timedelta(minutes=3)
            _text(
                conn, play_key("no_show_prevention", ref, when), state, NOW + timedelta(minutes=5)
            )


def _consent(
    conn: sa.Connection,
    phone: str,
    status: ConsentStatus,
    at: datetime,
    sid: str,
    *,
    purpose: str | None = None,
) -> None:
    record = ConsentRecord(
        phone, status, ConsentScope.SENDER, ConsentSource.KEYWORD, at, sid, None, purpose
    )
    assert consent.append(conn, record, at)


def _text(
    conn: sa.Connection,
    key: str,
    state: ContactState,
    at: datetime,
    *,
    outcome: str | None = None,
    error: str = "",
) -> int:
    assert state.phone is not None
    play = key.split(":")[1] if key.startswith("play:") else None
    created = min(at, NOW)
    assert sms_outbox.enqueue(
        conn, key, to=state.phone, body="hi", send_at=at, now=created, contact=state.ref, play=play
    )
    row = sms_outbox.by_key(conn, key)
    assert row is not None
    if outcome == "sent":
        assert sms_outbox.mark_sent(conn, row.id, f"SM{row.id}", at)
    elif outcome == "failed":
        assert sms_outbox.mark_failed(conn, row.id, f"{error}: not a mobile", at)
    return row.id


def _inbound(conn: sa.Connection, sid: str, phone: str, at: datetime) -> None:
    message = Message(
        sid, Direction.INBOUND, phone, "+15550000000", "ok", MessageStatus.RECEIVED, at
    )
    messages.upsert(conn, message, at)


def _crm_write(conn: sa.Connection, write: CrmWrite, at: datetime, *, done: bool) -> None:
    assert crm_outbox.enqueue(conn, write, at)
    if done:
        t = tb.crm_outbox
        conn.execute(
            sa.update(t)
            .where(t.c.external_id == write.external_id)
            .values(state="done", done_at=at)
        )


def _planner() -> PlaysPlanner:
    mapping = load_mapping(ROOT / "mappings" / "salesforce.yaml")
    return PlaysPlanner(to_policy(load_plays(ROOT / "mappings" / "plays.yaml", mapping)))


def _signals(state: ContactState) -> list[Signal]:
    """What the clock (and, for every fifth, a stage change) says of each contact."""
    since = NOW - timedelta(minutes=10)
    found = [
        date_due(
            state.ref,
            "meeting_time",
            datetime.fromisoformat(state.segments["meeting_time"]),
            before=timedelta(hours=2),
            since=since,
            now=NOW,
        ),
        became_inactive(
            state.ref,
            datetime.fromisoformat(state.segments["last_activity"]).replace(tzinfo=UTC)
            if "T" in state.segments["last_activity"]
            else None,
            days=14,
            now=NOW,
            last_checked=since,
        ),
    ]
    if int(state.ref.id) % 5 == 0:
        found.append(
            Signal(SignalKind.STAGE_CHANGED, state.ref, {"from": "lead", "to": "mql"}, NOW)
        )
    return [s for s in found if s is not None]


def _stored(store: SqlStore) -> list[ContactState]:
    people = _people()
    with store.begin() as conn:
        _seed(conn, people)
        found = contacts.get_many(conn, [p.ref for p in people])
    return [found[p.ref] for p in people]


def test_load_many_returns_what_load_returns_for_each_contact(store: SqlStore) -> None:
    people = _stored(store)
    with store.begin() as conn:
        many = contact_context.load_many(conn, people, default_zone=NY)
        one = [contact_context.load(conn, state, default_zone=NY) for state in people]
    assert many == one
    # the history above reached the contexts: the comparison is not of empty ones
    assert any(c.state.consent is ConsentStatus.OPTED_OUT and c.opted_out_at for c in one)
    assert any(c.purpose_consent for c in one)
    assert any(len(c.sends) >= 2 and any(s.queued_id for s in c.sends) for c in one)
    assert any(c.line_type == "landline" for c in one)
    assert any(c.last_inbound_at for c in one)
    assert any(c.not_now_at for c in one)
    assert any(c.last_click_at for c in one)
    assert any(c.open_task for c in one)
    assert any(c.last_rep_activity_at for c in one)
    assert any(
        c.last_rep_activity_at is None and c.state.segments.get("last_activity") for c in one
    )


def _written(conn: sa.Connection) -> dict[str, list[tuple[Any, ...]]]:
    """Every row planning writes, in id order, without ids (Postgres's sequences do not
    roll back)."""
    d, o, c = tb.decision_log, tb.sms_outbox, tb.crm_outbox
    return {
        "decisions": [
            (
                r.contact_id,
                r.phone,
                r.verdict,
                tuple(r.reasons),
                r.play,
                r.variant,
                r.send_at,
                r.details,
            )
            for r in conn.execute(sa.select(d).order_by(d.c.id))
        ],
        "texts": [
            (r.idempotency_key, r.to_number, r.body, r.play, r.send_at, r.state, r.last_error)
            for r in conn.execute(sa.select(o).order_by(o.c.id))
        ],
        "crm": [
            (r.external_id, r.kind, r.target_id, r.state)
            for r in conn.execute(sa.select(c).order_by(c.c.id))
        ],
    }


def _planned(
    store: SqlStore, plan: Callable[[sa.Connection], list[list[PlanOutcome]]]
) -> tuple[list[list[PlanOutcome]], dict[str, list[tuple[Any, ...]]]]:
    """What `plan` decides and writes, rolled back so the next plan sees the same store."""
    with store.engine.connect() as conn:
        transaction = conn.begin()
        outcomes, written = plan(conn), _written(conn)
        transaction.rollback()
    return outcomes, written


def test_plan_many_decides_logs_and_queues_as_one_by_one(store: SqlStore) -> None:
    people = _stored(store)
    planner = _planner()
    items = [(state, _signals(state)) for state in people]
    one, one_rows = _planned(
        store, lambda conn: [planner.evaluate(conn, s, sig, NOW) for s, sig in items]
    )
    many, many_rows = _planned(store, lambda conn: planner.evaluate_many(conn, items, NOW))
    assert many == one
    assert many_rows == one_rows
    # the people above met the governance they were made for
    reasons = {code for row in one_rows["decisions"] for code in row[3]}
    made_for = {"opted_out", "daily_cap", "preempted", "landline", "active_conversation"}
    made_for |= {"open_task", "rep_engaged", "quiet_hours", "holdout", "holdout_treated"}
    assert made_for <= reasons, sorted(reasons)
    assert any(o.queued for outcomes in one for o in outcomes)
    shared = [o for i, outcomes in enumerate(one) if i % 16 in (3, 14) for o in outcomes]
    assert any(o.queued for o in shared)  # the first record on the number takes the cap
    assert any("daily_cap" in o.reasons for o in shared)  # ... the second one sees it
    already = [outcomes for i, outcomes in enumerate(one) if i % 16 == 15]
    assert all(o.play != "no_show_prevention" for outcomes in already for o in outcomes)

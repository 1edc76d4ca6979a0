"""The clock's triggers over the real store, on SQLite and Postgres: the scan pages through
contact_state's JSON segments, the cursor keeps the window, and a window seen again
decides nothing twice. (The CRM is never asked: the scan reads only what pulls stored.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import sqlalchemy as sa

from connector.config import load_mapping, load_plays, load_settings, to_policy
from connector.domain.holdout import assign
from connector.domain.model import ConsentStatus, ContactState, CrmRef, TimeZones, TzSource
from connector.engine import timed
from connector.engine.context import EngineContext
from connector.engine.plan import PlaysPlanner
from connector.ports import CrmPort
from connector.store import SqlStore, contacts, cursors
from connector.store import tables as tb

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)  # Tuesday 10:00 in New York
PEOPLE = 1_200  # more than two scan pages


class _Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


class _NoCrm:
    """The scan must not call the CRM; any call fails the test."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the timed scan called the CRM ({name})")


def _context(store: SqlStore, clock: _Clock) -> EngineContext:
    mapping = load_mapping(ROOT / "mappings" / "salesforce.yaml")
    policy = to_policy(load_plays(ROOT / "mappings" / "plays.yaml", mapping))
    crm = cast("CrmPort", _NoCrm())
    return EngineContext(
        settings=load_settings(crm="salesforce"),
        mapping=mapping,
        store=store,
        crm=crm,
        sms=None,
        clock=clock,
        worker_id="test",
        planner=PlaysPlanner(policy),
    )


def _person(i: int, meeting: datetime | None) -> ContactState:
    segments = {
        "first_name": f"P{i}",
        "owner_name": "Dana Reyes",
        "last_activity": (NOW - timedelta(days=3)).date().isoformat(),
    }
    if meeting is not None:
        segments["meeting_time"] = meeting.isoformat()
    return ContactState(
        CrmRef("Contact", f"003{i:012d}"),
        f"+1212555{i:04d}",
        time_zones=TimeZones(("America/New_York",), TzSource.CRM_FIELD),
        consent=ConsentStatus.OPTED_IN,
        lifecycle_stage="sql",
        segments=segments,
    )


def _rows(store: SqlStore) -> list[tuple[str | None, str | None]]:
    t = tb.sms_outbox
    with store.begin() as conn:
        return [(r.play, r.contact_id) for r in conn.execute(sa.select(t).order_by(t.c.id))]


def test_reminders_fire_once_per_meeting_across_pages_and_replays(store: SqlStore) -> None:
    clock = _Clock(NOW)
    ctx = _context(store, clock)
    # every 100th person has a meeting at 15:00 New York (20:00Z): reminder due at 18:00Z
    meeting = NOW + timedelta(hours=5)
    with store.begin() as conn:
        for i in range(PEOPLE):
            contacts.upsert(conn, _person(i, meeting if i % 100 == 0 else None), NOW)

    first = timed.run(ctx)
    assert (first.scanned, first.sends_planned) == (PEOPLE, 0)

    clock.at = meeting - timedelta(hours=2, minutes=-1)
    second = timed.run(ctx)
    assert (second.scanned, second.signals) == (PEOPLE, PEOPLE // 100)
    # the play's 5% holdout keeps some back; the rest are queued
    treated = [
        ref
        for i in range(0, PEOPLE, 100)
        if not assign(
            str(ref := CrmRef("Contact", f"003{i:012d}")), "no_show_prevention", 5.0
        ).held_out
    ]
    assert 0 < len(treated) < PEOPLE // 100
    assert second.sends_planned == len(treated)
    assert set(_rows(store)) == {("no_show_prevention", ref.id) for ref in treated}

    with store.begin() as conn:  # the window comes round again
        cursors.delete(conn, timed.cursor_name(ctx))
    again = timed.run(ctx)
    assert again.signals == PEOPLE // 100
    assert again.sends_planned == 0
    assert len(_rows(store)) == len(treated)

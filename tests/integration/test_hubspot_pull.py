"""Pull correctness against the HubSpot sandbox (acceptance 2): 25,000 contacts modified
inside one minute, the 10,000-result search cap enforced, a 2 s index delay. Every
contact is emitted exactly once for its change, none is missed, no search is refused."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from connector.crm.hubspot.client import HubSpotCrm
from connector.crm.hubspot.limiter import Tier
from connector.domain.model import ContactState, TzSource
from connector.ports import Cursor
from connector.sandbox.hubspot.properties import iso_ms
from connector.sandbox.seed import generate
from connector.sandbox.server import Sandbox
from tests.integration.hubspot_kit import Account, fresh_account, sb

__all__ = ["sb"]  # pytest fixture

CONTACTS = 25_000
UNLIMITED = Tier(per_window=1_000_000, daily=100_000_000, search_per_s=100_000)


def _pull(crm: HubSpotCrm, since: Cursor | None) -> tuple[list[ContactState], Cursor | None]:
    out: list[ContactState] = []
    cursor = since
    for batch in crm.pull(since):
        out.extend(batch.contacts)
        cursor = batch.cursor or cursor
    return out, cursor


@pytest.mark.slow
def test_25000_changes_in_one_minute_are_each_emitted_once(sb: Sandbox) -> None:
    account: Account = fresh_account(sb, contacts=0)
    emulator = account.emulator
    emulator.configure_limits(ten_secondly=1_000_000, daily=100_000_000, search_per_second=100_000)
    emulator.seed(generate(CONTACTS, seed=3))
    crm = account.adapter(tier=UNLIMITED)

    backfill, cursor = _pull(crm, None)
    assert len({s.ref for s in backfill}) == CONTACTS
    assert cursor is not None

    emulator.set_index_delay(2.0)
    store = emulator.portal.stores["contacts"]
    records = sorted(store.records.values(), key=lambda r: r.num)
    clock = sb.state.clock
    changed_from = clock.now()
    emitted: list[ContactState] = []
    per_second = CONTACTS // 60 + 1
    for second in range(60):
        now = clock.now()
        for rec in records[second * per_second : (second + 1) * per_second]:
            store.update(
                rec, {"smsync_active_motion": "renewal"}, iso_ms(now), now.timestamp() + 2.0
            )
        clock.advance(1)
        if second == 29:  # pull mid-storm, while the index still lags
            got, cursor = _pull(crm, cursor)
            emitted.extend(got)
    clock.advance(3)  # past the index delay
    got, cursor = _pull(crm, cursor)
    emitted.extend(got)
    got, cursor = _pull(crm, cursor)  # a quiet pull re-reads the lookback, emits nothing
    emitted.extend(got)

    changes = [s for s in emitted if s.modstamp is not None and s.modstamp >= changed_from]
    counts = Counter(s.ref for s in changes)
    assert len(counts) == CONTACTS  # none missed
    assert max(counts.values()) == 1  # none twice
    assert all(s.active_motion == "renewal" for s in changes)
    assert cursor is not None
    assert cursor.modstamp >= changed_from + timedelta(seconds=59)
    errors = account.stats()["errors_by_status"]
    assert "400" not in errors  # no search refused for paging past 10,000
    assert crm.puller.splits >= 1  # the mid-storm pull held more than 10,000 changes


def test_canonical_form_and_time_zone_provenance(sb: Sandbox) -> None:
    account = fresh_account(sb, contacts=60)
    crm = account.adapter()
    states, _ = _pull(crm, None)
    assert len(states) == 60
    sources = Counter(s.time_zones.source for s in states if s.time_zones)
    assert sources[TzSource.CRM_FIELD] > 0
    assert sources[TzSource.AREA_CODE] > 0
    for s in states:
        assert s.phone is None or s.phone.startswith("+1")
        assert s.owner_id
        assert s.lifecycle_stage in {"subscriber", "lead", "mql", "sql", "opportunity", "customer"}
    assert crm.api.calls == 2  # one search for the newest change, one list page


def test_incremental_pull_does_not_loop_when_one_timestamp_holds_many(sb: Sandbox) -> None:
    account = fresh_account(sb, contacts=450)
    crm = account.adapter()
    _, cursor = _pull(crm, None)
    store = account.emulator.portal.stores["contacts"]
    now = sb.state.clock.now()
    for rec in store.records.values():  # 450 records, one millisecond
        store.update(rec, {"smsync_active_motion": "renewal"}, iso_ms(now), None)
    sb.state.clock.advance(1)
    got, _ = _pull(crm, cursor)
    assert len({s.ref for s in got}) == 450
    assert len(got) == 450
    # backfill: newest + 5 list pages; then newest + 3 keyset pages of 200, 200 and 50
    assert crm.api.calls == 6 + 4


def test_a_backfill_remembers_only_what_the_next_pull_can_read_again(sb: Sandbox) -> None:
    """A first pull of a million contacts kept every id for the next pull's dedupe (about
    100 MB); only records inside the next pull's lookback are remembered, and that pull
    still emits none of them twice."""
    account: Account = fresh_account(sb, contacts=0)
    emulator = account.emulator
    emulator.configure_limits(ten_secondly=1_000_000, daily=100_000_000, search_per_second=100_000)
    emulator.seed(generate(300, seed=5))
    clock = sb.state.clock
    clock.advance(86_400)  # the seeded records are a day old
    store = emulator.portal.stores["contacts"]
    recent = sorted(store.records.values(), key=lambda r: r.num)[:7]
    now = clock.now()
    for rec in recent:
        store.update(rec, {"smsync_active_motion": "renewal"}, iso_ms(now), now.timestamp())
    crm = account.adapter(tier=UNLIMITED)

    backfill: list[ContactState] = []
    cursor = None
    remembered = 0
    for batch in crm.pull(None):  # list pages of 100
        backfill.extend(batch.contacts)
        cursor = batch.cursor or cursor
        remembered = max(remembered, len(crm.puller._emitted))
    assert len({s.ref for s in backfill}) == len(backfill) == 300
    assert remembered == 7  # while it ran: the recent ones, not the 293 a day old
    clock.advance(1)
    again, _ = _pull(crm, cursor)  # re-reads the lookback: the 7 recent, already emitted
    assert again == []

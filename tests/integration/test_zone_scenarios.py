"""Issue 14 acceptance on both CRMs through the sandbox: the Colorado number whose CRM zone
field says Europe/London, and the Alaska number, are held until every zone the recipient
may be in is open; `smsync explain` (the real process) names each zone and its source."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connector.domain.model import ContactState, CrmRef, TimeZones, TzSource
from connector.domain.zones import contact_zones
from connector.engine import send
from connector.sandbox.server import Sandbox
from connector.store import contacts
from connector.store.database import SqlStore
from tests.integration.plays_kit import World, make_world
from tests.integration.test_plays_scenarios import PLAYS, smsync_explain

# Tuesday 3 March 2026: 04:34 MST in Denver (11:34 in London); 02:58 AKST in Anchorage
COLORADO_AT = datetime(2026, 3, 3, 11, 34, tzinfo=UTC)
DENVER_0800 = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
ALASKA_AT = datetime(2026, 3, 3, 11, 58, tzinfo=UTC)
ADAK_0800 = datetime(2026, 3, 3, 18, 0, tzinfo=UTC)  # 09:00 AKST, 12:00 CST


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


@pytest.fixture(params=["salesforce", "hubspot"])
def vendor(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _move(
    world: World, person: ContactState, phone: str, state: str, zone: str, *, zip_code: str = ""
) -> None:
    """The admin types a new mobile number, state, ZIP and time zone into the CRM record."""
    obj = person.ref.object_type
    mapping = world.ctx.mapping
    [phone_field, *_] = next(o.phone_fields for o in mapping.objects if o.name == obj)
    segments = mapping.field_map(obj).segments
    world.case.change_field(obj, person.ref.id, phone_field, phone)
    world.case.change_field(obj, person.ref.id, segments["region"], state)
    if zip_code:
        world.case.change_field(obj, person.ref.id, segments["postal_code"], zip_code)
    world.edit(person, "time_zone", zone)


def _book_and_hold(world: World, at: datetime, opens: datetime, phone: str) -> str:
    """Book the meeting at `at`; the confirmation is queued for `opens`, not before."""
    person = world.person()
    world.at(at)
    world.edit(person, "journey_state", "meeting_booked")
    world.pull()
    [row] = [r for r in world.rows(person.ref.id) if r.play == "meeting_confirmation"]
    assert row.send_at == opens
    assert row.to == phone
    world.at(opens - timedelta(minutes=1))
    assert send.run(world.ctx).sent == 0
    assert world.texts_to(phone) == []
    world.at(opens + timedelta(seconds=5))
    assert send.run(world.ctx).sent == 1
    [text] = world.texts_to(phone)
    assert text["body"].endswith("Reply STOP to opt out.")  # the program's first text
    return person.ref.id


def test_colorado_number_with_a_london_crm_zone_waits_for_denver(
    vendor: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    phone = "+13032910142"
    start = COLORADO_AT - timedelta(hours=1)
    with make_world(vendor, sandbox, tmp_path, PLAYS, seeded_at=start, start=start) as world:
        person = world.person()
        world.used.discard(person.phone or "")
        _move(world, person, phone, "CO", "Europe/London", zip_code="80202")  # a Denver ZIP
        world.pull()
        crm_id = _book_and_hold(world, COLORADO_AT, DENVER_0800, phone)

        shown = smsync_explain(world, crm_id)
        assert shown.returncode == 0, shown.stderr
        assert (
            "quiet_hours: outside America/Denver 08:00-21:00 from area_code, postal_code"
            " (it is 04:34 there); deferred to 2026-03-03T15:00+00:00"
        ) in shown.stdout, shown.stdout
        assert (
            "inputs: zones Europe/London (from crm_field), America/Denver (from area_code,"
            " postal_code); state CO (from region, postal_code, area_code);"
        ) in shown.stdout
        assert phone not in shown.stdout

        as_json = smsync_explain(world, crm_id, "--json")
        logged = json.loads(as_json.stdout)["decisions"]
        [deferred] = [d for d in logged if d["verdict"] == "defer"]
        assert deferred["inputs"]["zone_sources"] == [
            {"zone": "Europe/London", "sources": ["crm_field"]},
            {"zone": "America/Denver", "sources": ["area_code", "postal_code"]},
        ]
        assert deferred["inputs"]["states"] == [
            {"state": "CO", "from": "region"},
            {"state": "CO", "from": "postal_code"},
            {"state": "CO", "from": "area_code"},
        ]
        assert deferred["inputs"]["state_rules"] == []  # Colorado has no stricter law


def test_alaska_number_waits_for_adak_and_anchorage(
    vendor: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    phone = "+19072790142"
    start = ALASKA_AT - timedelta(hours=1)
    with make_world(vendor, sandbox, tmp_path, PLAYS, seeded_at=start, start=start) as world:
        person = world.person()
        world.used.discard(person.phone or "")
        # the CRM's zone field was left at the company's Central default
        _move(world, person, phone, "Alaska", "America/Chicago")
        world.pull()
        crm_id = _book_and_hold(world, ALASKA_AT, ADAK_0800, phone)

        shown = smsync_explain(world, crm_id)
        assert shown.returncode == 0, shown.stderr
        assert (
            "quiet_hours: outside America/Chicago 08:00-21:00 from crm_field (it is 05:58"
            " there); deferred to 2026-03-03T18:00+00:00"
        ) in shown.stdout, shown.stdout
        # the exchange may pin the area code to one Alaskan zone (279: Juneau); the state
        # still spans Anchorage and Adak, so every one of them is listed with its source
        lines = [x.strip() for x in shown.stdout.splitlines() if x.strip().startswith("inputs:")]
        assert len(lines) == 3  # the deferral, the strict play's drop, the send-time check
        line = lines[-1]
        assert all(x.split("; consent")[0] == line.split("; consent")[0] for x in lines)
        assert line.startswith("inputs: zones America/Chicago (from crm_field), "), line
        assert "America/Adak (from state)" in line
        assert "America/Anchorage (from " in line
        assert "state AK (from region, area_code);" in line
        logged = json.loads(smsync_explain(world, crm_id, "--json").stdout)["decisions"]
        [deferred] = [d for d in logged if d["verdict"] == "defer"]
        zones = {z["zone"]: z["sources"] for z in deferred["inputs"]["zone_sources"]}
        assert zones["America/Chicago"] == ["crm_field"]
        assert "state" in zones["America/Adak"]
        assert any("area_code" in sources for sources in zones.values())


def test_the_store_keeps_each_zone_with_its_sources(store: SqlStore) -> None:
    zones = contact_zones("Europe/London", "+13032910142", "America/New_York", region="CO")
    assert zones.origins  # several sources: kept as pairs
    legacy = TimeZones(("America/Chicago", "America/Denver"), TzSource.AREA_CODE)
    now = datetime(2026, 3, 3, tzinfo=UTC)
    with store.begin() as conn:
        for crm_id, tz in (("003a", zones), ("003b", legacy)):
            contacts.upsert(conn, ContactState(CrmRef("Contact", crm_id), None, tz), now)
        got = contacts.get(conn, CrmRef("Contact", "003a"))
        old = contacts.get(conn, CrmRef("Contact", "003b"))
    assert got is not None
    assert got.time_zones == zones
    assert got.time_zones.sources_of("America/Denver") == (TzSource.AREA_CODE, TzSource.STATE)
    assert old is not None
    assert old.time_zones == legacy  # rows with one source read back as before

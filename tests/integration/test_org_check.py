"""`smsync mappings check` against the live org, on both CRMs: the shipped files check
clean against the seeded sandbox; a picklist lacking a value a play waits for, unknown
and inactive ids, and a read-only written property are each reported at the file and
line that name them, saying what the org has instead; exit 2."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest

from connector.sandbox.hubspot.emulator import HubSpotEmulator
from connector.sandbox.salesforce.emulator import SalesforceEmulator
from connector.sandbox.salesforce.schema import LEAD_STATUSES, LIFECYCLE_STAGES
from connector.sandbox.seed import generate
from connector.sandbox.server import Sandbox

ROOT = Path(__file__).resolve().parents[2]
PLAYS = ROOT / "mappings" / "plays.yaml"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(vendors=("salesforce", "hubspot")) as sb:
        yield sb


@pytest.fixture
def seeded(sandbox: Sandbox) -> Sandbox:
    for vendor in ("salesforce", "hubspot"):
        sandbox.emulators[vendor].reset()
        sandbox.emulators[vendor].seed(generate(5, seed=3))
    return sandbox


def check(
    sb: Sandbox, crm: str, mapping: Path, plays: Path = PLAYS
) -> subprocess.CompletedProcess[str]:
    vendor = ("SMSYNC_", "HUBSPOT_", "SF_", "TWILIO_")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(vendor)},
        **sb.env(),
        "SMSYNC_CRM": crm,
    }
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "connector.cli",
            "mappings",
            "check",
            str(mapping),
            "--plays",
            str(plays),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def line_of(path: Path, needle: str, nth: int = 0) -> int:
    hits = [i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line]
    return hits[nth]


def rows(result: subprocess.CompletedProcess[str]) -> list[tuple[str, int, str]]:
    out = []
    for row in result.stdout.splitlines():
        m = re.match(r"(.+?):(\d+):(\d+): (.*)", row)
        assert m, row
        out.append((m.group(1), int(m.group(2)), m.group(4)))
    return out


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_the_shipped_files_check_clean_against_the_seeded_sandbox(
    seeded: Sandbox, crm: str
) -> None:
    result = check(seeded, crm, ROOT / "mappings" / f"{crm}.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok:" in result.stderr


def test_a_lead_status_without_mql_names_the_play_line_and_value(seeded: Sandbox) -> None:
    emu = cast("SalesforceEmulator", seeded.emulators["salesforce"])
    status = emu.schema["Lead"].field("Status")
    stage = emu.schema["Contact"].field("Lifecycle_Stage__c")
    assert status is not None
    assert stage is not None
    status.picklist = tuple(v for v in LEAD_STATUSES if v != "MQL")
    stage.picklist = tuple(v for v in LIFECYCLE_STAGES if v not in ("Disqualified", "Lead"))
    try:
        result = check(seeded, "salesforce", ROOT / "mappings" / "salesforce.yaml")
    finally:
        status.picklist, stage.picklist = LEAD_STATUSES, LIFECYCLE_STAGES
    assert result.returncode == 2
    found = [(line, msg) for file, line, msg in rows(result) if file == str(PLAYS)]
    # three waits the org cannot meet: mql on Lead, disqualified and lead on Contact
    assert [line for line, _ in found] == [
        line_of(PLAYS, "stage_entered: mql"),
        line_of(PLAYS, "from: disqualified"),
        line_of(PLAYS, "from: disqualified"),
    ]
    mql = found[0][1]
    assert "play `speed_to_lead` waits for lifecycle_stage `mql`" in mql
    assert "Lead.Status has no such value" in mql
    assert "'MQL'" in mql
    assert "Working - Contacted" in mql
    assert "add `MQL` to the Lead.Status picklist" in mql
    assert all("play `reactivation`" in msg and "Contact." in msg for _, msg in found[1:])


def test_unknown_inactive_and_queue_ids_are_each_reported_at_their_line(
    seeded: Sandbox, tmp_path: Path
) -> None:
    text = (ROOT / "mappings" / "salesforce.yaml").read_text()
    plants = [
        (
            "members: [005000000000001AAA, 005000000000002AAA]",
            "members: [005000000000001AAA, 005000000000077AAA]",
            "is no user or queue",
        ),
        (
            "fallback_owner_id: 00G000000000001AAA",
            "fallback_owner_id: 00G000000000099AAA",
            "is no user or queue",
        ),
        (
            "escalation_owner_id: 005000000000009AAA",
            "escalation_owner_id: 005000000000066AAA",
            "is no user or queue",
        ),
        (
            "      lead_id: 005000000000009AAA\n    - name: West",
            "      lead_id: 005000000000005AAA\n    - name: West",
            "inactive",
        ),
        (
            "fallback_owner_id: 005000000000003AAA",
            "fallback_owner_id: 005000000000005AAA",
            "inactive",
        ),
        (
            "members: [005000000000003AAA, 005000000000004AAA]",
            "members: [005000000000003AAA, 00G000000000001AAA]",
            "needs a user",
        ),
    ]
    for old, new, _ in plants:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    bad = tmp_path / "salesforce.yaml"
    bad.write_text(text)
    result = check(seeded, "salesforce", bad)
    assert result.returncode == 2
    got = rows(result)
    assert len(got) == len(plants), result.stdout
    for _, new, kind in plants:
        needle = new.splitlines()[0].strip()
        line = line_of(bad, needle)
        assert any(f == str(bad) and ln == line and kind in msg for f, ln, msg in got), (
            needle,
            got,
        )
    unknown = next(msg for _, _, msg in got if "005000000000077AAA" in msg)
    assert "active ones include" in unknown  # what the org has instead


def test_hubspot_missing_option_archived_owner_and_read_only_property(
    seeded: Sandbox, tmp_path: Path
) -> None:
    emu = cast("HubSpotEmulator", seeded.emulators["hubspot"])
    props = emu.portal.store("contacts").props
    stage, journey = props["lifecyclestage"], props["smsync_journey_state"]
    kept = tuple(o for o in stage.options if o.value != "marketingqualifiedlead")
    props["lifecyclestage"] = dataclasses.replace(
        stage, options=kept, option_values=frozenset(o.value for o in kept)
    )
    props["smsync_journey_state"] = dataclasses.replace(journey, read_only=True)
    text = (ROOT / "mappings" / "hubspot.yaml").read_text()
    text = text.replace('members: ["1000002", "1000003"]', 'members: ["1000002", "1000005"]')
    text = text.replace('escalation_owner_id: "1000009"', 'escalation_owner_id: "4242"')
    bad = tmp_path / "hubspot.yaml"
    bad.write_text(text)
    try:
        result = check(seeded, "hubspot", bad)
    finally:
        props["lifecyclestage"], props["smsync_journey_state"] = stage, journey
    assert result.returncode == 2
    got = rows(result)
    expected = {
        (
            str(PLAYS),
            line_of(PLAYS, "stage_entered: mql"),
        ): "contacts.lifecyclestage has no such value",
        (str(bad), line_of(bad, "1000005", 0)): "inactive",
        (str(bad), line_of(bad, "4242")): "is no owner",
        (str(bad), line_of(bad, "journey_state: smsync_journey_state")): "read-only",
    }
    # the value map's own entry is also no longer an option (the mapping check says so)
    assert len(got) == len(expected) + 1, result.stdout
    for (file, line), kind in expected.items():
        assert any(f == file and ln == line and kind in msg for f, ln, msg in got), (kind, got)


def test_values_compared_with_a_picklist_segment_must_be_picklist_values(
    seeded: Sandbox, tmp_path: Path
) -> None:
    mapping = (ROOT / "mappings" / "salesforce.yaml").read_text()
    old = "        company: Company\n"
    assert mapping.count(old) == 1
    mapping_file = tmp_path / "salesforce.yaml"
    mapping_file.write_text(mapping.replace(old, old + "        lead_source: LeadSource\n"))
    plays = PLAYS.read_text()
    plants = {
        "      - {field: lifecycle_stage, op: in, values: [disqualified]}": (
            "      - {field: lifecycle_stage, op: in, values: [disqualified]}\n"
            "      - {field: lead_source, op: in, values: [Webb]}"
        ),
        "      - {field: lifecycle_stage, op: equals, values: [customer]}": (
            "      - {field: lifecycle_stage, op: equals, values: [customer]}\n"
            "      - {field: lead_source, op: equals, values: [Purchased list]}"
        ),
        "    outcome: {disposition: interested}\n    trigger:\n      field_changed": (
            "    outcome: {field: lead_source, op: in, values: [Web, Partner]}\n"
            "    trigger:\n      field_changed"
        ),
        "      stage_entered: mql ": "      stage_entered: {field: lead_source, stage: Webinarr} ",
    }
    for old_text, new_text in plants.items():
        assert plays.count(old_text) == 1, old_text
        plays = plays.replace(old_text, new_text)
    plays_file = tmp_path / "plays.yaml"
    plays_file.write_text(plays)
    result = check(seeded, "salesforce", mapping_file, plays_file)
    assert result.returncode == 2, result.stdout + result.stderr
    got = rows(result)
    assert sorted((f, ln) for f, ln, _ in got) == sorted(
        [
            (str(plays_file), line_of(plays_file, "Webinarr")),
            (str(plays_file), line_of(plays_file, "Webb")),
            (str(plays_file), line_of(plays_file, "Purchased list")),
            (str(plays_file), line_of(plays_file, "Partner]")),
        ]
    ), result.stdout
    stage = next(msg for _, _, msg in got if "`Webinarr`" in msg)
    assert "play `speed_to_lead` waits for lead_source `Webinarr`" in stage
    listed = next(msg for _, _, msg in got if "`Purchased list`" in msg)
    assert "Lead.LeadSource has: " in listed
    assert "Purchased List" in listed  # what the org has instead

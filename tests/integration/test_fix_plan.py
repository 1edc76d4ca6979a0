"""`smsync mappings check --fix-plan` prepares an empty org in one go: on a sandbox org
stripped of every custom field (and of the picklist values an admin adds), the plan's
steps, applied through the vendor's API as the plan says (Salesforce Tooling API
`CustomField` creates; HubSpot `POST /crm/v3/properties/{object}`), and its Setup steps
for standard picklists, make `smsync mappings check` pass."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import requests

from connector.sandbox.hubspot.emulator import HubSpotEmulator
from connector.sandbox.salesforce.schema import LEAD_STATUSES
from connector.sandbox.seed import generate
from connector.sandbox.server import Sandbox
from tests.integration.sandbox.salesforce_fixtures import connect, rest

ROOT = Path(__file__).resolve().parents[2]
PLAYS = ROOT / "mappings" / "plays.yaml"
STANDARD_LEAD_STATUSES = [v for v in LEAD_STATUSES if v != "MQL"]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(vendors=("salesforce", "hubspot")) as sb:
        yield sb


def smsync(sb: Sandbox, crm: str, *args: str) -> subprocess.CompletedProcess[str]:
    vendor = ("SMSYNC_", "HUBSPOT_", "SF_", "TWILIO_")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(vendor)},
        **sb.env(),
        "SMSYNC_CRM": crm,
    }
    mapping = str(ROOT / "mappings" / f"{crm}.yaml")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "connector.cli",
            "mappings",
            "check",
            mapping,
            "--plays",
            str(PLAYS),
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def _plan(sb: Sandbox, crm: str) -> list[dict[str, Any]]:
    result = smsync(sb, crm, "--fix-plan")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["crm"] == crm
    steps: list[dict[str, Any]] = plan["steps"]
    return steps


def test_salesforce_plan_applied_to_an_empty_org_makes_the_check_pass(sandbox: Sandbox) -> None:
    emulator = sandbox.emulators["salesforce"]
    emulator.reset()
    emulator.seed(generate(5, seed=3))
    admin = f"{sandbox.urls['admin']}/__sandbox/salesforce/schema"
    sf = connect(sandbox)
    stripped = 0
    for obj in ("Lead", "Contact", "Task"):
        for field in rest(sf, f"sobjects/{obj}/describe")["fields"]:
            if field["name"].endswith("__c"):
                r = requests.post(
                    admin, json={"object": obj, "field": field["name"], "drop": True}, timeout=10
                )
                assert r.status_code == 200, r.text
                stripped += 1
    requests.post(
        admin,
        json={"object": "Lead", "field": "Status", "picklist": STANDARD_LEAD_STATUSES},
        timeout=10,
    ).raise_for_status()
    assert stripped >= 20
    assert smsync(sandbox, "salesforce").returncode == 2  # the empty org does not fit

    steps = _plan(sandbox, "salesforce")
    created = [s for s in steps if s["action"] == "create_field"]
    values = [s for s in steps if s["action"] == "add_picklist_values"]
    assert {s["field"] for s in created} >= {
        "SMS_Journey_State__c",
        "SMS_Message_Id__c",
        "Lifecycle_Stage__c",
    }
    assert values == [
        {
            "action": "add_picklist_values",
            "object": "Lead",
            "field": "Status",
            "values": ["MQL"],
            "setup": "Setup > Object Manager > Lead > Fields & Relationships > Status > Values >"
            " New: MQL",
        }
    ]
    stage = next(
        s for s in created if s["object"] == "Contact" and s["field"] == "Lifecycle_Stage__c"
    )
    stage_values = [
        v["fullName"]
        for v in stage["tooling"]["body"]["Metadata"]["valueSet"]["valueSetDefinition"]["value"]
    ]
    assert "MQL" in stage_values
    assert "Disqualified" in stage_values  # the reactivation play waits for it
    for step in created:
        call = step["tooling"]
        reply = sf.session.post(
            f"{sf.base_url}{call['path']}", json=call["body"], headers=sf.headers, timeout=10
        )
        assert reply.status_code == 201, reply.text
    for step in values:  # a standard picklist takes values in Setup: the admin's edit
        current = next(
            f
            for f in rest(sf, f"sobjects/{step['object']}/describe")["fields"]
            if f["name"] == step["field"]
        )
        have = [p["value"] for p in current["picklistValues"]]
        requests.post(
            admin,
            json={
                "object": step["object"],
                "field": step["field"],
                "picklist": have + step["values"],
            },
            timeout=10,
        ).raise_for_status()

    result = smsync(sandbox, "salesforce")
    assert result.returncode == 0, result.stdout + result.stderr
    assert _plan(sandbox, "salesforce") == []  # nothing left to create


def test_hubspot_plan_applied_to_an_empty_portal_makes_the_check_pass(sandbox: Sandbox) -> None:
    emulator = cast("HubSpotEmulator", sandbox.emulators["hubspot"])
    emulator.reset()
    emulator.seed(generate(5, seed=3))
    removed = 0
    for name in ("contacts", "communications", "tasks"):
        props = emulator.portal.store(name).props
        for prop in [p for p in props.values() if p.name.startswith("smsync_")]:
            del props[prop.name]  # a portal where smsync was never set up
            removed += 1
    assert removed >= 10
    assert smsync(sandbox, "hubspot").returncode == 2

    steps = _plan(sandbox, "hubspot")
    assert {s["action"] for s in steps} == {"create_property"}
    by_name = {(s["object"], s["field"]): s["request"] for s in steps}
    journey = by_name[("contacts", "smsync_journey_state")]["body"]
    assert journey["type"] == "enumeration"
    assert [o["value"] for o in journey["options"]][:2] == ["new", "engaged"]
    assert by_name[("tasks", "smsync_external_id")]["body"]["hasUniqueValue"] is True
    base = sandbox.urls["hubspot"]
    auth = {"Authorization": f"Bearer {sandbox.credentials.hubspot_token}"}
    for request in by_name.values():
        reply = requests.post(
            f"{base}{request['path']}", json=request["body"], headers=auth, timeout=10
        )
        assert reply.status_code == 201, reply.text

    result = smsync(sandbox, "hubspot")
    assert result.returncode == 0, result.stdout + result.stderr
    assert _plan(sandbox, "hubspot") == []

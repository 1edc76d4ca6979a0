"""`smsync mappings check` for Salesforce against the sandbox org's describe: the example
mapping is clean, and each of the five kinds of error seeded into a copy is reported at
its line in the file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest

from connector.config import load_mapping
from connector.crm.salesforce.schema_check import check_mapping
from connector.sandbox.salesforce.emulator import SalesforceEmulator
from connector.sandbox.seed import generate
from connector.sandbox.server import Sandbox
from tests.sandbox_kit import sandbox_settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "mappings" / "salesforce.yaml"

# (original line, seeded line, what the report must say)
SEEDS = (
    (
        "  journey_state: SMS_Journey_State__c",
        "  journey_state: SMS_Journy_State__c",
        "has no field 'SMS_Journy_State__c'",
    ),
    (
        "  consent_timestamp: SMS_Consent_Timestamp__c",
        "  consent_timestamp: SMS_Active_Motion__c",
        "is a string field, but consent_timestamp needs datetime",
    ),
    ("  owner_team: SMS_Owner_Team__c", "  owner_team: Name", "Name is not updateable"),
    (
        "activity:\n  object: Task\n  external_id_field: SMS_Message_Id__c",
        "activity:\n  object: Task\n  external_id_field: Subject",
        "Task.Subject is not an External ID field",
    ),
    (
        "    Not_Now: not_now",
        "    Not_Now: not_now\n    Maybe_Later: not_now",
        "'Maybe_Later' is not a value of the mapped picklist",
    ),
)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(vendors=("salesforce",)) as sb:
        emulator = cast("SalesforceEmulator", sb.emulators["salesforce"])
        emulator.reset()
        emulator.seed(generate(5, seed=3))  # the users and queue the mapping names
        yield sb


def test_the_example_mapping_matches_the_sandbox_org(sandbox: Sandbox) -> None:
    assert check_mapping(sandbox_settings(sandbox), load_mapping(EXAMPLE), EXAMPLE) == []


def test_each_kind_of_mapping_error_is_reported_at_its_line(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    for original, seeded, _ in SEEDS:
        assert text.count(original) == 1, original
        text = text.replace(original, seeded)
    path = tmp_path / "salesforce.yaml"
    path.write_text(text, encoding="utf-8")
    lines = text.splitlines()

    problems = check_mapping(sandbox_settings(sandbox), load_mapping(path), path)

    for _, seeded, expected in SEEDS:
        last = seeded.splitlines()[-1]
        line = lines.index(last) + 1
        hits = [p for p in problems if expected in p.message]
        assert hits, f"no problem says {expected!r}: {problems}"
        assert {p.line for p in hits} == {line}, (expected, hits)
        assert all(p.file == str(path) for p in hits)
    # field problems count once per object (Lead and Contact share the default map)
    assert len(problems) == 2 + 2 + 2 + 1 + 1


def test_an_external_id_flag_removed_in_the_org_is_reported(
    sandbox: Sandbox,
) -> None:
    emu = cast("SalesforceEmulator", sandbox.emulators["salesforce"])
    task = emu.schema["Task"].field("SMS_Message_Id__c")
    assert task is not None
    task.external_id = False
    try:
        problems = check_mapping(sandbox_settings(sandbox), load_mapping(EXAMPLE), EXAMPLE)
    finally:
        task.external_id = True
    assert [p.message.split(" is ")[0] for p in problems] == ["Task.SMS_Message_Id__c"] * 2


def test_the_cli_reports_every_kind_and_exits_2(sandbox: Sandbox, tmp_path: Path) -> None:
    """`smsync mappings check` as an operator runs it, pointed at the sandbox by its env."""
    import os
    import subprocess
    import sys

    text = EXAMPLE.read_text(encoding="utf-8")
    for original, seeded, _ in SEEDS:
        text = text.replace(original, seeded)
    bad = tmp_path / "salesforce.yaml"
    bad.write_text(text, encoding="utf-8")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SMSYNC_")}, **sandbox.env()}

    def check(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "connector.cli", "mappings", "check", str(path)],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=120,
            check=False,
        )

    good = check(EXAMPLE)
    assert good.returncode == 0, good.stdout + good.stderr
    result = check(bad)
    assert result.returncode == 2
    lines = result.stdout.splitlines()
    assert all(line.startswith(f"{bad}:") for line in lines)
    for _, _, expected in SEEDS:  # a default-map field is reported for Lead and Contact
        assert any(expected in line for line in lines), expected

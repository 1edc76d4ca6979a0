"""`smsync mappings check` for HubSpot: the four kinds of error, each at FILE:LINE:COL."""

from __future__ import annotations

from pathlib import Path

from connector.config import load_mapping
from connector.crm.hubspot.schema_check import check_mapping
from connector.sandbox.server import Sandbox
from tests.integration.hubspot_kit import ROOT, fresh_account, sb, settings_for

__all__ = ["sb"]  # pytest fixture


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_the_shipped_mapping_fits_the_sandbox_portal(sb: Sandbox) -> None:
    fresh_account(sb, contacts=5)  # seeds the owners the mapping names
    path = ROOT / "mappings" / "hubspot.yaml"
    assert check_mapping(settings_for(sb), load_mapping(path), path) == []


def test_four_kinds_of_error_are_located_in_the_file(sb: Sandbox, tmp_path: Path) -> None:
    account = fresh_account(sb, contacts=5)  # seeds the owners the mapping names
    account.emulator.refuse_engagement_unique()
    text = (ROOT / "mappings" / "hubspot.yaml").read_text()
    text = text.replace("  owner_team: smsync_owner_team", "  owner_team: smsync_team_name")
    text = text.replace("  sla_due: smsync_sla_due", "  sla_due: smsync_owner_team")
    text = text.replace("    unknown: unknown\n", "    unknown: unknown\n    maybe: unknown\n", 1)
    path = tmp_path / "hubspot.yaml"
    path.write_text(text)
    problems = check_mapping(settings_for(sb), load_mapping(path), path)
    by_line = {p.line: p for p in problems}
    assert all(p.file == str(path) for p in problems)

    missing = by_line[_line_of(text, "owner_team: smsync_team_name")]
    assert "does not exist" in missing.message
    assert missing.col == text.splitlines()[missing.line - 1].index("smsync_team_name") + 1
    mismatch = by_line[_line_of(text, "sla_due: smsync_owner_team")]
    assert "type string" in mismatch.message
    assert "datetime" in mismatch.message
    option = by_line[_line_of(text, "maybe: unknown")]
    assert "'maybe' is not an option" in option.message
    not_unique = [p for p in problems if "not unique" in p.message]
    assert len(not_unique) == 2  # communications and tasks
    assert {p.line for p in not_unique} == {
        i for i, line in enumerate(text.splitlines(), 1) if "external_id_field:" in line
    }
    assert len(problems) == 5


def test_the_cli_reports_every_kind_and_exits_2(sb: Sandbox, tmp_path: Path) -> None:
    """`smsync mappings check` as an operator runs it, pointed at the sandbox by its env."""
    import os
    import subprocess
    import sys

    account = fresh_account(sb, contacts=5)  # seeds the owners the mapping names
    shipped = ROOT / "mappings" / "hubspot.yaml"
    text = shipped.read_text(encoding="utf-8")
    text = text.replace("  owner_team: smsync_owner_team", "  owner_team: smsync_team_name")
    text = text.replace("  sla_due: smsync_sla_due", "  sla_due: smsync_owner_team")
    text = text.replace("    unknown: unknown\n", "    unknown: unknown\n    maybe: unknown\n", 1)
    bad = tmp_path / "hubspot.yaml"
    bad.write_text(text, encoding="utf-8")
    vendor = ("SMSYNC_", "HUBSPOT_", "SF_", "TWILIO_")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(vendor)},
        **sb.env(),
        "SMSYNC_CRM": "hubspot",
    }

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

    good = check(shipped)
    assert good.returncode == 0, good.stdout + good.stderr
    account.emulator.refuse_engagement_unique()
    result = check(bad)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 5
    assert all(line.startswith(f"{bad}:") for line in lines)
    expected = {
        "owner_team: smsync_team_name": "does not exist",
        "sla_due: smsync_owner_team": "datetime",
        "maybe: unknown": "'maybe' is not an option",
    }
    for needle, kind in expected.items():
        located = f"{bad}:{_line_of(text, needle)}:"
        assert any(line.startswith(located) and kind in line for line in lines), needle
    unique_lines = {
        i for i, line in enumerate(text.splitlines(), 1) if "external_id_field:" in line
    }
    not_unique = [line for line in lines if "not unique" in line]
    assert {int(line.split(":")[1]) for line in not_unique} == unique_lines

"""Issue 8 acceptance 3, and the manual-send CLI, as an operator runs them: real process,
real exit codes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from connector.domain.model import ContactState, CrmRef
from connector.store import SqlStore, contacts
from tests.cli_kit import smsync

ROOT = Path(__file__).resolve().parents[2]
PLAYS = ROOT / "tests" / "data" / "plays"
NOW = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)


def test_a_bad_plays_file_exits_2_with_three_located_lines() -> None:
    result = smsync("mappings", "validate", str(PLAYS / "three_problems.yaml"))
    assert result.returncode == 2, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    where = [line.split(": ", 1)[0].rsplit(":", 2)[1:] for line in lines]
    assert where == [["9", "5"], ["15", "36"], ["21", "5"]]
    assert all(line.startswith(str(PLAYS / "three_problems.yaml") + ":") for line in lines)
    assert "cooldwon: unknown key" in lines[0]
    assert "token $favourite_colour is not a field the mapping maps" in lines[1]
    assert "end 08:00 must be after start 21:00" in lines[2]


def test_plays_tokens_are_checked_against_the_configured_crm_mapping() -> None:
    # `industry` is a segment of both example mappings; `region` too. Both pass.
    for crm in ("salesforce", "hubspot"):
        result = smsync("mappings", "validate", "mappings/plays.yaml", env={"SMSYNC_CRM": crm})
        assert result.returncode == 0, result.stdout + result.stderr
    named = smsync(
        "mappings",
        "validate",
        str(PLAYS / "three_problems.yaml"),
        "--mapping",
        "mappings/hubspot.yaml",
    )
    assert named.returncode == 2
    assert len(named.stdout.splitlines()) == 3


def test_mappings_and_plays_validate_together() -> None:
    result = smsync(
        "mappings", "validate", "mappings/salesforce.yaml", str(PLAYS / "scenario.yaml")
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_manual_send_of_an_unknown_contact_exits_2_and_sends_nothing(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'smsync.db'}"
    assert smsync("db", "upgrade", env={"SMSYNC_DATABASE_URL": db}).returncode == 0
    result = smsync(
        "send",
        "--contact",
        "00Q000000000404",
        "--play",
        "speed_to_lead",
        "--dry-run",
        env={"SMSYNC_DATABASE_URL": db, "SMSYNC_PLAYS": str(PLAYS / "scenario.yaml")},
    )
    assert result.returncode == 2
    assert "no contact '00Q000000000404'" in result.stderr


def test_manual_send_of_an_unknown_play_exits_2(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'smsync.db'}"
    result = smsync(
        "send",
        "--contact",
        "00Q1",
        "--play",
        "no_such_play",
        "--dry-run",
        env={"SMSYNC_DATABASE_URL": db, "SMSYNC_PLAYS": str(PLAYS / "scenario.yaml")},
    )
    assert result.returncode == 2
    assert "unknown play 'no_such_play'" in result.stderr
    assert "speed_to_lead" in result.stderr


def test_explain_with_no_decisions_says_so(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'smsync.db'}"
    assert smsync("db", "upgrade", env={"SMSYNC_DATABASE_URL": db}).returncode == 0
    store = SqlStore.from_url(db)
    try:
        with store.begin() as conn:
            contacts.upsert(conn, ContactState(CrmRef("Contact", "003X"), "+12125550123"), NOW)
    finally:
        store.close()
    result = smsync("explain", "--contact", "003X", env={"SMSYNC_DATABASE_URL": db})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "no decisions recorded for 003X"


@pytest.mark.parametrize(
    "command",
    [
        ("explain", "--contact", "00Qnope"),
        ("classify", "yes please", "--contact", "00Qnope"),
        ("send", "--contact", "00Qnope", "--play", "speed_to_lead", "--dry-run"),
    ],
)
def test_an_unknown_record_id_is_named_exit_2(tmp_path: Path, command: tuple[str, ...]) -> None:
    db = f"sqlite:///{tmp_path / 'smsync.db'}"
    assert smsync("db", "upgrade", env={"SMSYNC_DATABASE_URL": db}).returncode == 0
    result = smsync(*command, env={"SMSYNC_DATABASE_URL": db})
    assert result.returncode == 2, result.stdout + result.stderr
    assert "00Qnope" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_bad_state_rules_exit_2_on_validate_and_on_run_start_changing_nothing(
    tmp_path: Path,
) -> None:
    bad = PLAYS / "bad_state_rules.yaml"
    checked = smsync("mappings", "validate", str(bad))
    assert checked.returncode == 2, checked.stderr
    assert [line.split(": ", 1)[0] for line in checked.stdout.splitlines()] == [
        f"{bad}:14:7",
        f"{bad}:18:13",
        f"{bad}:22:26",
        f"{bad}:25:30",
    ]
    db = tmp_path / "var" / "smsync.db"
    started = smsync(
        "run",
        env={
            "SMSYNC_DATABASE_URL": f"sqlite:///{db}",
            "SMSYNC_CRM": "salesforce",
            "SMSYNC_PLAYS": str(bad),
        },
    )
    assert started.returncode == 2
    located = [line for line in started.stderr.splitlines() if line.startswith(f"{bad}:")]
    assert len(located) == 4
    assert "'ZZ' is not a US state or territory code" in located[0]
    assert "Traceback" not in started.stderr
    assert not db.parent.exists()  # nothing created, nothing changed


def test_an_unknown_purpose_and_a_help_text_without_opt_out_exit_2_changing_nothing(
    tmp_path: Path,
) -> None:
    bad = PLAYS / "bad_purpose.yaml"
    checked = smsync("mappings", "validate", str(bad))
    assert checked.returncode == 2, checked.stderr
    lines = checked.stdout.splitlines()
    assert [line.split(": ", 1)[0] for line in lines] == [
        f"{bad}:7:3",
        f"{bad}:10:16",
        f"{bad}:25:14",
    ]
    assert "marketing is built in; list only your own purposes here" in lines[0]
    assert 'the HELP answer must say how to opt out; add "Reply STOP to opt out."' in lines[1]
    assert lines[2].endswith(
        "plays[1].purpose: unknown purpose 'marketting'; did you mean `marketing`? use one of"
        " marketing, informational, transactional, renewals, or declare it under"
        " policy.purposes"
    )
    db = tmp_path / "var" / "smsync.db"
    started = smsync(
        "run",
        env={
            "SMSYNC_DATABASE_URL": f"sqlite:///{db}",
            "SMSYNC_CRM": "salesforce",
            "SMSYNC_PLAYS": str(bad),
        },
    )
    assert started.returncode == 2
    located = [line for line in started.stderr.splitlines() if line.startswith(f"{bad}:")]
    assert len(located) == 3
    assert "Traceback" not in started.stderr
    assert not db.parent.exists()  # nothing created, nothing changed


def test_a_template_naming_an_undeclared_link_exits_2_located() -> None:
    path = PLAYS / "bad_links.yaml"
    result = smsync("mappings", "validate", str(path))
    assert result.returncode == 2, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(": ", 1)[0] for line in lines] == [f"{path}:15:48", f"{path}:25:28"]
    assert "link `pricng` is not declared by this play" in lines[0]
    assert "did you mean `pricing`?" in lines[0]
    assert "no play declares a link `demo`" in lines[1]

"""A configuration mistake exits 2 before anything is written: `smsync run` and
`smsync sync --once` read and check everything (`wiring.configure`) before the database is
created or migrated, so the SQLite file (and its directory) never appears."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_kit import smsync

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"

# complete but fake credentials, and no calls at start: only the mistake can fail
OFFLINE = {
    "SF_CLIENT_ID": "id",
    "SF_CLIENT_SECRET": "secret",
    "TWILIO_ACCOUNT_SID": "AC00000000000000000000000000000000",
    "TWILIO_AUTH_TOKEN": "token",
    "TWILIO_FROM": "+15005550006",
    "SMSYNC_STARTUP_CHECKS": "off",
    "SMSYNC_HTTP_PORT": "0",
}
MISTAKES = {
    "bad mapping": (
        {"SMSYNC_MAPPINGS": str(DATA / "mappings" / "three_problems.yaml")},
        "three_problems.yaml:7:5",
    ),
    "bad plays": (
        {"SMSYNC_PLAYS": str(DATA / "plays" / "three_problems.yaml")},
        "three_problems.yaml:9:5",
    ),
    "bad env value": ({"SMSYNC_WRITEBACK_LEASE_S": "1"}, "SMSYNC_WRITEBACK_LEASE_S"),
    "missing credential": (
        {"SF_CLIENT_SECRET": ""},
        "missing settings: SF_CLIENT_SECRET",
    ),
    "mapping for the other CRM": (
        {"SMSYNC_MAPPINGS": str(ROOT / "mappings" / "hubspot.yaml")},
        "SMSYNC_CRM is 'salesforce' but the mapping file is for 'hubspot'",
    ),
}


@pytest.mark.parametrize("command", [("run",), ("sync", "--once")], ids=["run", "sync"])
@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_a_configuration_mistake_exits_2_before_the_database_exists(
    tmp_path: Path, command: tuple[str, ...], mistake: str
) -> None:
    wrong, said = MISTAKES[mistake]
    db = tmp_path / "var" / "smsync.db"
    env = {**OFFLINE, "SMSYNC_DATABASE_URL": f"sqlite:///{db}", **wrong}
    result = smsync(*command, env=env, timeout=60)
    assert result.returncode == 2, result.stderr[-2000:]
    assert said in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert not db.exists()
    assert not db.parent.exists()

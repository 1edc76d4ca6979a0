"""The `smsync` command as an operator runs it: real process, real exit codes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from connector.store.database import safe_url
from connector.store.migrate import current, head, upgrade
from tests.cli_kit import smsync

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "mappings"


def test_example_mappings_validate() -> None:
    result = smsync("mappings", "validate", "mappings/salesforce.yaml", "mappings/hubspot.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_every_error_is_one_located_line_and_exit_2() -> None:
    result = smsync("mappings", "validate", str(DATA / "three_problems.yaml"))
    assert result.returncode == 2
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    where = [line.split(": ", 1)[0].rsplit(":", 2)[1:] for line in lines]
    assert where == [["7", "5"], ["11", "19"], ["24", "13"]]
    assert "unknown key" in lines[0]
    assert "expected a string" in lines[1]
    assert "'Urgent' is not one of High, Normal, Low" in lines[2]


def test_errors_across_files_are_all_listed() -> None:
    result = smsync(
        "mappings",
        "validate",
        str(DATA / "three_problems.yaml"),
        str(DATA / "bad_regex.yaml"),
        "does/not/exist.yaml",
    )
    assert result.returncode == 2
    files = {line.split(":", 1)[0] for line in result.stdout.splitlines()}
    assert files == {
        str(DATA / "three_problems.yaml"),
        str(DATA / "bad_regex.yaml"),
        "does/not/exist.yaml",
    }


def alias_bomb(path: Path) -> Path:
    """Six levels of nine aliases each (531,441 values expanded) in 237 bytes."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [
        f"{n}: &{n} [" + ",".join([f"*{p}"] * 9) + "]"
        for p, n in zip("abcde", "bcdef", strict=True)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_an_alias_bomb_is_refused_at_the_alias(tmp_path: Path) -> None:
    bomb = alias_bomb(tmp_path / "bomb.yaml")
    result = smsync("mappings", "validate", str(bomb), timeout=60)
    assert result.returncode == 2
    (line,) = result.stdout.splitlines()
    assert line.startswith(f"{bomb}:5:11: aliases here expand to more than 20,000 values")
    assert "Traceback" not in result.stderr


def test_run_refuses_an_alias_bomb_before_the_database_exists(tmp_path: Path) -> None:
    bomb = alias_bomb(tmp_path / "bomb.yaml")
    db = tmp_path / "var" / "smsync.db"
    env = {"SMSYNC_MAPPINGS": str(bomb), "SMSYNC_DATABASE_URL": f"sqlite:///{db}"}
    result = smsync("run", env=env, timeout=60)
    assert result.returncode == 2
    assert f"{bomb}:5:11: aliases here expand" in result.stderr
    assert "Traceback" not in result.stderr
    assert not db.parent.exists()


def test_config_files_over_the_size_cap_are_refused() -> None:
    result = smsync(
        "mappings",
        "validate",
        "mappings/salesforce.yaml",
        env={"SMSYNC_CONFIG_MAX_BYTES": "1024"},
    )
    assert result.returncode == 2
    assert result.stdout.startswith("mappings/salesforce.yaml:1:1: the file is ")
    assert "over the 1,024-byte limit" in result.stdout


def test_schema_is_json_for_editors() -> None:
    result = smsync("mappings", "schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert schema["additionalProperties"] is False
    assert "objects" in schema["properties"]


def test_bad_settings_exit_2_naming_the_variable() -> None:
    result = smsync("version", env={"SMSYNC_HTTP_PORT": "http"})
    assert result.returncode == 2
    assert "SMSYNC_HTTP_PORT" in result.stderr


def test_version() -> None:
    result = smsync("version")
    assert result.returncode == 0
    assert result.stdout.strip()


def test_db_upgrade_creates_the_schema_then_changes_nothing(db_url: str) -> None:
    env = {"SMSYNC_DATABASE_URL": db_url}
    first = smsync("db", "upgrade", env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("applied 0001, 0002, 0003")
    second = smsync("db", "upgrade", env=env)
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith("already current")


def test_db_upgrade_on_a_missing_schema_is_a_clear_error() -> None:
    url = os.environ.get("SMSYNC_TEST_DATABASE_URL")
    if not url:
        pytest.skip("needs Postgres")
    result = smsync(
        "db",
        "upgrade",
        env={"SMSYNC_DATABASE_URL": url + "?options=-csearch_path%3Dno_such_schema_x"},
    )
    assert result.returncode == 2
    assert "db upgrade: the database at" in result.stderr
    assert "create the schema (CREATE SCHEMA ...)" in result.stderr
    assert "Traceback" not in result.stderr


# complete but fake credentials, and no calls at start: the database is what fails here
OFFLINE = {
    "SF_CLIENT_ID": "id",
    "SF_CLIENT_SECRET": "secret",
    "TWILIO_ACCOUNT_SID": "AC00000000000000000000000000000000",
    "TWILIO_AUTH_TOKEN": "token",
    "TWILIO_FROM": "+15005550006",
    "SMSYNC_STARTUP_CHECKS": "off",
    "SMSYNC_HTTP_PORT": "0",
}
UNREACHABLE = "postgresql://postgres@127.0.0.1:9/smsync"  # nothing listens on port 9
READ_ONLY = "sqlite:////sys/smsync/smsync.db"  # sysfs: nobody, root included, creates files
HOST_FIX = "check the host and port in SMSYNC_DATABASE_URL"


@pytest.mark.parametrize(
    ("args", "url", "fix"),
    [
        (("db", "upgrade"), UNREACHABLE, HOST_FIX),
        (("run",), UNREACHABLE, HOST_FIX),
        (("sync", "--once"), UNREACHABLE, HOST_FIX),
        (("report",), UNREACHABLE, HOST_FIX),
        (("db", "upgrade"), READ_ONLY, "writable by this user"),
        (("run",), READ_ONLY, "writable by this user"),
    ],
)
def test_a_database_that_cannot_be_used_exits_2_with_the_fix(
    args: tuple[str, ...], url: str, fix: str
) -> None:
    result = smsync(*args, env={**OFFLINE, "SMSYNC_DATABASE_URL": url})
    assert result.returncode == 2, result.stderr[-2000:]
    assert "the database at" in result.stderr
    assert fix in result.stderr
    assert "Traceback" not in result.stderr


def test_read_commands_never_create_the_database(db_url: str, tmp_path: Path) -> None:
    env = {"SMSYNC_DATABASE_URL": db_url}
    shown = safe_url(db_url)
    for args in (
        ("report",),
        ("explain", "--contact", "003x"),
        ("send", "--contact", "003x", "--play", "speed_to_lead", "--dry-run"),
    ):
        result = smsync(*args, env=env)
        assert result.returncode == 2, result.stderr[-2000:]
        assert result.stderr == (
            f"the database at {shown} is not migrated (at none, need {head()}):"
            " run `smsync db upgrade`\n"
        )
    assert not (tmp_path / "var").exists()
    assert current(db_url) is None  # no table either (Postgres)
    upgrade(db_url, "0001")
    result = smsync("report", env=env)
    assert result.returncode == 2
    assert f"(at 0001, need {head()})" in result.stderr

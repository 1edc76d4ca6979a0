"""`smsync report` at COLUMNS=80: every line fits, no header is cut below its first word
(wide tables are split, each repeating the group column), and owners show by name."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from connector.report.render import LIFTS, MIX, PIPELINE, PLAYS, REACH, RESPONSE
from connector.store import SqlStore
from connector.store import tables as tb
from tests.integration import report_kit as kit

ROOT = Path(__file__).resolve().parents[2]
HEADERS = {c.header for cols in (REACH, RESPONSE, PIPELINE, MIX, PLAYS, LIFTS) for c in cols}


def _report(url: str, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSYNC_")}
    done = subprocess.run(
        [sys.executable, "-m", "connector.cli", "report", "--since", "2024-03-01", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**env, "SMSYNC_DATABASE_URL": url, "COLUMNS": "80", "TERM": "dumb"},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _first_words_whole(out: str) -> None:
    lines = out.splitlines()
    too_long = [line for line in lines if len(line) > 80]
    assert too_long == []
    assert "…" not in out
    words = set(re.findall(r"[\w%\[\]-]+", out))
    for header in HEADERS:
        assert header.split()[0] in words, f"{header!r} cut below its first word"


@pytest.mark.parametrize("by", ["owner", "play"])
def test_report_fits_80_columns(store: SqlStore, migrated_url: str, by: str) -> None:
    with store.begin() as conn:
        kit.build(conn)
        # a long owner name and a long play name, the widest cells a report meets
        conn.execute(
            sa.update(tb.messages)
            .where(tb.messages.c.play == "confirm")
            .values(play="meeting_confirmation_for_enterprise_accounts")
        )
        kit.Builder(conn).contact("z0", "ae", names={"owner_name": "Maximiliana Featherstonehaugh"})
    out = _report(migrated_url, "--by", by)
    _first_words_whole(out)
    if by == "owner":
        assert "Sam Diaz" in out  # the owner's name, not the id
        assert "owner-sdr" not in out
        assert "Maximiliana" in out
    else:
        assert "meeting_confirmation" in out  # folded inside its column, never cut
    assert "Lift vs holdout" in out
    assert "Inbound-only STOPs" in out


def _keys(value: object) -> set[str]:
    """Every key of the JSON's schema; the disposition and reason counts are data."""
    if isinstance(value, dict):
        nested = (v for k, v in value.items() if k not in {"dispositions", "blocked"})
        return set(value) | {k for v in nested for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def test_json_keys_are_documented(store: SqlStore, migrated_url: str) -> None:
    with store.begin() as conn:
        kit.build(conn)
    data = json.loads(_report(migrated_url, "--by", "play", "--json"))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("JSON keys (`smsync report --json`)")[1].split("\n\n")[0]
    documented = set(re.findall(r"`(\w+)`", section))
    assert _keys(data) - documented == set()
    assert documented - _keys(data) == set()

"""Issue 9, acceptance 2: three `smsync run` replicas on one Postgres schema send every
queued text and write every queued CRM activity exactly once, as the sandbox counts, while
the leader of the send job is SIGKILLed mid-run; its jobs move to a survivor within two
lease periods and the rows it held are settled once their leases run out.

The driver is scripts/replicas.py, which owns the sandbox, the replicas and the counting
(the full 2,000 + 2,000 run: `python scripts/replicas.py --json`). Here it runs at a
smaller scale on a scratch schema, with leases shortened to 8 s (the defaults are 30 s;
heartbeats keep them while rows are worked on)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.store_fixtures import postgres_base_url, scratch_postgres

ROOT = Path(__file__).resolve().parents[2]
SENDS = 200
WRITES = 200


def drive(url: str) -> dict[str, Any]:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "replicas.py"),
            "--replicas",
            "3",
            "--sends",
            str(SENDS),
            "--writes",
            str(WRITES),
            "--database-url",
            url,
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
    )
    lines = done.stdout.strip().splitlines()
    assert lines, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(lines[-1])
    result["_returncode"] = done.returncode
    return result


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.timeout(360)
def test_three_replicas_do_everything_once_through_a_leader_kill() -> None:
    with scratch_postgres(postgres_base_url()) as url:
        result = drive(url)
    shown = {k: v for k, v in result.items() if k != "log_tails"}

    # every queued text reached Twilio exactly once, and nothing else was texted
    assert result["twilio_outbound"] == SENDS, shown
    assert result["sends_missing"] == 0, shown
    assert result["sends_duplicated"] == 0, shown
    assert result["texts_not_queued"] == 0, shown
    assert result["sent_rows_distinct_sids"] == SENDS, shown
    # one CRM record per external id: the queued writes and each text's activity
    assert result["crm_expected"] == WRITES + SENDS, shown
    assert result["crm_missing"] == 0, shown
    assert result["crm_duplicated"] == 0, shown
    assert result["crm_ids_held_twice"] == 0, shown
    # nothing left pending, claimed, ambiguous or failed
    assert result["sms_outbox"] == {"sent": SENDS}, shown
    assert set(result["crm_outbox"]) == {"done"}, shown
    assert result["inbox_unprocessed"] == 0, shown

    # the send leader died mid-run, holding claimed texts
    assert result["killed_replica"] is not None, shown
    assert "send" in result["killed_jobs"], shown
    assert 0 < result["sent_at_kill"] < SENDS, shown
    assert result["in_flight_at_kill"]["sms"] > 0, shown
    # each of its jobs has a new leader among the survivors within two lease periods
    assert set(result["takeover_s"]) == set(result["killed_jobs"]), shown
    survivors = {0, 1, 2} - {result["killed_replica"]}
    assert set(result["new_leaders"].values()) <= survivors, shown
    assert result["max_takeover_s"] < 2 * result["lease_s"]["send"], shown
    assert result["first_send_after_kill_s"] < 2 * result["lease_s"]["send"], shown
    # it died right after Twilio accepted a text it had not recorded yet: a survivor
    # found that text at Twilio and recorded it, rather than sending it again
    assert result["killed_by"].startswith("sandbox"), shown
    assert result["in_flight_reconciled"] >= 1, shown
    # the rows it held were settled by a survivor once their leases ran out
    lease = result["lease_s"]
    longest = lease["writeback"] if result["in_flight_at_kill"]["crm"] else lease["send"]
    assert result["in_flight_settled_s"] is not None, shown
    assert result["in_flight_settled_s"] < longest + 60, shown
    # the survivors stop cleanly on SIGTERM
    assert result["exit_codes"] == {str(i): 0 for i in range(3) if i != result["killed_replica"]}, (
        shown
    )
    assert result["ok"] is True, shown
    assert result["_returncode"] == 0, shown

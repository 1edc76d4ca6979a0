"""#18 part 4: the demo's world has a whole funnel after the reply.

- `smsync demo --keep-db`, then `smsync report --json` on it: every section the funnel
  feeds is non-empty (meetings, opportunities, won, stage velocity, pipeline amount, lift)
  on both CRMs, and the demo's own `meetings`/`opportunities`/`won` (counted from the
  pipeline the connector pulled) agree with the CRM's records in the sandbox.
- Over seeded runs, the report's holdout lift on opportunity creation is positive when the
  world's effect is, and its 95% interval covers 0 when the effect is 0."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from connector.demo.lift_runs import lift_over_seeds

ROOT = Path(__file__).resolve().parents[2]
SMSYNC = ROOT / ".venv" / "bin" / "smsync"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMSYNC_", "SF_", "TWILIO_"))}
    env.update(TMPDIR=str(tmp_path), COLUMNS="120", **extra)
    return env


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SMSYNC), *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=cwd,
        check=False,
    )


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_demo_then_report_every_pipeline_section(crm: str, tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    demo = _run(
        ["demo", "--crm", crm, "--contacts", "300", "--json", "--keep-db", str(db), "--seed", "7"],
        _env(tmp_path),
        tmp_path,
    )
    assert demo.returncode == 0, demo.stderr[-3000:]
    summary: dict[str, Any] = json.loads(demo.stdout.strip().splitlines()[-1])
    assert 0 < summary["won"] <= summary["opportunities"] <= summary["meetings"], summary
    assert summary["duplicate_crm_records"] == 0
    assert summary["missing_crm_records"] == 0

    env = _env(
        tmp_path,
        SMSYNC_CRM=crm,
        SMSYNC_DATABASE_URL=f"sqlite:///{db}",
        SMSYNC_MAPPINGS=str(ROOT / "mappings" / f"{crm}.yaml"),
        SMSYNC_PLAYS=str(ROOT / "mappings" / "plays.yaml"),
    )
    report = _run(["report", "--json"], env, tmp_path)
    assert report.returncode == 0, report.stderr[-3000:]
    found = json.loads(report.stdout)
    total = found["total"]
    for key in ("meetings", "meetings_held", "opportunities", "won", "opps_influenced"):
        assert total[key] > 0, key
    assert total["amount_influenced"] > 0
    assert total["won"] <= total["opportunities"] <= total["contacts"]
    velocity = {(v["from"], v["to"]): v for v in found["stage_velocity"]}
    for step in velocity.values():
        assert step["opportunities"] > 0, step
        assert step["median_days"] is not None, step
    # the world moves a deal on after 4 days and closes it after 7 more
    assert 3 < velocity[("meeting held", "opportunity")]["median_days"] < 5
    assert 6 < velocity[("opportunity", "won")]["median_days"] < 8
    steps = {s["step"]: s["contacts"] for s in found["funnel"]}
    assert steps["opportunity"] > 0
    assert steps["won"] > 0
    lifts = [p["opportunity_lift"] for p in found["plays"] if p["opportunity_lift"]]
    assert any(lift["lift"] is not None and lift["exposed_converted"] > 0 for lift in lifts)


def test_seeded_runs_find_the_world_effect_and_no_other() -> None:
    seeds = [1, 2, 3]
    with_effect = lift_over_seeds("salesforce", seeds, 300, 0.8)["opportunity_lift"]
    none = lift_over_seeds("salesforce", seeds, 300, 0.0)["opportunity_lift"]
    assert with_effect["exposed"] >= 30, with_effect
    assert with_effect["holdout"] >= 30, with_effect
    assert with_effect["lift"] > 0, with_effect
    assert with_effect["lift"] > none["lift"], (with_effect, none)
    assert none["ci_low"] <= 0 <= none["ci_high"], none


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--effect", "0.9"], "--effect must be between -0.15 and 0.85"),
        (["--effect", "-1"], "--effect must be between -0.15 and 0.85"),
        (["--seed", "-1"], "--seed"),
    ],
)
def test_a_bad_effect_or_seed_exits_2_before_anything(
    args: list[str], said: str, tmp_path: Path
) -> None:
    db = tmp_path / "d.db"
    done = _run(["demo", "--keep-db", str(db), *args], _env(tmp_path), tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    assert said in done.stderr
    assert "Traceback" not in done.stderr
    assert not db.exists()

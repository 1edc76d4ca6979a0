"""Plays checked against the mapping, offline: every planted typo in a field name or value
is reported, one FILE:LINE:COL line each, with the closest valid name; exit 2."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.cli_kit import ROOT, smsync

# every line marked `# P` holds exactly one planted problem
BROKEN = """\
version: 1
policy:
  region_segment: regoin                                            # P
  suppression:
    exclusions:
      - {field: lifecycle_stag, op: in, values: [disqualified]}     # P
      - {field: lifecycle_stage, op: in, values: [disqualifed]}     # P
plays:
  - name: webinar_follow_up
    owner_team: sdr
    priority: 50
    outcome: {disposition: intrested}                               # P
    trigger:
      field_changed: {field: webinar_stat, to: attended}            # P
    template:
      text: "Hi $first_nam, thanks for coming!"                     # P
      tokens: {first_name: {required: true}}
    exclusions:
      - {field: lang, op: equals, values: [fr]}                     # P
  - name: speed
    owner_team: sdr
    priority: 90
    outcome: {field: lifecycle_stag, op: in, values: [sql]}         # P
    trigger:
      stage_entered: marketing_qualified                            # P
    template:
      text: "Hi ${first_name} at ${compnay}"                        # P
      tokens: {first_name: {required: true}}
    exclusions:
      - {field: industy, op: equals, values: [Retail]}              # P
  - name: stage_typo
    owner_team: sdr
    priority: 40
    outcome: {field: lifecycle_stage, op: in, values: [opportunty]} # P
    trigger:
      stage_entered: sqll                                           # P
    template:
      text: "Hello $webinar_statu"                                  # P
  - name: change_values
    owner_team: sdr
    priority: 30
    outcome: {disposition: confirmd}                                # P
    trigger:
      field_changed: {field: lifecycle_stage, from: disqualifed, to: leed}  # P P
    template:
      text: "Hi"
    exclusions:
      - {field: journey_stat, op: in, values: [closed]}             # P
  - name: bad_fields
    owner_team: sdr
    priority: 30
    outcome: {disposition: bookd}                                   # P
    trigger:
      field_changed: {field: consent_stat}                          # P
    template:
      text: "Hi"
  - name: dated
    owner_team: sdr
    priority: 30
    outcome: {field: journey_state, op: equals, values: [engagd]}   # P
    trigger:
      date_approaching: {field: renewal_dat, before: 1d}            # P
    template:
      text: "Hi"
  - name: dated_two
    owner_team: sdr
    priority: 30
    outcome: {disposition: confirmed}
    trigger:
      field_changed: {field: journey_state, to: meeting_bookd}      # P
    template:
      text: "Hi"
  - name: stage_on_a_field
    owner_team: sdr
    priority: 30
    outcome: {disposition: confirmed}
    trigger:
      stage_entered: {field: journey_stat, stage: meeting_booked}   # P
    template:
      text: "Hi"
  - name: stage_value_on_a_field
    owner_team: sdr
    priority: 30
    outcome: {disposition: confirmed}
    trigger:
      stage_entered: {field: journey_state, stage: meeting_bokd}    # P
    template:
      text: "Hi"
"""


@pytest.fixture(scope="module")
def mapping_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped Salesforce mapping plus a custom `webinar_status` segment."""
    text = (ROOT / "mappings" / "salesforce.yaml").read_text()
    text = text.replace(
        "    first_name: FirstName\n",
        "    first_name: FirstName\n    webinar_status: Webinar_Status__c\n",
        1,
    )
    path = tmp_path_factory.mktemp("mapping") / "salesforce.yaml"
    path.write_text(text)
    return path


def _planted() -> list[int]:
    lines: list[int] = []
    for number, line in enumerate(BROKEN.splitlines(), start=1):
        marks = line.split("#")[-1].split() if "# P" in line else []
        lines.extend([number] * marks.count("P"))
    return lines


def test_every_planted_problem_is_reported_once_located_exit_2(
    tmp_path: Path, mapping_file: Path
) -> None:
    plays = tmp_path / "plays.yaml"
    plays.write_text(BROKEN)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = smsync("mappings", "validate", "--mapping", str(mapping_file), str(plays))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    rows = result.stdout.strip().splitlines()
    located = [re.match(rf"{re.escape(str(plays))}:(\d+):(\d+): ", row) for row in rows]
    assert all(located), rows
    got = sorted(int(m.group(1)) for m in located if m)
    assert got == sorted(_planted()), "\n".join(rows)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


@pytest.mark.parametrize(
    ("typo", "hint"),
    [
        ("webinar_stat", "`webinar_status`"),
        ("regoin", "`region`"),
        ("lifecycle_stag", "`lifecycle_stage`"),
        ("industy", "`industry`"),
        ("marketing_qualified", "value_maps.lifecycle_stage"),
        ("sqll", "`sql`"),
        ("disqualifed", "`disqualified`"),
        ("intrested", "`interested`"),
        ("confirmd", "`confirmed`"),
        ("$first_nam", "`$first_name`"),
        ("$compnay", "`$company`"),
        ("meeting_bookd", "`meeting_booked`"),
        ("renewal_dat", "`renewal_date`"),
        ("journey_stat", "`journey_state`"),
        ("meeting_bokd", "`meeting_booked`"),
    ],
)
def test_each_problem_names_the_bad_value_and_suggests_the_closest(
    tmp_path: Path, mapping_file: Path, typo: str, hint: str
) -> None:
    plays = tmp_path / "plays.yaml"
    plays.write_text(BROKEN)
    result = smsync("mappings", "validate", "--mapping", str(mapping_file), str(plays))
    row = next(r for r in result.stdout.splitlines() if f"`{typo}`" in r or f"{typo} is" in r)
    assert hint in row, row
    if typo == "webinar_stat":
        assert "did you mean `webinar_status`?" in row


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_shipped_plays_fit_both_shipped_mappings(crm: str) -> None:
    result = smsync(
        "mappings", "validate", "--mapping", f"mappings/{crm}.yaml", "mappings/plays.yaml"
    )
    assert result.returncode == 0, result.stdout

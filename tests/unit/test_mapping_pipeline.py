"""The mapping's pipeline section: valid in both examples, and a wrong object or a stage in
two lists is a located error (FILE:LINE:COL) saying how to fix it."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.config import load_mapping
from connector.errors import MappingError

ROOT = Path(__file__).resolve().parents[2]


def test_examples_name_their_pipeline() -> None:
    sf = load_mapping(ROOT / "mappings" / "salesforce.yaml").pipeline
    hs = load_mapping(ROOT / "mappings" / "hubspot.yaml").pipeline
    assert sf is not None
    assert hs is not None
    assert (sf.object, sf.contact_link, sf.stage_history) == (
        "Opportunity",
        "OpportunityContactRole",
        "OpportunityHistory",
    )
    assert (hs.object, hs.stages.won, hs.opportunity_window_days) == ("deals", ("closedwon",), 30)


def test_bad_pipeline_is_located(tmp_path: Path) -> None:
    text = (ROOT / "mappings" / "salesforce.yaml").read_text(encoding="utf-8")
    head = text.split("\npipeline:")[0]
    bad = tmp_path / "salesforce.yaml"
    bad.write_text(
        head + "\npipeline:\n  object: deals\n  contact_link: OpportunityContactRole\n"
        "  stage_history: OpportunityHistory\n  stages:\n    won: [Closed Won]\n"
        "    lost: [Closed Won]\n  opportunity_window_days: 0\n",
        encoding="utf-8",
    )
    line = head.count("\n") + 2  # the line of `pipeline:`
    with pytest.raises(MappingError) as caught:
        load_mapping(bad)
    problems = [str(p) for p in caught.value.problems]
    assert any(
        p.startswith(f"{bad}:{line + 1}:11: pipeline.object:") and "use Opportunity" in p
        for p in problems
    ), problems
    assert any(
        f"{bad}:{line + 4}:3: pipeline.stages:" in p and "in both won and lost" in p
        for p in problems
    ), problems
    assert any(f"{bad}:{line + 7}:28:" in p and "opportunity_window_days" in p for p in problems), (
        problems
    )

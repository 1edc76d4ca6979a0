"""The mapping's rep_send section: both examples name it, and a wrong object, a kind
without its field or a done value equal to the send value is a located error
(FILE:LINE:COL) saying how to fix it; the JSON schema offers each CRM's object."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connector.config import load_mapping, mapping_json_schema
from connector.errors import MappingError

ROOT = Path(__file__).resolve().parents[2]


def test_examples_name_their_rep_send_record() -> None:
    sf = load_mapping(ROOT / "mappings" / "salesforce.yaml").rep_send
    hs = load_mapping(ROOT / "mappings" / "hubspot.yaml").rep_send
    assert sf is not None
    assert hs is not None
    assert (sf.object, sf.status_field, sf.send_status, sf.kind_field, sf.kind) == (
        "Task",
        "Status",
        "Send SMS",
        "Type",
        "SMS",
    )
    assert (sf.body_field, sf.result_field, sf.close_follow_up) == (
        "Description",
        "SMS_Send_Result__c",
        True,
    )
    assert (hs.object, hs.status_field, hs.send_status, hs.done_status) == (
        "tasks",
        "hs_task_status",
        "WAITING",
        "COMPLETED",
    )


def _with(tmp_path: Path, section: str) -> tuple[Path, int]:
    text = (ROOT / "mappings" / "salesforce.yaml").read_text(encoding="utf-8")
    head = text.split("\nrep_send:")[0]
    bad = tmp_path / "salesforce.yaml"
    bad.write_text(head + "\nrep_send:\n" + section, encoding="utf-8")
    return bad, head.count("\n") + 2  # the line of `rep_send:`


def test_bad_rep_send_is_located(tmp_path: Path) -> None:
    bad, line = _with(
        tmp_path,
        "  object: tasks\n  status_field: Status\n  send_status: Send SMS\n"
        "  done_status: Completed\n  body_field: Description\n"
        "  result_field: SMS_Send_Result__c\n",
    )
    with pytest.raises(MappingError) as caught:
        load_mapping(bad)
    problems = [str(p) for p in caught.value.problems]
    assert any(
        p.startswith(f"{bad}:{line + 1}:11: rep_send.object:") and "Task" in p for p in problems
    ), problems


def test_a_kind_needs_its_field(tmp_path: Path) -> None:
    bad, line = _with(
        tmp_path,
        "  object: Task\n  status_field: Status\n  send_status: Send SMS\n"
        "  done_status: Completed\n  kind: SMS\n  body_field: Description\n"
        "  result_field: SMS_Send_Result__c\n",
    )
    with pytest.raises(MappingError) as caught:
        load_mapping(bad)
    problems = [str(p) for p in caught.value.problems]
    assert any(
        p.startswith(f"{bad}:{line}:1: rep_send:") and "kind_field and kind go together" in p
        for p in problems
    ), problems


def test_send_and_done_must_differ(tmp_path: Path) -> None:
    bad, _ = _with(
        tmp_path,
        "  object: Task\n  status_field: Status\n  send_status: Send SMS\n"
        "  done_status: Send SMS\n  body_field: Description\n"
        "  result_field: SMS_Send_Result__c\n",
    )
    with pytest.raises(MappingError) as caught:
        load_mapping(bad)
    problems = [str(p) for p in caught.value.problems]
    assert any(str(bad) in p and "must differ" in p for p in problems), problems


def test_the_json_schema_offers_each_crm_object() -> None:
    schema = json.dumps(mapping_json_schema())
    assert '"rep_send": {"properties": {"object": {"enum": ["Task"]}}}' in schema
    assert '"rep_send": {"properties": {"object": {"enum": ["tasks"]}}}' in schema

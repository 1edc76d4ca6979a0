"""Cross-field rules of the mapping file, and the API the adapters read it through."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from connector.config import MappingConfig, load_mapping, validate_mapping_paths
from connector.errors import Problem

ROOT = Path(__file__).resolve().parents[2]
SALESFORCE = ROOT / "mappings" / "salesforce.yaml"
HUBSPOT = ROOT / "mappings" / "hubspot.yaml"


def edited(tmp_path: Path, source: Path, *changes: tuple[str, str]) -> Path:
    """A copy of `source` with each (old, new) text replaced once; old must be present."""
    text = source.read_text(encoding="utf-8")
    for old, new in changes:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / source.name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path) -> list[Problem]:
    return validate_mapping_paths([str(path)])


def line_of(path: Path, needle: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if needle in line)


def test_objects_must_belong_to_the_files_crm(tmp_path: Path) -> None:
    path = edited(tmp_path, HUBSPOT, ("  - name: contacts", "  - name: Lead"))
    (problem,) = problems_of(path)
    assert (problem.line, problem.col) == (line_of(path, "- name: Lead"), 11)
    assert problem.message == (
        "objects[0].name: 'Lead' is not one of contacts (contact object for crm: hubspot)"
    )


def test_idempotency_is_hubspot_only(tmp_path: Path) -> None:
    path = edited(
        tmp_path, SALESFORCE, ("crm: salesforce\n", "crm: salesforce\nidempotency: local_map\n")
    )
    (problem,) = problems_of(path)
    assert problem.line == line_of(path, "idempotency: local_map")
    assert "idempotency applies to crm: hubspot only" in problem.message


def test_hubspot_rejects_salesforce_task_values(tmp_path: Path) -> None:
    path = edited(
        tmp_path,
        HUBSPOT,
        ("priority: HIGH", "priority: High"),
        ("open: NOT_STARTED", "open: Not Started"),
        ("  object: communications", "  object: Task"),
    )
    messages = [p.message for p in problems_of(path)]
    assert messages == [
        "activity.object: 'Task' is not one of communications (activity object for crm: hubspot)",
        (
            "tasks.priority: 'High' is not one of LOW, MEDIUM, HIGH; did you mean 'HIGH'?"
            " (task for crm: hubspot)"
        ),
        (
            "tasks.status.open: 'Not Started' is not one of NOT_STARTED, IN_PROGRESS, WAITING,"
            " COMPLETED, DEFERRED (task for crm: hubspot)"
        ),
    ]


def test_unknown_crm_is_an_enum_problem(tmp_path: Path) -> None:
    path = edited(tmp_path, SALESFORCE, ("crm: salesforce", "crm: pipedrive"))
    (problem,) = problems_of(path)
    assert (problem.line, problem.col) == (line_of(path, "crm: pipedrive"), 6)
    assert problem.message == "crm: 'pipedrive' is not one of salesforce, hubspot"


def test_consent_values_must_be_canonical(tmp_path: Path) -> None:
    path = edited(tmp_path, SALESFORCE, ("    Unknown: unknown", "    Unknown: maybe"))
    (problem,) = problems_of(path)
    assert (problem.line, problem.col) == (line_of(path, "Unknown: maybe"), 14)
    assert problem.message == (
        "value_maps.consent_status.Unknown: 'maybe' is not one of opted_in, opted_out, unknown"
    )


def test_disposition_values_must_be_in_the_vocabulary_and_cover_it(tmp_path: Path) -> None:
    path = edited(tmp_path, SALESFORCE, ("    Help: help\n", "    Help: helpp\n"))
    problems = problems_of(path)
    assert [p.message for p in problems] == [
        (
            "value_maps.disposition.Help: 'helpp' is not one of interested, confirmed,"
            " reschedule_requested, pricing_question, not_now, wrong_number, opted_out, help,"
            " unclassified; did you mean 'help'?"
        ),
    ]
    path = edited(tmp_path, SALESFORCE, ("    Help: help\n", ""))
    (problem,) = problems_of(path)
    assert problem.line == line_of(path, "  disposition:  ")
    assert problem.message.startswith("value_maps.disposition: no CRM value maps to help;")


def test_rule_names_come_from_the_configured_vocabulary(tmp_path: Path) -> None:
    path = edited(tmp_path, SALESFORCE, ("    - name: not_now", "    - name: maybe_later"))
    (problem,) = problems_of(path)
    assert (problem.line, problem.col) == (line_of(path, "name: maybe_later"), 13)
    assert problem.message.startswith("dispositions.rules[4].name: 'maybe_later' is not one of")


def test_vocabulary_must_keep_the_built_in_dispositions(tmp_path: Path) -> None:
    path = edited(tmp_path, SALESFORCE, ("    - help\n    - unclassified\n", ""))
    messages = [p.message for p in problems_of(path)]
    assert (
        "dispositions.vocabulary: the vocabulary must include help, unclassified (the built-in"
        " compliance classifier and the fallback use them)"
    ) in messages
    # the value map now names dispositions that are no longer in the vocabulary
    assert sum(m.startswith("value_maps.disposition.") for m in messages) == 2


def test_rule_sla_must_name_a_policy(tmp_path: Path) -> None:
    path = edited(tmp_path, SALESFORCE, ("      sla: interested", "      sla: intrested"))
    (problem,) = problems_of(path)
    assert (problem.line, problem.col) == (line_of(path, "sla: intrested"), 12)
    assert problem.message.endswith("did you mean 'interested'?")


def test_rule_needs_something_to_match(tmp_path: Path) -> None:
    keywords = (
        "      keywords: [not now, later, next quarter, busy, ahora no, mas tarde, ocupado,"
        " ocupada]\n"
    )
    path = edited(tmp_path, SALESFORCE, (keywords, ""))
    (problem,) = problems_of(path)
    last_rule = max(
        i for i, line in enumerate(path.read_text().splitlines(), 1) if "- name: not_now" in line
    )
    assert problem.line == last_rule
    assert problem.message == "dispositions.rules[6]: a rule needs keywords or regexes (or both)"


def test_business_hours_are_checked(tmp_path: Path) -> None:
    path = edited(
        tmp_path,
        SALESFORCE,
        ('end: "17:30"', "end: 17:30"),
        ("time_zone: America/New_York", "time_zone: America/NewYork"),
    )
    messages = [p.message for p in problems_of(path)]
    assert messages == [
        (
            'sla.business_hours.end: expected a time in quotes like "17:30", got the number 1050'
            " (unquoted, YAML reads 17:30 as minutes); add the quotes"
        ),
        (
            "sla.business_hours.time_zone: 'America/NewYork' is not an IANA time zone; did you"
            " mean 'America/New_York'?"
        ),
    ]


def test_business_hours_must_end_after_they_start(tmp_path: Path) -> None:
    path = edited(tmp_path, SALESFORCE, ('end: "17:30"', 'end: "08:00"'))
    (problem,) = problems_of(path)
    assert problem.message.startswith("sla.business_hours: end must be after start")


def test_field_names_must_be_api_names(tmp_path: Path) -> None:
    path = edited(tmp_path, SALESFORCE, ("  owner: OwnerId", "  owner: Owner Id"))
    (problem,) = problems_of(path)
    assert (problem.line, problem.col) == (line_of(path, "owner: Owner Id"), 10)
    assert problem.message.startswith("fields.owner: 'Owner Id' is not a CRM API name")


def test_bad_segment_name_points_at_the_key(tmp_path: Path) -> None:
    path = edited(tmp_path, HUBSPOT, ("    region: state", "    Sales Region: state"))
    (problem,) = problems_of(path)
    assert (problem.line, problem.col) == (line_of(path, "Sales Region: state"), 5)
    assert problem.message.startswith("fields.segments['Sales Region']: key: 'Sales Region'")


def test_template_with_a_stray_dollar(tmp_path: Path) -> None:
    path = edited(tmp_path, HUBSPOT, ("    ${conversation}\n", "    ${conversation} costs $5\n"))
    (problem,) = problems_of(path)
    assert problem.message.startswith("tasks.body: a '$' is not followed by a name")


def test_objects_listed_once(tmp_path: Path) -> None:
    path = edited(tmp_path, SALESFORCE, ("  - name: Contact", "  - name: Lead"))
    (problem,) = problems_of(path)
    assert problem.message == "objects: Lead listed more than once; list each object once"


def test_per_object_overrides_merge_with_the_defaults() -> None:
    mapping = load_mapping(SALESFORCE)
    lead, contact = mapping.field_map("Lead"), mapping.field_map("Contact")
    assert (lead.lifecycle_stage, contact.lifecycle_stage) == ("Status", "Lifecycle_Stage__c")
    shared = {
        "first_name": "FirstName",
        "last_name": "LastName",
        "meeting_time": "Next_Meeting__c",
        "renewal_date": "Renewal_Date__c",
        "last_activity": "LastActivityDate",
        "form_submitted_at": "Last_Form_Submitted__c",
        "form_name": "Last_Form_Name__c",
        "language": "Preferred_Language__c",
    }
    assert dict(lead.segments) == {
        **shared,
        "industry": "Industry",
        "region": "State",
        "postal_code": "PostalCode",
        "company": "Company",
    }
    assert dict(contact.segments) == {
        **shared,
        "industry": "Department",
        "region": "MailingState",
        "postal_code": "MailingPostalCode",
    }
    assert lead.consent_status == contact.consent_status == "SMS_Consent_Status__c"
    assert "MailingState" in contact.crm_fields()
    assert mapping.contact_object("Contact").phone_fields == ("MobilePhone", "Phone")
    with pytest.raises(KeyError):
        mapping.field_map("Account")


def test_value_maps_translate_both_ways() -> None:
    mapping = load_mapping(SALESFORCE)
    assert mapping.to_canonical("consent_status", "Opted_Out") == "opted_out"
    assert mapping.to_crm("disposition", "reschedule_requested") == "Reschedule_Requested"
    assert mapping.to_canonical("lifecycle_stage", "Working - Contacted") == "working"
    assert mapping.to_crm("journey_state", "nowhere") is None


def test_rules_keep_their_order_and_settings() -> None:
    mapping = load_mapping(SALESFORCE)
    names = [r.name for r in mapping.dispositions.rules]
    assert names[:3] == ["wrong_number", "reschedule_requested", "confirmed"]
    rule = mapping.rule("interested")
    assert rule is not None
    assert rule.creates_task
    policy = mapping.sla_policy("interested")
    assert policy is not None
    assert (policy.kind, policy.within_business_hours) == ("first_response", 2)


def test_idempotency_mode_defaults_for_hubspot(tmp_path: Path) -> None:
    assert load_mapping(SALESFORCE).idempotency_mode is None
    path = edited(tmp_path, HUBSPOT, ("idempotency: unique_property\n", ""))
    assert load_mapping(path).idempotency_mode == "unique_property"
    path = edited(tmp_path, HUBSPOT, ("idempotency: unique_property", "idempotency: local_map"))
    assert load_mapping(path).idempotency_mode == "local_map"


def test_the_config_is_read_only() -> None:
    mapping = load_mapping(HUBSPOT)
    with pytest.raises(ValidationError):
        mapping.crm = "salesforce"  # type: ignore[misc]
    assert isinstance(mapping, MappingConfig)


def test_rule_sla_needs_a_policies_section(tmp_path: Path) -> None:
    path = edited(
        tmp_path,
        SALESFORCE,
        ("  policies:\n    interested:", "  other_policies:\n    interested:"),
    )
    messages = [p.message for p in problems_of(path)]
    assert messages[0].startswith("sla.other_policies: unknown key; did you mean 'policies'?")
    assert "dispositions.rules[1].sla: no SLA policy 'reschedule_requested':" in messages[1]
    assert len(messages) == 4  # the unknown key and the three rules that name a policy


def test_journey_moves_name_a_mapped_journey_state(tmp_path: Path) -> None:
    path = edited(tmp_path, SALESFORCE, ("  on_reply: engaged", "  on_reply: engagd"))
    (problem,) = problems_of(path)
    assert (problem.line, problem.col) == (line_of(path, "on_reply: engagd"), 13)
    assert problem.message.startswith("journey.on_reply: 'engagd' is not one of new, engaged")
    assert "did you mean 'engaged'?" in problem.message


def test_task_window_and_zone_are_checked(tmp_path: Path) -> None:
    path = edited(
        tmp_path,
        HUBSPOT,
        ("  reply_window: 7d", "  reply_window: 7"),
        ("  owner_time_zone: America/Chicago", "  owner_time_zone: America/Chicgo"),
    )
    messages = [p.message for p in problems_of(path)]
    assert messages[0].startswith("tasks.reply_window: expected a duration with a unit")
    assert messages[1].startswith("tasks.owner_time_zone: 'America/Chicgo' is not an IANA")

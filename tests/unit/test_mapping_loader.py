"""Loading and validating mapping files: every problem, each at its exact line and column."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from connector.config import load_mapping, mapping_json_schema, validate_mapping_paths
from connector.errors import MappingError, Problem

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = [ROOT / "mappings" / "salesforce.yaml", ROOT / "mappings" / "hubspot.yaml"]
DATA = ROOT / "tests" / "data" / "mappings"


def located(problems: list[Problem]) -> list[tuple[int, int]]:
    return [(p.line, p.col) for p in problems]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_files_have_no_problems(path: Path) -> None:
    assert validate_mapping_paths([str(path)]) == []
    assert load_mapping(path).crm == path.stem


def test_minimal_fixture_is_valid() -> None:
    assert validate_mapping_paths([str(DATA / "minimal_salesforce.yaml")]) == []


def test_unknown_key_wrong_type_and_bad_enum_are_three_located_problems() -> None:
    path = DATA / "three_problems.yaml"
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    problems = caught.value.problems
    assert located(problems) == [(7, 5), (11, 19), (24, 13)]
    assert [p.message for p in problems] == [
        (
            "objects[0].phone_feilds: unknown key; did you mean 'phone_fields'?"
            " (allowed: name, phone_fields, fields)"
        ),
        "fields.consent_status: expected a string, got a list",
        "tasks.priority: 'Urgent' is not one of High, Normal, Low (task for crm: salesforce)",
    ]
    assert str(problems[0]).startswith(f"{path}:7:5: objects[0].phone_feilds: unknown key")


def test_duplicate_key() -> None:
    problems = validate_mapping_paths([str(DATA / "duplicate_key.yaml")])
    assert located(problems) == [(12, 3)]
    assert problems[0].message.startswith("fields.owner: duplicate key (first written at line 11)")


def test_bad_regex_is_located_at_the_regex_string() -> None:
    problems = validate_mapping_paths([str(DATA / "bad_regex.yaml")])
    assert located(problems) == [(33, 11)]
    assert problems[0].message.startswith(
        "dispositions.rules[0].regexes[1]: regex does not compile: missing ),"
    )


def test_unknown_template_placeholder() -> None:
    problems = validate_mapping_paths([str(DATA / "unknown_placeholder.yaml")])
    assert located(problems) == [(21, 12)]
    assert problems[0].message.startswith(
        "tasks.subject: unknown placeholder $contact_nme (did you mean $contact_name?)"
    )


def test_yaml_syntax_error_is_located() -> None:
    problems = validate_mapping_paths([str(DATA / "syntax_error.yaml")])
    assert located(problems) == [(7, 7)]
    assert problems[0].message.startswith("YAML syntax error:")


def test_missing_required_keys_are_reported_at_the_parent() -> None:
    problems = validate_mapping_paths([str(DATA / "missing_keys.yaml")])
    assert [(p.line, p.col, p.message.split(";")[0]) for p in problems] == [
        (
            5,
            5,
            "objects[0]: missing required key 'phone_fields' (Phone fields in order of preference",
        ),
        (17, 1, "tasks: missing required key 'priority' (High, Normal or Low (Salesforce)"),
        (17, 1, "tasks: missing required key 'status' (Task status values for open and done)"),
    ]


def test_every_problem_of_every_file_is_reported_together() -> None:
    paths = [str(DATA / "three_problems.yaml"), str(DATA / "bad_regex.yaml")]
    problems = validate_mapping_paths(paths)
    assert [(Path(p.file).name, p.line, p.col) for p in problems] == [
        ("three_problems.yaml", 7, 5),
        ("three_problems.yaml", 11, 19),
        ("three_problems.yaml", 24, 13),
        ("bad_regex.yaml", 33, 11),
    ]


def test_missing_file_is_a_problem_too(tmp_path: Path) -> None:
    problems = validate_mapping_paths([str(tmp_path / "nope.yaml"), str(EXAMPLES[0])])
    assert problems == [
        Problem(str(tmp_path / "nope.yaml"), 1, 1, "file not found; check the path")
    ]


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing yet\n", encoding="utf-8")
    (problem,) = validate_mapping_paths([str(path)])
    assert (problem.line, problem.col) == (1, 1)
    assert (
        problem.message == "(top level): expected a mapping (key: value lines), got nothing (null)"
    )


def test_json_schema_is_valid_and_accepts_the_examples() -> None:
    schema = mapping_json_schema()
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    for path in EXAMPLES:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert list(validator.iter_errors(data)) == []


def test_json_schema_knows_each_crms_enumerations() -> None:
    validator = Draft202012Validator(mapping_json_schema())
    hubspot = yaml.safe_load(EXAMPLES[1].read_text(encoding="utf-8"))
    hubspot["tasks"]["priority"] = "High"  # Salesforce's spelling
    assert not validator.is_valid(hubspot)
    salesforce = yaml.safe_load(EXAMPLES[0].read_text(encoding="utf-8"))
    salesforce["idempotency"] = "local_map"
    assert not validator.is_valid(salesforce)
    salesforce = yaml.safe_load(EXAMPLES[0].read_text(encoding="utf-8"))
    salesforce["tasks"]["extra"] = 1
    assert not validator.is_valid(salesforce)


def test_json_schema_carries_descriptions() -> None:
    schema = mapping_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    task = schema["$defs"]["TaskSettings"]["properties"]
    assert "$contact_name, $phone_masked" in task["subject"]["description"]
    assert schema["$defs"]["ContactObject"]["additionalProperties"] is False

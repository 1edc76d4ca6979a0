"""The model-generic validator: any strict pydantic model, every problem located."""

from __future__ import annotations

import copy
import string
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import Field

from connector.config import MappingConfig
from connector.config.mapping_fields import ContactObject, FieldOverrides
from connector.config.validation import load_model, model_at, validate_document
from connector.config.values import Strict
from connector.config.yaml_source import YamlPath, format_path, parse_yaml
from connector.errors import ConfigFileError, MappingError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = {
    name: yaml.safe_load((ROOT / "mappings" / f"{name}.yaml").read_text(encoding="utf-8"))
    for name in ("salesforce", "hubspot")
}


class Step(Strict):
    wait_hours: int = Field(ge=0)
    channel: Literal["sms", "task"]


class Play(Strict):
    """A stand-in for the plays file, to show the validator is not tied to mappings."""

    name: str
    steps: tuple[Step, ...]


def test_another_model_loads_and_reports_located_problems(tmp_path: Path) -> None:
    path = tmp_path / "plays.yaml"
    path.write_text(
        "name: welcome\nsteps:\n  - {wait_hours: 1, channel: sms}\n"
        "  - wait_hours: lots\n    chanel: task\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigFileError) as caught:
        load_model(Play, path)
    assert not isinstance(caught.value, MappingError)  # a generic file, not a mapping
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:4:5: steps[1]: missing required key 'channel'; add it",
        f"{path}:4:17: steps[1].wait_hours: expected a whole number, got a string ('lots')",
        (
            f"{path}:5:5: steps[1].chanel: unknown key; did you mean 'channel'? (allowed:"
            " wait_hours, channel)"
        ),
    ]
    path.write_text("name: welcome\nsteps: [{wait_hours: 2, channel: task}]\n", encoding="utf-8")
    assert load_model(Play, path).steps[0].wait_hours == 2


def test_model_at_walks_fields_lists_and_maps() -> None:
    assert model_at(MappingConfig, ("objects", 3)) is ContactObject
    assert model_at(MappingConfig, ("objects", 0, "fields")) is FieldOverrides
    assert model_at(MappingConfig, ("objects", 0, "fields", "segments")) is None
    assert model_at(MappingConfig, ("nope",)) is None


def test_duplicate_keys_and_schema_problems_come_together() -> None:
    text = "name: a\nname: b\nsteps: 3\n"
    instance, problems = validate_document(Play, parse_yaml(text, "p.yaml"))
    assert instance is None
    assert [(p.line, p.col) for p in problems] == [(2, 1), (3, 8)]
    assert problems[1].message == "steps: expected a list, got a number (3)"


# --- property: an unknown key anywhere is reported at that key ---------------------------

FREE_FORM = {"segments", "policies"}  # maps whose keys the admin names


def model_paths(data: Any, path: YamlPath = ()) -> list[YamlPath]:
    """Paths of every mapping in `data` whose keys are fixed by the schema."""
    found: list[YamlPath] = []
    if isinstance(data, dict):
        free = bool(path) and (path[-1] in FREE_FORM or path[:-1] == ("value_maps",))
        if not free:
            found.append(path)
        for key, value in data.items():
            found.extend(model_paths(value, (*path, key)))
    elif isinstance(data, list):
        for i, item in enumerate(data):
            found.extend(model_paths(item, (*path, i)))
    return found


CANDIDATES = [(name, p) for name, data in EXAMPLES.items() for p in model_paths(data)]


def test_round_tripped_examples_are_valid() -> None:
    for data in EXAMPLES.values():
        text = yaml.safe_dump(data, sort_keys=False)
        assert validate_document(MappingConfig, parse_yaml(text, "x.yaml"))[1] == []


@settings(max_examples=60, deadline=None)
@given(
    target=st.sampled_from(CANDIDATES),
    suffix=st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=10),
)
def test_an_unknown_key_anywhere_is_reported_at_that_key(
    target: tuple[str, YamlPath], suffix: str
) -> None:
    name, path = target
    data = copy.deepcopy(EXAMPLES[name])
    node: Any = data
    for part in path:
        node = node[part]
    key = f"zz_{suffix}"
    node[key] = "x"
    text = yaml.safe_dump(data, sort_keys=False)
    line_no, line = next((i, ln) for i, ln in enumerate(text.splitlines(), 1) if f"{key}:" in ln)

    instance, problems = validate_document(MappingConfig, parse_yaml(text, "x.yaml"))

    assert instance is None
    assert len(problems) == 1
    (problem,) = problems
    assert (problem.line, problem.col) == (line_no, line.index(key) + 1)
    assert problem.message.startswith(f"{format_path((*path, key))}: unknown key")

"""Entry points for the mapping file: load one, validate several, publish the JSON Schema.

`smsync mappings validate PATH...` prints `validate_mapping_paths(...)` one problem per line and
exits 2 when there are any; `smsync mappings schema` prints `mapping_json_schema()`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connector.config.mapping_schema import MappingConfig
from connector.config.validation import check_model, load_model
from connector.errors import MappingError, Problem

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def load_mapping(path: str | Path) -> MappingConfig:
    """The validated mapping, or `MappingError` listing every problem in the file."""
    return load_model(MappingConfig, path, error=MappingError)


def validate_mapping_paths(paths: list[str]) -> list[Problem]:
    """Every problem across all the files; an empty list means they are all fine."""
    problems: list[Problem] = []
    for path in paths:
        problems.extend(check_model(MappingConfig, path)[1])
    return problems


def mapping_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the mapping file, for editors' completion and checks."""
    schema = MappingConfig.model_json_schema()
    return {"$schema": JSON_SCHEMA_DIALECT, "title": "smsync mapping file", **schema}

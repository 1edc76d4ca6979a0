"""Validate a YAML document against any strict pydantic model and report every problem as
FILE:LINE:COL: what is wrong, where (the dotted path) and how to fix it.

Generic over the model so the plays file can reuse it: `load_model(PlaysConfig, path)`.
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from connector.config.values import Strict
from connector.config.yaml_source import YamlDocument, YamlPath, format_path, read_yaml
from connector.errors import ConfigFileError, Problem

M = TypeVar("M", bound=BaseModel)

_EXPECTED = {
    "string_type": "a string",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "a mapping (key: value lines)",
    "model_type": "a mapping (key: value lines)",
    "model_attributes_type": "a mapping (key: value lines)",
    "list_type": "a list",
    "tuple_type": "a list",
    "set_type": "a list",
}


def describe(value: Any) -> str:
    """A YAML-minded name for what the admin wrote."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({value!r})"
    shapes: dict[type, str] = {dict: "a mapping", list: "a list"}
    return shapes.get(type(value), type(value).__name__)


def _unwrap(annotation: Any, part: str | int) -> Any:
    """The type found one step (`part`) inside `annotation`, or None if it cannot tell."""
    origin = get_origin(annotation)
    while origin is Annotated:
        annotation = get_args(annotation)[0]
        origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        for arg in get_args(annotation):
            found = _unwrap(arg, part)
            if found is not None:
                return found
        return None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(str(part))
        return field.annotation if field else None
    args = get_args(annotation)
    if origin in (tuple, list, set, frozenset) and isinstance(part, int) and args:
        return args[0]
    if isinstance(origin, type) and issubclass(origin, Mapping) and len(args) == 2:
        return args[1]
    return None


def model_at(model: type[BaseModel], path: YamlPath) -> type[BaseModel] | None:
    """The model that validates the mapping found at `path`, if that place holds one."""
    current: Any = model
    for part in path:
        current = _unwrap(current, part)
        if current is None:
            return None
    while get_origin(current) is Annotated:
        current = get_args(current)[0]
    if get_origin(current) in (Union, types.UnionType):
        models = [a for a in get_args(current) if isinstance(a, type) and issubclass(a, BaseModel)]
        current = models[0] if models else None
    if isinstance(current, type) and issubclass(current, BaseModel):
        return current
    return None


def _choices(expected: str) -> str:
    quoted = re.findall(r"'((?:[^'\\]|\\.)*)'", expected)
    return ", ".join(quoted) if quoted else expected


def problem_for(model: type[BaseModel], doc: YamlDocument, error: ErrorDetails) -> Problem:
    """One pydantic error as a located, admin-readable problem."""
    loc = tuple(error["loc"])
    at_key = bool(loc) and loc[-1] == "[key]"
    path: YamlPath = tuple(p for p in loc if p != "[key]")
    kind = error["type"]
    value = error.get("input")
    where = format_path(path)
    if kind == "extra_forbidden":
        parent = model_at(model, path[:-1])
        allowed = list(parent.model_fields) if parent else []
        key = str(path[-1])
        hint = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        text = f"{where}: unknown key"
        if hint:
            text += f"; did you mean {hint[0]!r}?"
        if allowed:
            text += f" (allowed: {', '.join(allowed)})"
        else:
            text += "; remove it"
        pos = doc.nearest(path, prefer_key=True)
    elif kind == "missing":
        parent_path, name = path[:-1], str(path[-1])
        parent = model_at(model, parent_path)
        info = parent.model_fields.get(name) if parent else None
        about = f" ({info.description.rstrip('.')})" if info and info.description else ""
        text = f"{format_path(parent_path)}: missing required key {name!r}{about}; add it"
        pos = doc.nearest(parent_path, prefer_key=True)
    elif kind in ("literal_error", "enum"):
        expected = _choices(str((error.get("ctx") or {}).get("expected", "")))
        if "," in expected:
            text = f"{where}: {value!r} is not one of {expected}"
        else:
            text = f"{where}: expected {expected}, got {describe(value)}"
        pos = doc.nearest(path)
    elif kind in _EXPECTED:
        text = f"{where}: expected {_EXPECTED[kind]}, got {describe(value)}"
        pos = doc.nearest(path)
    elif kind == "too_short":
        ctx = error.get("ctx") or {}
        text = f"{where}: needs at least {ctx.get('min_length', 1)} item(s)"
        pos = doc.nearest(path)
    else:
        text = f"{where}: {error['msg']}"
        # a complaint about a whole section reads best at the section's name
        pos = doc.nearest(path, prefer_key=isinstance(value, dict | list))
    if at_key:
        pos = doc.nearest(path, prefer_key=True)
        text = text.replace(f"{where}: ", f"{where}: key: ", 1)
    return Problem(doc.file, pos.line, pos.col, text)


def _without_echoes(errors: list[ErrorDetails]) -> list[ErrorDetails]:
    """Drop "too short" on a list whose items failed: the item errors already say why."""
    failed_inside = {tuple(e["loc"][:i]) for e in errors for i in range(len(e["loc"]))}
    return [
        e for e in errors if not (e["type"] == "too_short" and tuple(e["loc"]) in failed_inside)
    ]


def validate_document(model: type[M], doc: YamlDocument) -> tuple[M | None, list[Problem]]:
    """The validated model (None if anything is wrong) and every problem, sorted by place.

    Problems found while reading the YAML (such as duplicate keys) come first in the list's
    order of lines together with the schema's."""
    problems = list(doc.problems)
    if doc.data is None and problems:
        return None, problems
    instance: M | None = None
    try:
        context = model.validation_context(doc.data) if issubclass(model, Strict) else None
        instance = model.model_validate(doc.data, context=context)
    except ValidationError as exc:
        errors = _without_echoes(exc.errors(include_url=False))
        problems.extend(problem_for(model, doc, e) for e in errors)
    unique = sorted(set(problems), key=lambda p: (p.line, p.col, p.message))
    return (instance if not unique else None), unique


def check_model(model: type[M], path: str | Path) -> tuple[M | None, list[Problem]]:
    return validate_document(model, read_yaml(path))


def load_model(
    model: type[M], path: str | Path, *, error: type[ConfigFileError] = ConfigFileError
) -> M:
    """Read, validate and return the file, or raise `error` listing every problem."""
    instance, problems = check_model(model, path)
    if instance is None:
        raise error(problems)
    return instance

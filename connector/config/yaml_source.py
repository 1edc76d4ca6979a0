"""Read an admin's YAML file and remember where every key and value came from.

Validation errors must say FILE:LINE:COL, so the plain data is returned together with a
lookup from a path tuple such as ``("objects", 0, "phone_fields", 1)`` to the 1-based
line and column of that key and of that value. Duplicate keys, syntax errors, bad
encodings and missing files all become located `Problem`s rather than exceptions.

Mapping keys are always kept as the text the admin wrote (``yes:`` stays ``"yes"``, not
``True``): every key in smsync's files is a name, and YAML 1.1's booleans would otherwise
turn picklist values into surprises.

Every file is bounded before it can cost much: its size is checked before it is parsed
(`SMSYNC_CONFIG_MAX_BYTES`), and composing and building stop at the limits of
`yaml_compose` (nesting, values, aliases). So a "billion laughs" file of a few hundred
bytes is refused in milliseconds, located at the alias that blew the budget, instead of
filling memory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from connector.config.yaml_compose import (
    ALIAS_BUDGET,
    MAX_DEPTH,
    MAX_NODES,
    BoundedLoader,
    Builder,
    LimitExceeded,
    Position,
    YamlPath,
    format_path,
)
from connector.errors import Problem

__all__ = [
    "ALIAS_BUDGET",
    "DEFAULT_MAX_BYTES",
    "MAX_DEPTH",
    "MAX_NODES",
    "Position",
    "YamlDocument",
    "YamlPath",
    "format_path",
    "parse_yaml",
    "read_yaml",
    "set_max_bytes",
]

DEFAULT_MAX_BYTES = 1_048_576  # SMSYNC_CONFIG_MAX_BYTES: real mappings and plays are a few KB

_max_bytes = DEFAULT_MAX_BYTES


def set_max_bytes(max_bytes: int) -> None:
    """The size cap for every file read from now on (SMSYNC_CONFIG_MAX_BYTES, set by the CLI)."""
    global _max_bytes  # noqa: PLW0603 - one process-wide knob, like the log configuration
    _max_bytes = max_bytes


@dataclass(frozen=True, slots=True)
class YamlDocument:
    """Plain data plus where each part of it was written."""

    file: str
    data: Any
    values: dict[YamlPath, Position]
    keys: dict[YamlPath, Position]
    problems: tuple[Problem, ...] = ()
    text: str = ""  # the source as read (within the size cap), for callers that locate text

    def value_at(self, path: YamlPath) -> Position | None:
        return self.values.get(path)

    def key_at(self, path: YamlPath) -> Position | None:
        return self.keys.get(path)

    def nearest(self, path: YamlPath, *, prefer_key: bool = False) -> Position:
        """The node at `path`, else the closest parent that exists, else the file's start."""
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            first, second = (self.keys, self.values) if prefer_key else (self.values, self.keys)
            found = first.get(prefix) or second.get(prefix)
            if found is not None:
                return found
        return Position(1, 1)


def parse_yaml(text: str, file: str) -> YamlDocument:
    """Parse one YAML document; syntax errors and exceeded limits come back as problems,
    never raised."""
    builder = Builder(file)
    loader = BoundedLoader(text)
    try:
        node = loader.get_single_node()
    except LimitExceeded as exc:
        builder.problem(exc.at, exc.message)
        return YamlDocument(file, None, {}, {}, tuple(builder.problems), text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = exc.problem or exc.context or "invalid YAML"
        context = ""
        if exc.context and exc.problem:
            started = exc.context_mark
            context = f" ({exc.context}" + (
                f" started at line {started.line + 1}, column {started.column + 1})"
                if started is not None and started is not mark
                else ")"
            )
        hint = (
            "; indent with spaces, not tabs"
            if "'\\t'" in what
            else "; check the indentation and quoting here"
        )
        builder.problem(Position(line, col), f"YAML syntax error: {what}{context}{hint}")
        return YamlDocument(file, None, {}, {}, tuple(builder.problems), text)
    except yaml.YAMLError as exc:
        builder.problem(Position(1, 1), f"YAML error: {exc}")
        return YamlDocument(file, None, {}, {}, tuple(builder.problems), text)
    finally:
        loader.dispose()
    builder.alias_marks = loader.alias_marks
    try:
        data = None if node is None else builder.build(node, ())
    except LimitExceeded as exc:
        return YamlDocument(
            file, None, {}, {}, (Problem(file, exc.at.line, exc.at.col, exc.message),), text
        )
    return YamlDocument(file, data, builder.values, builder.keys, tuple(builder.problems), text)


def read_yaml(path: str | Path, *, max_bytes: int | None = None) -> YamlDocument:
    """Read and parse a file. An unreadable, oversized or non-UTF-8 file becomes one problem.

    The size is checked before anything is parsed, and at most `max_bytes` + 1 bytes are
    ever read (a growing file or a device cannot slip past the cap)."""
    file = str(path)
    cap = _max_bytes if max_bytes is None else max_bytes
    try:
        with Path(path).open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            raw = b"" if size > cap else handle.read(cap + 1)
    except FileNotFoundError:
        return _unreadable(file, "file not found; check the path")
    except IsADirectoryError:
        return _unreadable(file, "is a directory; name a .yaml file")
    except OSError as exc:
        return _unreadable(file, f"cannot read the file ({exc.strerror}); check permissions")
    if size > cap or len(raw) > cap:
        shown = f"{size:,} bytes" if size > cap else f"more than {cap:,} bytes"
        return _unreadable(
            file,
            f"the file is {shown}, over the {cap:,}-byte limit for configuration files;"
            " check it is the file you meant, or raise SMSYNC_CONFIG_MAX_BYTES",
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        problem = Problem(
            file,
            line,
            col,
            f"not valid UTF-8 (byte 0x{raw[exc.start]:02x}); save the file as UTF-8",
        )
        return YamlDocument(file, None, {}, {}, (problem,))
    return parse_yaml(text, file)


def _unreadable(file: str, message: str) -> YamlDocument:
    return YamlDocument(file, None, {}, {}, (Problem(file, 1, 1, message),))

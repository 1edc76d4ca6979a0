"""Read an admin's YAML file and remember where every key and value came from.

Validation errors must say FILE:LINE:COL, so the plain data is returned together with a
lookup from a path tuple such as ``("objects", 0, "phone_fields", 1)`` to the 1-based
line and column of that key and of that value. Duplicate keys, syntax errors, bad
encodings and missing files all become located `Problem`s rather than exceptions.

Mapping keys are always kept as the text the admin wrote (``yes:`` stays ``"yes"``, not
``True``): every key in smsync's files is a name, and YAML 1.1's booleans would otherwise
turn picklist values into surprises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from connector.errors import MappingError, Problem

YamlPath: TypeAlias = tuple[str | int, ...]

_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(frozen=True, slots=True)
class Position:
    """1-based line and column."""

    line: int
    col: int


@dataclass(frozen=True, slots=True)
class YamlDocument:
    """Plain data plus where each part of it was written."""

    file: str
    data: Any
    values: dict[YamlPath, Position]
    keys: dict[YamlPath, Position]
    problems: tuple[Problem, ...] = ()

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


def format_path(path: YamlPath) -> str:
    """`("objects", 0, "phone_fields")` → `objects[0].phone_fields`, as admins read it."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.isidentifier():
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out or "(top level)"


def _pos(node: Node) -> Position:
    return Position(node.start_mark.line + 1, node.start_mark.column + 1)


@dataclass
class _Builder:
    file: str
    constructor: SafeConstructor = field(default_factory=SafeConstructor)
    values: dict[YamlPath, Position] = field(default_factory=dict)
    keys: dict[YamlPath, Position] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    _stack: set[int] = field(default_factory=set)

    def problem(self, pos: Position, message: str) -> None:
        self.problems.append(Problem(self.file, pos.line, pos.col, message))

    def build(self, node: Node, path: YamlPath) -> Any:
        self.values.setdefault(path, _pos(node))
        if id(node) in self._stack:
            self.problem(_pos(node), f"{format_path(path)}: an alias refers to itself; remove it")
            return None
        self._stack.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self._mapping(node, path)
            if isinstance(node, SequenceNode):
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            return self._scalar(node, path)
        finally:
            self._stack.discard(id(node))

    def _forget(self, path: YamlPath) -> None:
        """Drop what a merged value recorded under `path` before an explicit key replaces it."""
        n = len(path)
        for table in (self.values, self.keys):
            for stale in [p for p in table if p[:n] == path]:
                del table[stale]

    def _scalar(self, node: Node, path: YamlPath) -> Any:
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self.problem(_pos(node), f"{format_path(path)}: {exc}; write a plain value instead")
            return None

    def _mapping(self, node: MappingNode, path: YamlPath) -> dict[str, Any]:
        explicit = {id(k) for k, _ in node.value if k.tag != _MERGE_TAG}
        try:
            self.constructor.flatten_mapping(node)
        except yaml.YAMLError as exc:
            self.problem(_pos(node), f"{format_path(path)}: bad merge key (<<): {exc}")
        out: dict[str, Any] = {}
        seen: dict[str, tuple[Node, bool]] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self.problem(
                    _pos(key_node),
                    f"{format_path(path)}: a key must be a plain name, not a list or mapping",
                )
                continue
            key = str(key_node.value)
            is_explicit = id(key_node) in explicit
            if key in seen:
                first_node, first_explicit = seen[key]
                if is_explicit and first_explicit:
                    first = _pos(first_node)
                    self.problem(
                        _pos(key_node),
                        f"{format_path((*path, key))}: duplicate key (first written at line "
                        f"{first.line}); keep one of them",
                    )
                    continue
                if not is_explicit:
                    continue  # an earlier key (explicit or merged first) wins over a merge
            seen[key] = (key_node, is_explicit)
            key_path = (*path, key)
            self._forget(key_path)
            self.keys[key_path] = _pos(key_node)
            out[key] = self.build(value_node, key_path)
        return out


def parse_yaml(text: str, file: str) -> YamlDocument:
    """Parse one YAML document; syntax errors come back as problems, never raised."""
    builder = _Builder(file)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
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
        return YamlDocument(file, None, {}, {}, tuple(builder.problems))
    except yaml.YAMLError as exc:
        builder.problem(Position(1, 1), f"YAML error: {exc}")
        return YamlDocument(file, None, {}, {}, tuple(builder.problems))
    data = None if node is None else builder.build(node, ())
    return YamlDocument(file, data, builder.values, builder.keys, tuple(builder.problems))


def read_yaml(path: str | Path) -> YamlDocument:
    """Read and parse a file. An unreadable or non-UTF-8 file becomes one problem."""
    file = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return _unreadable(file, "file not found; check the path")
    except IsADirectoryError:
        return _unreadable(file, "is a directory; name a .yaml file")
    except OSError as exc:
        return _unreadable(file, f"cannot read the file ({exc.strerror}); check permissions")
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


def load_yaml(path: str | Path) -> YamlDocument:
    """Like `read_yaml`, but raise `MappingError` when the YAML itself is broken."""
    doc = read_yaml(path)
    if doc.problems:
        raise MappingError(list(doc.problems))
    return doc

"""The bounded half of reading YAML: PyYAML's safe loader, refusing deep nesting and
huge files while composing, and a builder that turns the node graph into plain data while
recording the position of every key and value.

Limits: composing stops at `MAX_DEPTH` levels of nesting and at `MAX_NODES` values, and
values built again through aliases and merge keys (``*a``, ``<<: *a``) stop at
`ALIAS_BUDGET`; a limit hit raises `LimitExceeded` at the place that blew it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeAlias

import yaml
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from connector.errors import Problem

YamlPath: TypeAlias = tuple[str | int, ...]

_MERGE_TAG = "tag:yaml.org,2002:merge"

MAX_DEPTH = 64  # levels of nesting; smsync's own files use fewer than ten
MAX_NODES = 100_000  # values written in one file (bounds memory within the size cap)
ALIAS_BUDGET = 20_000  # values built again through aliases and merges, per file


@dataclass(frozen=True, slots=True)
class Position:
    """1-based line and column."""

    line: int
    col: int


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


def _mark(mark: Any) -> Position:
    return Position(mark.line + 1, mark.column + 1) if mark is not None else Position(1, 1)


def _pos(node: Node) -> Position:
    return _mark(node.start_mark)


class LimitExceeded(Exception):  # noqa: N818 - a signal caught by yaml_source
    """A limit was hit: stop at once and report this one problem."""

    def __init__(self, at: Position, message: str) -> None:
        super().__init__(message)
        self.at = at
        self.message = message


_AliasKey: TypeAlias = tuple[int, int]


class BoundedLoader(yaml.SafeLoader):
    """The safe loader, refusing deep nesting while composing (PyYAML's composer recurses,
    so a few thousand `[` would otherwise end in RecursionError) and remembering where each
    alias was written, which the composed graph forgets."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.depth = 0
        self.nodes = 0
        self.alias_marks: dict[_AliasKey, Position] = {}

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        at = _mark(event.start_mark)
        if isinstance(event, AliasEvent):
            self.alias_marks[(id(parent), index if isinstance(index, int) else id(index))] = at
            return super().compose_node(parent, index)
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise LimitExceeded(
                at, f"the file holds more than {MAX_NODES:,} values; check it is the file you meant"
            )
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise LimitExceeded(
                    at, f"nested more than {MAX_DEPTH} levels deep; flatten the structure"
                )
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


_Merged: TypeAlias = dict[str, tuple[Node, Node, "Position | None"]]


@dataclass
class Builder:
    """Turns the composed node graph into plain data, recording positions. Aliased nodes
    are built again at each use (the data must be plain trees), which is what the alias
    budget counts; merge keys are resolved here, without mutating shared nodes."""

    file: str
    alias_marks: dict[_AliasKey, Position] = field(default_factory=dict)
    constructor: SafeConstructor = field(default_factory=SafeConstructor)
    values: dict[YamlPath, Position] = field(default_factory=dict)
    keys: dict[YamlPath, Position] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    _stack: set[int] = field(default_factory=set)
    _seen: set[int] = field(default_factory=set)
    _spent: int = 0
    _aliases: list[Position] = field(default_factory=list)
    _effective: dict[int, _Merged] = field(default_factory=dict)

    def problem(self, pos: Position, message: str) -> None:
        self.problems.append(Problem(self.file, pos.line, pos.col, message))

    def _spend(self, n: int, fallback: Position) -> None:
        self._spent += n
        if self._spent > ALIAS_BUDGET:
            at = self._aliases[0] if self._aliases else fallback
            raise LimitExceeded(
                at,
                f"aliases here expand to more than {ALIAS_BUDGET:,} values (an alias bomb?);"
                " write the values out, or use fewer and smaller aliases",
            )

    def _alias_at(self, parent: Node, index: int | Node) -> Position | None:
        return self.alias_marks.get((id(parent), index if isinstance(index, int) else id(index)))

    def build(self, node: Node, path: YamlPath, alias: Position | None = None) -> Any:
        if alias is not None:
            self._aliases.append(alias)
        try:
            return self._build(node, path)
        finally:
            if alias is not None:
                self._aliases.pop()

    def _build(self, node: Node, path: YamlPath) -> Any:
        if len(path) > MAX_DEPTH:
            at = self._aliases[0] if self._aliases else _pos(node)
            raise LimitExceeded(at, f"aliases nest values more than {MAX_DEPTH} levels deep")
        if id(node) in self._seen:
            self._spend(1, _pos(node))
        self._seen.add(id(node))
        self.values.setdefault(path, _pos(node))
        if id(node) in self._stack:
            self.problem(_pos(node), f"{format_path(path)}: an alias refers to itself; remove it")
            return None
        self._stack.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self._mapping(node, path)
            if isinstance(node, SequenceNode):
                return [
                    self.build(item, (*path, i), self._alias_at(node, i))
                    for i, item in enumerate(node.value)
                ]
            return self._scalar(node, path)
        finally:
            self._stack.discard(id(node))

    def _scalar(self, node: Node, path: YamlPath) -> Any:
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self.problem(_pos(node), f"{format_path(path)}: {exc}; write a plain value instead")
            return None

    def _sources(
        self, node: MappingNode, key: Node, value: Node, path: YamlPath | None
    ) -> list[tuple[MappingNode, Position | None]]:
        """The mappings a `<<` key merges in, first wins; `path` None: do not report."""
        if isinstance(value, MappingNode):
            return [(value, self._alias_at(node, key))]
        if isinstance(value, SequenceNode) and all(
            isinstance(item, MappingNode) for item in value.value
        ):
            return [(item, self._alias_at(value, i)) for i, item in enumerate(value.value)]
        if path is not None:
            self.problem(
                _pos(value),
                f"{format_path(path)}: bad merge key (<<): it takes a mapping or a list of"
                " mappings (`<<: *name` or `<<: [*one, *two]`)",
            )
        return []

    def _merged(
        self, node: MappingNode, sources: list[tuple[MappingNode, Position | None]]
    ) -> _Merged:
        """What the merge sources contribute, the earlier source winning on a shared key."""
        out: _Merged = {}
        for source, at in sources:
            effective = self._contents(source)
            self._spend(len(effective), at or _pos(node))
            for key, (key_node, value_node, _) in effective.items():
                if key not in out:
                    out[key] = (key_node, value_node, at)
        return out

    def _contents(self, node: MappingNode) -> _Merged:
        """A mapping's keys as a merge source sees them: its own, then what it merges in.
        Computed once per node, so merges of merges stay linear in the file."""
        found = self._effective.get(id(node))
        if found is not None:
            return found
        if id(node) in self._stack or len(self._stack) > MAX_DEPTH:
            raise LimitExceeded(
                self._aliases[0] if self._aliases else _pos(node),
                "merge keys (<<) refer to each other in a loop or too deeply; simplify them",
            )
        self._stack.add(id(node))
        try:
            own: _Merged = {}
            sources: list[tuple[MappingNode, Position | None]] = []
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE_TAG:
                    sources.extend(self._sources(node, key_node, value_node, None))
                elif isinstance(key_node, ScalarNode):
                    own.setdefault(str(key_node.value), (key_node, value_node, None))
            merged = self._merged(node, sources)
        finally:
            self._stack.discard(id(node))
        result = {**{k: v for k, v in merged.items() if k not in own}, **own}
        self._effective[id(node)] = result
        return result

    def _mapping(self, node: MappingNode, path: YamlPath) -> dict[str, Any]:
        sources: list[tuple[MappingNode, Position | None]] = []
        own: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                sources.extend(self._sources(node, key_node, value_node, path))
                continue
            if not isinstance(key_node, ScalarNode):
                self.problem(
                    _pos(key_node),
                    f"{format_path(path)}: a key must be a plain name, not a list or mapping",
                )
                continue
            key = str(key_node.value)
            if key in own:
                first = _pos(own[key][0])
                self.problem(
                    _pos(key_node),
                    f"{format_path((*path, key))}: duplicate key (first written at line "
                    f"{first.line}); keep one of them",
                )
                continue
            own[key] = (key_node, value_node)
        merged = self._merged(node, sources) if sources else {}
        out: dict[str, Any] = {}
        for key, (key_node, value_node, at) in merged.items():
            if key not in own:  # an explicit key wins over a merged one
                self.keys[(*path, key)] = _pos(key_node)
                out[key] = self.build(value_node, (*path, key), at)
        for key, (key_node, value_node) in own.items():
            self.keys[(*path, key)] = _pos(key_node)
            out[key] = self.build(value_node, (*path, key), self._alias_at(node, key_node))
        return out

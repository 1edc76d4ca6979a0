"""Entry points for the plays file: load it and validate several (`plays_to_domain` turns
the result into the domain's plain records).

Template tokens are checked here, on the raw document, so every problem in a file is
reported together and each bad token is located at the token itself: it must be declared
under `tokens`, and, when a mapping is given, be a canonical field the mapping maps or a
built-in (first_name, owner_name, meeting_time, ...). Fields and values the plays name
(triggers, outcomes, exclusions) are checked against the mapping by `plays_fields`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from connector.config.mapping_schema import MappingConfig
from connector.config.plays_fields import closest, field_problems, mapped_fields
from connector.config.plays_links import link_problems
from connector.config.plays_schema import PlaysConfig
from connector.config.plays_variants import language_problems, template_paths
from connector.config.validation import validate_document
from connector.config.yaml_source import YamlDocument, YamlPath, format_path, read_yaml
from connector.domain.purposes import BUILTIN_PURPOSES
from connector.domain.templates import BUILTIN_TOKENS, scan
from connector.errors import PlaysError, Problem


def _offsets(text: str) -> list[int]:
    """Character offset at which each 1-based line starts."""
    starts = [0]
    starts.extend(i + 1 for i, ch in enumerate(text) if ch == "\n")
    return starts


class _Locator:
    """Finds where a piece of a scalar's text sits in the file, searching forward from the
    scalar's start so quoting and block scalars do not matter."""

    def __init__(self, doc: YamlDocument, source: str) -> None:
        self.doc = doc
        self.source = source
        self.starts = _offsets(source)

    def position(self, path: YamlPath, pieces: Sequence[str]) -> list[tuple[int, int]]:
        start = self.doc.nearest(path)
        cursor = self.starts[start.line - 1] + start.col - 1 if self.source else 0
        fallback = (start.line, start.col)
        found: list[tuple[int, int]] = []
        for piece in pieces:
            at = self.source.find(piece, cursor)
            if at < 0:
                found.append(fallback)
                continue
            cursor = at + len(piece)
            line = max(i for i, s in enumerate(self.starts) if s <= at)
            found.append((line + 1, at - self.starts[line] + 1))
        return found


def _token_problems(doc: YamlDocument, source: str, mapping: MappingConfig | None) -> list[Problem]:
    data = doc.data if isinstance(doc.data, dict) else {}
    plays = data.get("plays")
    if not isinstance(plays, list):
        return []
    allowed = None if mapping is None else sorted(mapped_fields(mapping) | set(BUILTIN_TOKENS))
    locator = _Locator(doc, source)
    problems: list[Problem] = []
    for index, play in enumerate(plays):
        # the play's template, its translations and its variants' (plays_variants)
        for path, template in template_paths(play, index):
            problems.extend(_template_problems(doc, locator, path, template, allowed))
    return problems


def _template_problems(
    doc: YamlDocument,
    locator: _Locator,
    path: YamlPath,
    template: dict[str, object],
    allowed: list[str] | None,
) -> list[Problem]:
    """One template's tokens, each located at the token itself."""
    text = template.get("text")
    if not isinstance(text, str):
        return []
    declared = template.get("tokens")
    declared_names = set(declared) if isinstance(declared, dict) else None
    uses, bad = scan(text)
    pieces = [u.raw for u in uses]
    reported: set[str] = set()
    problems: list[Problem] = []
    for use, (line, col) in zip(uses, locator.position(path, pieces), strict=True):
        message = _token_message(use.name, declared_names, allowed)
        if message and use.name not in reported:
            reported.add(use.name)
            problems.append(Problem(doc.file, line, col, f"{format_path(path)}: {message}"))
    for line, col in locator.position(path, ["$" + text[b.offset + 1 : b.offset + 2] for b in bad]):
        problems.append(
            Problem(
                doc.file,
                line,
                col,
                f"{format_path(path)}: a '$' is not followed by a token name; write $$"
                " for a dollar sign, or ${name} for a token",
            )
        )
    return problems


def _purpose_problems(doc: YamlDocument) -> list[Problem]:
    """A play's purpose must be built in or listed under policy.purposes; located at the
    play's `purpose` value, with the purposes it may name."""
    data = doc.data if isinstance(doc.data, dict) else {}
    plays, policy = data.get("plays"), data.get("policy")
    custom = policy.get("purposes") if isinstance(policy, dict) else None
    own = [p for p in custom if isinstance(p, str)] if isinstance(custom, list) else []
    known = [*BUILTIN_PURPOSES, *(p for p in own if p not in BUILTIN_PURPOSES)]
    problems: list[Problem] = []
    for index, play in enumerate(plays if isinstance(plays, list) else []):
        purpose = play.get("purpose") if isinstance(play, dict) else None
        if not isinstance(purpose, str) or purpose in known:
            continue
        path: YamlPath = ("plays", index, "purpose")
        at = doc.nearest(path)
        hint = closest(purpose, known)
        suggestion = f"did you mean `{hint}`? " if hint else ""
        problems.append(
            Problem(
                doc.file,
                at.line,
                at.col,
                f"{format_path(path)}: unknown purpose {purpose!r}; {suggestion}use one of"
                f" {', '.join(known)}, or declare it under policy.purposes",
            )
        )
    return problems


def _token_message(name: str, declared: set[str] | None, allowed: list[str] | None) -> str:
    if allowed is not None and name not in allowed:
        hint = closest(name, allowed)
        suggestion = f"did you mean `${hint}`? " if hint else ""
        return (
            f"token ${name} is not a field the mapping maps nor a built-in; {suggestion}"
            f"use one of {', '.join(allowed)}"
        )
    if declared is not None and name not in declared:
        return f"token ${name} is not declared; add `{name}: {{required: true}}` under tokens"
    return ""


def check_plays(
    path: str | Path, mapping: MappingConfig | None = None
) -> tuple[PlaysConfig | None, list[Problem]]:
    """The validated file (None if anything is wrong) and every problem, sorted by place."""
    doc = read_yaml(path)
    config, problems = validate_document(PlaysConfig, doc)
    if doc.data is not None:  # doc.text: the file as read once, within the size cap
        problems = sorted(
            set(problems)
            | set(_token_problems(doc, doc.text, mapping))
            | set(_purpose_problems(doc))
            | set(language_problems(doc))
            | set(link_problems(doc, doc.text))
            | set(field_problems(doc, mapping) if mapping is not None else ()),
            key=lambda p: (p.line, p.col, p.message),
        )
    return (config if not problems else None), problems


def load_plays(path: str | Path, mapping: MappingConfig | None = None) -> PlaysConfig:
    """The validated plays file, or `PlaysError` listing every problem in it."""
    config, problems = check_plays(path, mapping)
    if config is None:
        raise PlaysError(problems)
    return config


def validate_plays_paths(
    paths: Sequence[str | Path], mapping: MappingConfig | None = None
) -> list[Problem]:
    """Every problem across the files; an empty list means they are all fine."""
    problems: list[Problem] = []
    for path in paths:
        problems.extend(check_plays(path, mapping)[1])
    return problems

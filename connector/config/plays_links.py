"""Tracked links in the plays file, checked offline: every `${link:NAME}` in any of a
play's texts (its template, and any variant or language template beside it) names a link
the play declares under `links`, and a `link_clicked` trigger names a link some play
declares. Each problem is located at the placeholder or the name itself."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from connector.config.plays_fields import suggestion
from connector.config.yaml_source import YamlDocument, YamlPath, format_path
from connector.domain.links import LINK_PATTERN
from connector.errors import Problem


def with_params(url: str, params: Mapping[str, str]) -> str:
    """The URL with the play's UTM parameters added; a parameter the URL already has
    keeps the URL's value."""
    if not params:
        return url
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    have = {k for k, _ in query}
    query.extend((k, v) for k, v in params.items() if k not in have)
    return urlunsplit(parts._replace(query=urlencode(query)))


def _texts(node: Any, path: YamlPath) -> Iterator[tuple[YamlPath, str]]:
    """Every string under a play (its `links` aside) that holds a link placeholder."""
    if isinstance(node, dict):
        for key, value in node.items():
            if path[2:] == () and key == "links":
                continue
            yield from _texts(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _texts(value, (*path, index))
    elif isinstance(node, str) and "${link:" in node:
        yield path, node


def _line_col(doc: YamlDocument, source: str, path: YamlPath, piece: str) -> tuple[int, int]:
    """Where `piece` sits in the file, searching forward from its scalar's start."""
    start = doc.nearest(path)
    lines = source.split("\n")
    offset = sum(len(line) + 1 for line in lines[: start.line - 1]) + start.col - 1
    at = source.find(piece, max(offset, 0))
    if at < 0:
        return start.line, start.col
    line = source.count("\n", 0, at)
    return line + 1, at - (source.rfind("\n", 0, at) + 1) + 1


def link_problems(doc: YamlDocument, source: str) -> list[Problem]:
    data = doc.data if isinstance(doc.data, dict) else {}
    plays = data.get("plays")
    if not isinstance(plays, list):
        return []
    problems: list[Problem] = []
    everywhere: set[str] = set()
    for play in plays:
        links = play.get("links") if isinstance(play, dict) else None
        everywhere.update(links if isinstance(links, dict) else ())
    for index, play in enumerate(plays):
        if not isinstance(play, dict):
            continue
        links = play.get("links")
        declared = sorted(links) if isinstance(links, dict) else []
        for path, text in _texts(play, ("plays", index)):
            for match in LINK_PATTERN.finditer(text):
                name = match.group(1)
                if name in declared:
                    continue
                line, col = _line_col(doc, source, path, match.group(0))
                fix = (
                    f"declare it under plays[{index}].links (`{name}: {{url: https://...}}`)"
                    f"{suggestion(name, declared)}"
                )
                problems.append(
                    Problem(
                        doc.file,
                        line,
                        col,
                        f"{format_path(path)}: link `{name}` is not declared by this play; {fix}",
                    )
                )
        trigger = play.get("trigger")
        clicked = trigger.get("link_clicked") if isinstance(trigger, dict) else None
        name = clicked.get("link") if isinstance(clicked, dict) else None
        if isinstance(name, str) and name not in everywhere:
            where: YamlPath = ("plays", index, "trigger", "link_clicked", "link")
            at = doc.nearest(where)
            problems.append(
                Problem(
                    doc.file,
                    at.line,
                    at.col,
                    f"{format_path(where)}: no play declares a link `{name}`"
                    f"{suggestion(name, everywhere)}; declare it under a play's `links`",
                )
            )
    return problems

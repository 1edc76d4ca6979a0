"""Play templates: `$token` / `${token}` text where each token says whether it is required.

A missing required value blocks the send (`missing_data`) rather than texting "Hi ,".
Optional tokens fall back to their declared text (empty by default). A tracked link,
`${link:pricing}`, is no token: rendering leaves it as written, and the send step puts the
message's own short URL in its place (`connector.engine.links`)."""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Final

from connector.domain.links import LINK_PATTERN

# Values the engine supplies for every contact, beyond the mapping's canonical fields.
BUILTIN_TOKENS: Final = (
    "first_name",
    "last_name",
    "full_name",
    "company",
    "owner_name",
    "owner_first_name",
    "meeting_time",
    "meeting_date",
    "renewal_date",
    "booking_link",
    "sender_name",
)


@dataclass(frozen=True, slots=True)
class TokenSpec:
    required: bool = True
    fallback: str = ""


@dataclass(frozen=True, slots=True)
class TokenUse:
    """One `$name` or `${name}` (`raw`, as written) in the text, at character `offset`."""

    name: str
    offset: int
    raw: str


@dataclass(frozen=True, slots=True)
class BadDollar:
    """A `$` not followed by a name, at character `offset`."""

    offset: int


@lru_cache(maxsize=1024)
def _scan(text: str) -> tuple[tuple[TokenUse, ...], tuple[BadDollar, ...]]:
    uses, bad = scan(text)
    return tuple(uses), tuple(bad)


@lru_cache(maxsize=1024)
def _parts(text: str) -> tuple[tuple[str, bool], ...]:
    """The text as literal runs and token names, once per template (the chokepoint
    renders the same few templates for every contact): `$$` is a literal `$`, and a stray
    `$` stays as written, as `string.Template.safe_substitute` has it."""
    parts: list[tuple[str, bool]] = []
    pos = 0
    for match in string.Template.pattern.finditer(text):
        parts.append((text[pos : match.start()], False))
        name = match.group("named") or match.group("braced")
        if name is not None:
            parts.append((name, True))
        elif match.group("escaped") is not None:
            parts.append(("$", False))
        else:
            parts.append((match.group(0), False))
        pos = match.end()
    parts.append((text[pos:], False))
    return tuple(p for p in parts if p[1] or p[0])


def scan(text: str) -> tuple[list[TokenUse], list[BadDollar]]:
    """Every token use and every stray `$` in the text, in order."""
    uses: list[TokenUse] = []
    bad: list[BadDollar] = []
    for match in string.Template.pattern.finditer(text):
        name = match.group("named") or match.group("braced")
        if name is not None:
            uses.append(TokenUse(name, match.start(), match.group(0)))
        elif match.group("invalid") is not None and not LINK_PATTERN.match(text, match.start()):
            bad.append(BadDollar(match.start()))
    return uses, bad


@dataclass(frozen=True, slots=True)
class Template:
    text: str
    tokens: Mapping[str, TokenSpec] = field(default_factory=dict)

    def render(self, values: Mapping[str, str | None]) -> tuple[str | None, tuple[str, ...]]:
        """(text, ()) or (None, the required tokens without a value). Whitespace-only
        counts as missing. Undeclared tokens are treated as required."""
        filled: dict[str, str] = {}
        missing: list[str] = []
        for use in _scan(self.text)[0]:
            if use.name in filled or use.name in missing:
                continue
            value = values.get(use.name)
            spec = self.tokens.get(use.name, TokenSpec())
            if value is not None and value.strip():
                filled[use.name] = value.strip()
            elif spec.required:
                missing.append(use.name)
            else:
                filled[use.name] = spec.fallback
        if missing:
            return None, tuple(missing)
        # every token is filled here, so this is safe_substitute without its regex pass
        return "".join(
            filled[part] if is_token else part for part, is_token in _parts(self.text)
        ), ()

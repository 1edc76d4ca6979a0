"""The disposition vocabulary and the rules that classify a reply."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import AfterValidator, Field, model_validator

from connector.config.mapping_types import (
    DEFAULT_VOCABULARY,
    REQUIRED_DISPOSITIONS,
    Disposition,
    SlaName,
)
from connector.config.values import Regex, SnakeName, Strict, fail

# --- dispositions ---------------------------------------------------------------------


class Rule(Strict):
    """Classifies a reply; the first matching rule (in list order) wins."""

    name: Disposition = Field(description="The disposition this rule assigns.")
    keywords: tuple[Annotated[str, Field(min_length=1)], ...] = Field(
        (), description="Words or phrases matched case-insensitively on word boundaries."
    )
    regexes: tuple[Regex, ...] = Field(
        (), description="Python regular expressions (single-quote them in YAML)."
    )
    creates_task: bool = Field(default=False, description="Create a follow-up task for the owner.")
    sla: SlaName | None = Field(None, description="Name of an SLA policy to start.")

    @model_validator(mode="after")
    def _matches_something(self) -> Self:
        if not self.keywords and not self.regexes:
            raise fail("a rule needs keywords or regexes (or both)")
        return self


def _vocabulary(names: tuple[str, ...]) -> tuple[str, ...]:
    missing = [n for n in REQUIRED_DISPOSITIONS if n not in names]
    if missing:
        raise fail(
            f"the vocabulary must include {', '.join(missing)} (the built-in compliance"
            " classifier and the fallback use them)"
        )
    if len(set(names)) != len(names):
        raise fail("a disposition is listed twice; list each once")
    return names


class Dispositions(Strict):
    """The disposition vocabulary and the rules that assign it. Compliance keywords (STOP,
    HELP, ...) are built in and checked before these rules."""

    vocabulary: Annotated[tuple[SnakeName, ...], AfterValidator(_vocabulary)] = Field(
        DEFAULT_VOCABULARY, description="Every disposition name smsync may assign."
    )
    rules: tuple[Rule, ...] = Field(
        (), description="Ordered rules; the first match wins, otherwise unclassified."
    )

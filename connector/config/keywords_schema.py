"""The plays file's `policy.keywords`: who answers HELP and STOP, the two texts, and the
admin's words per language on top of the built-in English, Spanish and French.

Each text and word is checked where it is written, so a HELP answer without an opt-out
instruction is reported at its own line and column with the fix."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, Field, WithJsonSchema, model_validator

from connector.config.values import Strict, fail
from connector.domain.keyword_replies import (
    DEFAULT_CONFIRMATION,
    confirmation_problems,
    help_problems,
)
from connector.domain.keywords import BUILTIN_VOCABULARIES, KeywordKind, KeywordRules
from connector.domain.revocation import fold

_LANGUAGE = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")
_BUILTIN = KeywordRules(BUILTIN_VOCABULARIES)


def _language(value: str) -> str:
    if not _LANGUAGE.match(value):
        raise fail(f"{value!r} is not a language code; use one like es, fr or pt-BR")
    return value


def _words(value: str, *, low: int, high: int, what: str) -> str:
    count = len(fold(value).split())
    if count == 0:
        raise fail(f"{value!r} has no letters; write the {what}")
    if not low <= count <= high:
        span = "one word" if high == 1 else f"{low} to {high} words"
        hint = "; a longer one goes under phrases" if what == "keyword" else ""
        plural = "word" if count == 1 else "words"
        raise fail(f"{value!r} has {count} {plural}; a {what} is {span}{hint}")
    return value


def _keyword_of(kind: KeywordKind) -> AfterValidator:
    def check(value: str) -> str:
        _words(value, low=1, high=2, what="keyword")
        built_in = _BUILTIN.kind_of(value)
        if built_in is not None and built_in is not kind:
            raise fail(
                f"{value!r} is a built-in {built_in.value} keyword; a word has one meaning,"
                f" remove it from {kind.value}"
            )
        return value

    return AfterValidator(check)


def _phrase(value: str) -> str:
    return _words(value, low=2, high=12, what="phrase")


def _help_text(value: str) -> str:
    found = help_problems(value)
    if found:
        raise fail("; ".join(found))
    return value


def _confirmation(value: str) -> str:
    found = confirmation_problems(value)
    if found:
        raise fail("; ".join(found))
    return value


_STRING = WithJsonSchema({"type": "string"})
LanguageCode = Annotated[str, AfterValidator(_language), _STRING]
OptOutWord = Annotated[str, _keyword_of(KeywordKind.OPT_OUT), _STRING]
OptInWord = Annotated[str, _keyword_of(KeywordKind.OPT_IN), _STRING]
HelpWord = Annotated[str, _keyword_of(KeywordKind.HELP), _STRING]
PhraseText = Annotated[str, AfterValidator(_phrase), _STRING]
HelpText = Annotated[str, AfterValidator(_help_text), _STRING]
ConfirmationText = Annotated[str, AfterValidator(_confirmation), _STRING]


class LanguageSpec(Strict):
    """Words of one language, added to the built-in ones (en, es, fr) or a new language."""

    opt_out: tuple[OptOutWord, ...] = Field((), description="Opt-out keywords, e.g. ABMELDEN.")
    opt_in: tuple[OptInWord, ...] = Field((), description="Opt-in keywords, e.g. ANMELDEN.")
    help: tuple[HelpWord, ...] = Field((), description="Help keywords, e.g. HILFE.")
    phrases: tuple[PhraseText, ...] = Field(
        (), description="Phrases of revocation, matched as consecutive words."
    )
    help_text: HelpText | None = Field(
        None, description="The HELP answer to a contact whose language segment is this one."
    )
    opt_out_confirmation: ConfirmationText | None = Field(
        None, description="The opt-out confirmation in this language."
    )

    @model_validator(mode="after")
    def _one_meaning(self) -> Self:
        seen: dict[tuple[str, ...], str] = {}
        for kind, words in (
            ("opt_out", self.opt_out),
            ("opt_in", self.opt_in),
            ("help", self.help),
        ):
            for word in words:
                key = tuple(fold(word).split())
                if seen.setdefault(key, kind) != kind:
                    raise fail(f"{word!r} is listed under {seen[key]} and {kind}; keep one")
        return self


class KeywordsSpec(Strict):
    """HELP and STOP: who answers them and with what (see README, Plays and governance)."""

    answered_by: Literal["smsync", "provider"] = Field(
        "smsync",
        description=(
            "smsync: smsync sends the HELP answer and the one opt-out confirmation; provider:"
            " the SMS provider answers keywords itself (Twilio Advanced Opt-Out), smsync"
            " sends neither."
        ),
    )
    help_text: HelpText | None = Field(
        None,
        description=(
            "The HELP answer: brand, program, message frequency, 'Msg & data rates may"
            " apply', a help contact and how to opt out. Keep it to 160 characters."
        ),
    )
    opt_out_confirmation: ConfirmationText = Field(
        DEFAULT_CONFIRMATION,
        description="The one confirmation after an opt-out; says no more messages will come.",
    )
    languages: Mapping[LanguageCode, LanguageSpec] = Field(
        default_factory=dict,
        description="More keywords and phrases per language (en, es, fr are built in).",
    )

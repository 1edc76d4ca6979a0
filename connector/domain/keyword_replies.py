"""Who answers compliance keywords, with what text, and what those texts must say.

When smsync answers (`answered_by: smsync`, the default), a HELP gets the configured
answer and an opt-out exactly one confirmation, through the chokepoint. An inbound text
that carries the provider's own `OptOutType` was already answered by the provider (Twilio
replies to its keywords before it posts the webhook, and then refuses further sends to a
STOPped number with 21610), so smsync does not answer it a second time. With
`answered_by: provider` (Twilio Advanced Opt-Out configured to answer), smsync sends
neither. Either way the decision is logged.

The checks here are the plays file's: a HELP answer names how to opt out and where to get
help; a confirmation says no more messages will come and carries nothing else (CTIA, FCC
47 CFR 64.1200(a)(12)); no text exceeds what the provider accepts."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum, unique

import phonenumbers

from connector.domain.keywords import DEFAULT_RULES, KeywordKind, KeywordRules
from connector.domain.revocation import fold
from connector.domain.variants import language_of


@unique
class AnsweredBy(StrEnum):
    SMSYNC = "smsync"
    PROVIDER = "provider"


MAX_TEXT = 1600  # Twilio refuses longer bodies (21617)
ONE_SEGMENT = 160  # GSM-7; the preferred length of both texts
DEFAULT_CONFIRMATION = (
    "You're unsubscribed and will get no more messages from us. Reply START to resubscribe."
)
# The provider's OptOutType that says it answered this kind of keyword itself.
PROVIDER_ANSWERS = {KeywordKind.OPT_OUT: "STOP", KeywordKind.HELP: "HELP"}

_OPT_OUT_INSTRUCTION = re.compile(
    r"\b(?:reply|text|send|txt|respond(?: with)?)\s+(?:stop|end|cancel|unsubscribe)\b"
    r"|\bstop\s+to\s+(?:opt\s*out|unsubscribe|end|cancel|quit|stop)\b"
    # Spanish: "Responde STOP/ALTO/BAJA ..." (folded: no accents)
    r"|\b(?:responde|responda|envia|envie|escribe|escriba)\s+(?:stop|alto|baja|cancelar)\b"
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_WEB = re.compile(r"\bhttps?://\S+|\bwww\.\S+|\b[\w-]+\.(?:com|org|net|io|co|us|help|support)\b")
_NO_MORE = re.compile(
    r"\bno\s+(?:more|further)\s+(?:messages|texts|msgs|sms|text messages)\b"
    r"|\b(?:will not|wont|won t|will no longer)\s+(?:receive|get|be sent)\s+(?:any\s+)?"
    r"(?:more|further)?\s*(?:messages|texts|msgs|sms)\b"
    # the Spanish for it: no recibiras mas mensajes
    r"|\bno\s+(?:recibiras|recibira|recibiran)\s+(?:mas\s+)?(?:mensajes|textos|sms)\b"
)
# A link, a price or a pitch: what a confirmation must not carry.
_MARKETING = re.compile(
    r"\b(?:offers?|discounts?|deals?|promos?|promotions?|coupons?|buy now|shop now|percent)\b"
    r"|%|\$\s?\d|https?://|\bwww\."
)


def _has_phone(text: str) -> bool:
    return any(True for _ in phonenumbers.PhoneNumberMatcher(text, "US"))


def text_problems(text: str) -> list[str]:
    """Problems any keyword answer can have."""
    if not text.strip():
        return ["the text is empty; write the message to send"]
    if len(text) > MAX_TEXT:
        too_long = (
            f"{len(text)} characters; the provider refuses more than {MAX_TEXT}"
            f" (keep it under {ONE_SEGMENT}, one segment)"
        )
        return [too_long]
    return []


def help_problems(text: str) -> list[str]:
    """The HELP answer must say how to opt out and where to get help."""
    found = text_problems(text)
    if found:
        return found
    folded = fold(text)
    if not _OPT_OUT_INSTRUCTION.search(folded):
        found.append('the HELP answer must say how to opt out; add "Reply STOP to opt out."')
    if not (_EMAIL.search(text) or _WEB.search(text) or _has_phone(text)):
        found.append(
            "the HELP answer must give a help contact (a phone number, an email address"
            ' or a web address); add e.g. "Help: support@example.com"'
        )
    return found


def confirmation_problems(text: str) -> list[str]:
    """The opt-out confirmation says no more messages will come, and nothing else."""
    found = text_problems(text)
    if found:
        return found
    folded = fold(text)
    if not _NO_MORE.search(folded):
        found.append(
            "the opt-out confirmation must say the person will get no more messages;"
            ' write e.g. "You\'re unsubscribed and will get no more messages from us."'
        )
    marketing = _MARKETING.search(text.casefold())
    if marketing:
        found.append(
            f"the opt-out confirmation may carry no marketing content ({marketing.group(0)!r});"
            " confirm the opt-out and nothing else"
        )
    return found


@dataclass(frozen=True, slots=True)
class KeywordPolicy:
    """The plays file's `policy.keywords`: who answers, the texts, the vocabulary."""

    answered_by: AnsweredBy = AnsweredBy.SMSYNC
    help_text: str | None = None  # None: no HELP answer configured (logged as such)
    opt_out_confirmation: str = DEFAULT_CONFIRMATION
    rules: KeywordRules = field(default_factory=lambda: DEFAULT_RULES)
    # the same two texts per language ("es"), for a contact whose language segment says so
    help_by_language: Mapping[str, str] = field(default_factory=dict)
    confirmation_by_language: Mapping[str, str] = field(default_factory=dict)

    def text_for(self, kind: KeywordKind, language: str | None = None) -> str | None:
        """The answer in `language` when one is written in it, else the default text;
        a language's HELP text needs the default one (no HELP answer is configured
        without it)."""
        if kind is KeywordKind.HELP:
            if self.help_text is None:
                return None
            return language_of(self.help_by_language, language, self.help_text)
        if kind is KeywordKind.OPT_OUT:
            return language_of(self.confirmation_by_language, language, self.opt_out_confirmation)
        return None

    def provider_answered(self, kind: KeywordKind, opt_out_type: str | None) -> bool:
        """The provider's OptOutType says it already answered this keyword."""
        expected = PROVIDER_ANSWERS.get(kind)
        return expected is not None and (opt_out_type or "").strip().upper() == expected

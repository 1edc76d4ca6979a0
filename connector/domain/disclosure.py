"""The opt-out instruction a program's first text to a number carries ("Reply STOP to opt
out."), unless the text already tells the recipient how to opt out.

It goes on a play's template, whether the play fires or a rep sends it (`smsync send
--play`); a rep's own free text is theirs to word. "First" means no play or manual text
has gone to the number yet: nothing sent, claimed or due before now. Texts queued for
later do not count, so two plays racing to be first may both carry it; a recipient
reading the instruction twice is better than never."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from connector.domain.caps import SendKind, SentRecord
from connector.domain.keywords import DEFAULT_OPT_OUT

LANGUAGE_SEGMENT = "language"  # a segment with a meaning: the contact's language ("es")
_KEYWORDS = re.compile(r"\b(" + "|".join(sorted({*DEFAULT_OPT_OUT, "ALTO"})) + r")\b")
_PHRASE = re.compile(r"\bopt[\s-]?out\b|\bunsubscribe\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class OptOutInstruction:
    text: str = "Reply STOP to opt out."
    by_language: Mapping[str, str] = field(default_factory=dict)  # "es" -> Spanish text
    enabled: bool = True

    def for_language(self, language: str | None) -> str:
        """The text in the contact's language ("es", "es-MX", "Spanish" -> es), else the
        default."""
        code = (language or "").strip().lower()
        if code in self.by_language:
            return self.by_language[code]
        short = code.replace("_", "-").split("-")[0][:2]
        return self.by_language.get(short, self.text)

    def has_one(self, body: str) -> bool:
        """Whether the text already says how to opt out: an opt-out keyword in capitals
        as a word (STOP, ALTO), "opt out"/"unsubscribe", or one of the configured texts."""
        folded = body.casefold()
        texts = (self.text, *self.by_language.values())
        if any(t.casefold().rstrip(".") in folded for t in texts if t.strip()):
            return True
        return says_how_to_opt_out(body)


def says_how_to_opt_out(text: str) -> bool:
    """An opt-out keyword in capitals as a word (STOP, ALTO), or "opt out"/"unsubscribe"."""
    return bool(_KEYWORDS.search(text) or _PHRASE.search(text))


_PROGRAM = frozenset({SendKind.PLAY, SendKind.MANUAL})


def first_text(sends: Iterable[SentRecord], now: datetime) -> bool:
    """No play or manual text has gone, or is due, to the number before `now`."""
    return not any(s.kind in _PROGRAM and s.at <= now for s in sends)


def with_instruction(
    body: str, instruction: OptOutInstruction, language: str | None
) -> tuple[str, bool]:
    """`body` with the instruction appended (and whether it was added)."""
    if not instruction.enabled or instruction.has_one(body):
        return body, False
    return f"{body.rstrip()} {instruction.for_language(language)}", True

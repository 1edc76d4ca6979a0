"""`smsync classify`: what the engine would decide for a reply, without a store or a CRM.

The same reading as ingest (`dispositions.classify` with the plays file's keyword
vocabulary and the mapping's disposition rules), for a sender whose number is opted out or
not, and what would follow: the consent change, the task, the HELP answer or opt-out
confirmation and who sends it. Admins test their rules with it before they deploy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from connector.config import MappingConfig
from connector.domain.dispositions import Classification, classify
from connector.domain.keyword_replies import MAX_TEXT, AnsweredBy
from connector.domain.keywords import KeywordKind, Sender
from connector.domain.policy import Policy
from connector.engine.crm_records import FOLLOW_UP
from connector.engine.reply_policy import ReplyPolicy
from connector.engine.tasks import OPT_OUT_REVIEW

_CONSENT = {KeywordKind.OPT_OUT: "opted_out", KeywordKind.OPT_IN: "opted_in"}


class BadReplyError(ValueError):
    """A text that no SMS could carry: empty, or longer than the provider accepts."""


def check_texts(texts: Sequence[str]) -> None:
    for index, text in enumerate(texts, start=1):
        if not text.strip():
            raise BadReplyError(f"text {index} is empty; pass each reply in quotes")
        if len(text) > MAX_TEXT:
            raise BadReplyError(
                f"text {index} has {len(text)} characters; an SMS carries at most {MAX_TEXT}"
            )


@dataclass(frozen=True, slots=True)
class Preview:
    text: str
    found: Classification
    policy: Policy

    def as_json(self) -> dict[str, Any]:
        match = self.found.compliance
        task = (
            FOLLOW_UP if self.found.creates_task else OPT_OUT_REVIEW if self.found.review else None
        )
        return {
            "text": self.text,
            "compliance": match.kind.value if match is not None else None,
            "disposition": self.found.name,
            "rule": self.found.disposition.rule,
            "matched": self.found.matched or None,
            "language": match.language if match is not None else None,
            "unsure": bool(match is not None and match.unsure),
            "creates_task": task is not None,
            "task": task,
            "consent": _CONSENT.get(match.kind) if match is not None else None,
            "reply": self._reply(),
        }

    def _reply(self) -> dict[str, Any] | None:
        """The HELP answer or opt-out confirmation that would follow, and who sends it."""
        match = self.found.compliance
        if match is None or match.kind is KeywordKind.OPT_IN:
            return None
        keywords = self.policy.keywords
        text = keywords.text_for(match.kind)
        if keywords.answered_by is AnsweredBy.PROVIDER:
            return {"sent_by": "provider", "text": None}
        if text is None:
            return {"sent_by": None, "text": None, "why": "no policy.keywords.help_text"}
        return {"sent_by": "smsync", "text": text}

    def line(self) -> str:
        shown = self.as_json()
        what = shown["compliance"] or "no compliance keyword"
        parts = [f"{self.text!r}: {what}", f"disposition {shown['disposition']}"]
        parts.append(
            f"rule {shown['rule']}" + (f" ({shown['matched']})" if shown["matched"] else "")
        )
        parts.append(f"task {shown['task']}" if shown["task"] else "no task")
        reply = shown["reply"]
        if reply is not None:
            who = reply["sent_by"] or "nobody"
            parts.append(f"reply by {who}" + (f": {reply['text']!r}" if reply["text"] else ""))
        return "; ".join(parts)


def preview(
    texts: Sequence[str], *, mapping: MappingConfig, policy: Policy, opted_out: bool
) -> list[Preview]:
    check_texts(texts)
    rules = ReplyPolicy.from_mapping(mapping).rules
    sender = Sender(opted_out=opted_out)
    return [
        Preview(
            text,
            classify(text, rules, keyword_rules=policy.keywords.rules, sender=sender),
            policy,
        )
        for text in texts
    ]

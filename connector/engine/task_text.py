"""The words of a task a rep acts on: who wrote (a name, not a record id), the gist of
what they asked, the latest texts of the conversation in the owner's zone, and where a
record is in the CRM. Pure: the engine gathers the facts, this puts them in words."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from connector.domain.model import ContactState, CrmRef, Direction, Message
from connector.domain.sla import clock_words

# What a reply of each built-in disposition asks, as the subject says it.
GISTS: Mapping[str, str] = {
    "interested": "is interested",
    "confirmed": "confirmed",
    "reschedule_requested": "asked to reschedule",
    "pricing_question": "asked about pricing",
    "not_now": "said not now",
    "wrong_number": "says it is a wrong number",
    "opted_out": "opted out",
    "help": "asked for help",
    "unclassified": "replied",
    "link_clicked": "clicked a link in our text",
}


def gist(disposition: str) -> str:
    """``asked about pricing``; a disposition of the mapping's own vocabulary reads as
    ``replied (demo request)``."""
    found = GISTS.get(disposition)
    return found if found is not None else f"replied ({disposition.replace('_', ' ')})"


def person_name(state: ContactState | None, fallback: str) -> str:
    """The record's first and last name (the segments the mapping names), else
    `fallback` (the whole number: the CRM is not a log)."""
    if state is None:
        return fallback
    seg = state.segments
    parts = [seg.get(k, "").strip() for k in ("first_name", "last_name")]
    name = " ".join(p for p in parts if p)
    return name or seg.get("full_name", "").strip() or fallback


@dataclass(frozen=True, slots=True)
class Thread:
    """The latest texts with one number, oldest first, and who is on the other end."""

    messages: tuple[Message, ...]
    name: str

    def lines(self, zone: ZoneInfo) -> str:
        out = []
        for m in self.messages:
            when = clock_words(m.at, zone)
            if m.direction is Direction.INBOUND:
                who = self.name
            else:
                who = f"Us ({m.play})" if m.play else "Us"
            body = " ".join(m.body.split())
            out.append(f"[{when}] {who}: {body}")
        return "\n".join(out) if out else "(no texts stored)"


def _conversation_order(m: Message) -> tuple[datetime, int, str]:
    """Twilio stamps a text we send to the second (RFC 2822) and a received one to the
    microsecond at intake, so the answer to a reply (an opt-out confirmation, a HELP text)
    can sort before the reply within its second: compare whole seconds, the reply first."""
    outbound = int(m.direction is Direction.OUTBOUND)
    return (m.at.replace(microsecond=0), outbound, m.sid)


def thread_of(messages: Sequence[Message], name: str, limit: int) -> Thread:
    """The last `limit` of `messages` (any order in), oldest first."""
    ordered = sorted(messages, key=_conversation_order)
    return Thread(tuple(ordered[-limit:]), name)


def record_lines(refs: Sequence[CrmRef], links: Mapping[CrmRef, str | None]) -> str:
    """One line per candidate record, with its link when the CRM gives one."""
    out = []
    for ref in refs:
        url = links.get(ref)
        out.append(f"- {ref.object_type} {ref.id}" + (f": {url}" if url else ""))
    return "\n".join(out)

"""Reps answering from the CRM: a rep creates the mapping's `rep_send:` record on the
person (Salesforce: a Task with Type SMS and Status "Send SMS"; HubSpot: a task marked
SMS, associated with the contact) through the vendor's REST API, as the CRM's UI would,
and smsync's `rep_send` job sends it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from connector.config import RepSend
from connector.demo.crm_admin import CrmAdmin
from connector.demo.world import World
from connector.domain.model import CrmRef
from connector.store import SqlStore, contacts, sla, sms_outbox


def send_record(
    vendor: str, cfg: RepSend, contact: CrmRef, owner_id: str, body: str, *, due_ms: int = 0
) -> dict[str, Any]:
    """The values a rep fills in: the status that asks for a send, the kind, the text;
    the rep owns it (the activity smsync logs is the rep's)."""
    values: dict[str, Any] = {cfg.status_field: cfg.send_status, cfg.body_field: body}
    if cfg.kind_field is not None:
        values[cfg.kind_field] = cfg.kind
    if vendor == "salesforce":
        values.update(WhoId=contact.id, OwnerId=owner_id, Subject="SMS reply")
    else:
        values.update(
            hubspot_owner_id=owner_id, hs_task_subject="SMS reply", hs_timestamp=str(due_ms)
        )
    return values


def text_back(
    admin: CrmAdmin, cfg: RepSend, contact: CrmRef, owner_id: str, body: str, *, now_ms: int = 0
) -> str:
    """A rep texts `body` to `contact` from the CRM; the new record's id."""
    values = send_record(admin.vendor, cfg, contact, owner_id, body, due_ms=now_ms)
    linked = contact.id if admin.vendor == "hubspot" else None
    return admin.create(cfg.object, values, contact=linked)


# What reps text back, in turn (a rep's own words, not a play's template).
ANSWERS: tuple[str, ...] = (
    "Thanks for getting back to me! Do you have 15 minutes tomorrow at 10?",
    "Happy to help: I just emailed you the price sheet. Any questions, text me here.",
    "Sure, what day works better for you this week?",
)


class RepDesk:
    """Reps answering the day's follow-ups from the CRM: some inside the SLA, some after
    it breached. Who answers is read from the store (the open and breached timers) in a
    fixed order, so a run tells the same story; what happened is counted elsewhere
    (`figures`), from the store and the sandbox, not from this tally."""

    def __init__(
        self, admin: CrmAdmin, cfg: RepSend, owner_of: Callable[[CrmRef], str | None]
    ) -> None:
        self.admin = admin
        self.cfg = cfg
        self.owner_of = owner_of

    def answer(self, people: Sequence[CrmRef], now_ms: int) -> int:
        done = 0
        for i, person in enumerate(people):
            owner = self.owner_of(person)
            if owner is None:
                continue
            text_back(self.admin, self.cfg, person, owner, ANSWERS[i % len(ANSWERS)], now_ms=now_ms)
            done += 1
        return done


def waiting(store: SqlStore, *, breached: bool) -> list[CrmRef]:
    """Records whose reply waits for a rep: timers still open, or breached and unanswered."""
    with store.begin() as conn:
        entries = sla.unanswered_breaches(conn) if breached else sla.open_timers(conn)
    entries = sorted(entries, key=lambda e: (e.timer.started, e.id))  # first come, first served
    return list(dict.fromkeys(e.contact for e in entries))


@dataclass(frozen=True, slots=True)
class RepFigures:
    rep_replies: int  # the CRM's send records that read "sent" (the sandbox's own rows)
    rep_texts_sent: int  # the store's sent texts keyed rep: (a note when the two differ)
    sla_met: int  # timers met by their due time
    sla_missed: int  # timers breached, or met only after their due time


def figures(world: World) -> RepFigures:
    cfg = world.mapping.rep_send
    crm_rows = (
        len(world.sandbox.emulators[world.crm].find(cfg.object, cfg.result_field, "sent"))
        if cfg is not None
        else 0
    )
    with world.store.begin() as conn:
        sent = sms_outbox.sent_with_prefix(conn, "rep:")
        met, missed = sla.outcome_counts(conn)
    return RepFigures(crm_rows, sent, met, missed)


def owners_in(store: SqlStore) -> Callable[[CrmRef], str | None]:
    """The record's owner as smsync last pulled it: the rep who answers."""

    def owner_of(ref: CrmRef) -> str | None:
        with store.begin() as conn:
            state = contacts.get(conn, ref)
        return state.owner_id if state is not None else None

    return owner_of

"""plan: the pull's signals start plays; governance decides each candidate; allowed and
deferred sends enter the SMS outbox in the pull's own transaction.

`PlaysPlanner` is the engine's `Planner` (see `connector.engine.context`). Every
evaluation, blocked or not, goes to the decision log. A queued text keeps its trigger time
in its idempotency key (`play:<play>:<contact>:<trigger time>`), so re-planning the same
change queues nothing twice and the send step can re-check the play's expiry."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from pathlib import Path

import structlog

from connector.config import MappingConfig, Settings, load_plays, to_policy
from connector.domain import plays as p
from connector.domain.caps import SendKind
from connector.domain.governance import (
    PREEMPTED,
    Evaluation,
    Reason,
    SendCandidate,
    evaluate_batch,
)
from connector.domain.instants import parse_instant
from connector.domain.model import ContactState, Verdict
from connector.domain.policy import Policy
from connector.domain.signals import Signal, SignalKind
from connector.domain.template_values import MEETING
from connector.engine import contact_context
from connector.engine.decisions import entry, record
from connector.engine.drop_tasks import call_instead
from connector.engine.outbox_keys import play_key
from connector.engine.segments import apart
from connector.ports import Connection
from connector.store import decisions, sms_outbox

log = structlog.get_logger(__name__)

DEFAULT_PLAYS = Path("mappings") / "plays.yaml"
# CRM-side fields whose changes `field_changed` triggers can name, by signal kind
_FIELD_OF: dict[SignalKind, str] = {
    SignalKind.STAGE_CHANGED: "lifecycle_stage",
    SignalKind.JOURNEY_CHANGED: "journey_state",
    SignalKind.OWNER_CHANGED: "owner",
    SignalKind.CONSENT_CHANGED: "consent_status",
}


def play_signals(signal: Signal, contact: ContactState, now: datetime) -> list[p.Signal]:
    """The pull's signal as the plays' triggers read it: a field change for every change
    (of any mapped field or segment, by its canonical name),
    plus the specific kinds (stage entered, meeting booked, form submitted, a date coming
    due, inactive)."""
    at = signal.at or now
    details = signal.details
    old, new = details.get("from"), details.get("to")
    out: list[p.Signal] = []
    field_name = _FIELD_OF.get(signal.kind)
    if signal.kind is SignalKind.FIELD_CHANGED:
        field_name = str(details.get("field"))
    if field_name is not None:
        out.append(
            p.Signal(p.SignalKind.FIELD_CHANGED, at, {"field": field_name, "old": old, "new": new})
        )
    if signal.kind is SignalKind.STAGE_CHANGED:
        out.append(p.Signal(p.SignalKind.STAGE_CHANGED, at, {"old": old, "new": new}))
    elif signal.kind is SignalKind.MEETING_BOOKED:
        meeting: dict[str, p.SignalValue] = {"field": MEETING}
        starts = parse_instant(contact.segments.get(MEETING))
        if starts is not None:
            meeting["at"] = starts
        out.append(p.Signal(p.SignalKind.MEETING_BOOKED, at, meeting))
    elif signal.kind is SignalKind.FORM_SUBMITTED:
        form = details.get("form")
        when = parse_instant(str(details.get("at") or "")) or at
        named = None if form is None else str(form)
        out.append(p.Signal(p.SignalKind.FORM_SUBMITTED, when, {"form": named}))
    elif signal.kind is SignalKind.DATE_DUE:
        due = parse_instant(str(details.get("at") or ""))
        if due is not None:
            date_details: dict[str, p.SignalValue] = {
                "field": str(details.get("field")),
                "at": due,
                "before_s": details.get("before_s"),
            }
            out.append(p.Signal(p.SignalKind.DATE_SET, at, date_details))
    elif signal.kind is SignalKind.LINK_CLICKED:
        clicked = {"link": details.get("link"), "play": details.get("play")}
        out.append(p.Signal(p.SignalKind.LINK_CLICKED, at, clicked))
    elif signal.kind is SignalKind.INACTIVE:
        days = details.get("days")
        out.append(
            p.Signal(p.SignalKind.INACTIVE, at, {"days": days if isinstance(days, int) else 0})
        )
    return out


@dataclass(frozen=True, slots=True)
class PlanOutcome:
    """One evaluated candidate, for callers that report (dry runs, tests)."""

    play: str
    verdict: Verdict
    reasons: tuple[str, ...]
    send_at: datetime | None
    queued: bool


class PlaysPlanner:
    """Signals -> triggered plays -> governance -> decision log + SMS outbox."""

    def __init__(self, policy: Policy, plays: Mapping[str, p.Play] | None = None) -> None:
        self.policy = policy
        self.plays: Mapping[str, p.Play] = policy.plays if plays is None else plays

    def candidates(
        self, contact: ContactState, signals: Sequence[Signal], now: datetime
    ) -> list[SendCandidate]:
        """One candidate per play and trigger time, highest priority first."""
        seen: set[tuple[str, datetime]] = set()
        found: list[SendCandidate] = []
        for signal in signals:
            for adapted in play_signals(signal, contact, now):
                for hit in p.triggered(self.plays, adapted):
                    key = (hit.play.name, hit.fired_at)
                    if key not in seen:
                        seen.add(key)
                        found.append(SendCandidate(SendKind.PLAY, hit.play, hit.fired_at))
        return found

    def evaluate(
        self, conn: Connection, contact: ContactState, signals: Sequence[Signal], now: datetime
    ) -> list[PlanOutcome]:
        """Decide, log and queue; the outcomes say what happened to each candidate."""
        return self.evaluate_many(conn, [(contact, signals)], now)[0]

    def evaluate_many(
        self, conn: Connection, items: Sequence[PlanItem], now: datetime
    ) -> list[list[PlanOutcome]]:
        """`evaluate` of many contacts, in order, set-based: a page of due contacts costs a
        few queries, not a few per contact (issue #21). Each segment is read, decided, then
        written; it never holds two contacts sharing a record or a number, so none is
        decided on what another's writes in the same segment would have changed."""
        out: list[list[PlanOutcome]] = []
        for segment in _segments(items):
            out += self._evaluate_segment(conn, segment, now)
        return out

    def _evaluate_segment(
        self, conn: Connection, segment: Sequence[PlanItem], now: datetime
    ) -> list[list[PlanOutcome]]:
        found = [
            (contact, [] if contact.deleted else self.candidates(contact, signals, now))
            for contact, signals in segment
        ]
        # a trigger already decided and queued (the booking queued its reminder; the clock
        # sees the same date come due) is not decided again: one decision per trigger
        queued_keys = sms_outbox.existing_keys(
            conn, (key for contact, cands in found for c in cands if (key := _key(c, contact)))
        )
        todo = [
            (i, contact, kept)
            for i, (contact, cands) in enumerate(found)
            if (kept := [c for c in cands if _key(c, contact) not in queued_keys])
        ]
        contexts = contact_context.load_many(
            conn,
            [contact for _, contact, _ in todo],
            default_zone=self.policy.quiet_hours.default_zone,
        )
        writes = _Writes(conn, now)
        decided: list[tuple[int, ContactState, list[tuple[str, Evaluation, str | None]]]] = []
        for (i, contact, candidates), ctx in zip(todo, contexts, strict=True):
            results = evaluate_batch(candidates, ctx, self.policy, now, preempt=True)
            rows = [
                _decide(writes, contact, candidate, evaluated)
                for candidate, evaluated in zip(candidates, results, strict=True)
            ]
            decided.append((i, contact, rows))
        writes.flush()
        out: list[list[PlanOutcome]] = [[] for _ in segment]
        for i, contact, rows in decided:
            out[i] = [
                PlanOutcome(
                    play,
                    result.verdict,
                    result.decision.reasons,
                    result.send_at,
                    key is not None and key in writes.queued,
                )
                for play, result, key in rows
            ]
            log.info(
                "plan.evaluated",
                contact=str(contact.ref),
                candidates=len(rows),
                queued=sum(o.queued for o in out[i]),
            )
        return out

    def plan(
        self, conn: Connection, contact: ContactState, signals: Sequence[Signal], now: datetime
    ) -> int:
        return self.plan_many(conn, [(contact, signals)], now)

    def plan_many(self, conn: Connection, items: Sequence[PlanItem], now: datetime) -> int:
        """`plan` of many contacts (a page of due contacts); how many sends were queued."""
        return sum(o.queued for outcomes in self.evaluate_many(conn, items, now) for o in outcomes)


PlanItem = tuple[ContactState, Sequence[Signal]]  # a contact and the signals it gave
SEGMENT = 500  # contacts read and written together, at most


def _segments(items: Sequence[PlanItem]) -> Iterator[list[PlanItem]]:
    """The items cut, in order, where a record or a number comes again or at `SEGMENT`
    (`engine.segments`): reading every contact's context before writing any decision
    then sees what the one-by-one plan saw."""
    return apart(items, itemgetter(0), limit=SEGMENT)


def _key(candidate: SendCandidate, contact: ContactState) -> str | None:
    """The outbox key a play's candidate would queue under (None: not a play's)."""
    if candidate.play is None or candidate.triggered_at is None:
        return None
    return play_key(candidate.play.name, contact.ref, candidate.triggered_at)


@dataclass
class _Writes:
    """A segment's decisions and texts, written in one statement each; `queued` holds the
    keys inserted so far."""

    conn: Connection
    now: datetime
    decisions: list[decisions.Entry] = field(default_factory=list)
    texts: list[sms_outbox.Queued] = field(default_factory=list)
    queued: set[str] = field(default_factory=set)

    def flush(self) -> None:
        decisions.append_many(self.conn, self.decisions, self.now)
        self.queued |= sms_outbox.enqueue_many(self.conn, self.texts, self.now)
        self.decisions, self.texts = [], []


def _decide(
    writes: _Writes, contact: ContactState, candidate: SendCandidate, evaluated: Evaluation
) -> tuple[str, Evaluation, str | None]:
    """One candidate's decision and text into `writes`; (play, result, the key of the
    text to queue, None when blocked)."""
    play = candidate.play
    assert play is not None
    assert candidate.triggered_at is not None
    if evaluated.displaces is not None:
        writes.flush()  # the log keeps the order of the one-by-one plan
    conn, now = writes.conn, writes.now
    result = _take_place(conn, evaluated, play, now)
    writes.decisions.append(entry(result, contact=contact.ref, phone=contact.phone, play=play.name))
    if result.verdict is Verdict.BLOCK:
        call_instead(
            conn,
            play,
            contact.ref,
            result.reasons,
            candidate.triggered_at,
            now=now,
            owner_id=contact.owner_id,
        )
        return play.name, result, None
    assert result.send_at is not None
    assert result.body is not None
    assert contact.phone is not None  # governance blocks a missing number
    key = play_key(play.name, contact.ref, candidate.triggered_at)
    writes.texts.append(
        sms_outbox.Queued(key, contact.phone, result.body, result.send_at, contact.ref, play.name)
    )
    return play.name, result, key


def _take_place(conn: Connection, result: Evaluation, play: p.Play, now: datetime) -> Evaluation:
    """Withdraw the queued text a higher-priority play displaces, with its own decision
    (`preempted`); if a sender claimed it meanwhile, the cap is full after all."""
    if result.displaces is None:
        return result
    detail = f"by {play.name} (priority {play.priority})"
    withdrawn = sms_outbox.withdraw(conn, result.displaces, f"{PREEMPTED}: {detail}", now)
    if withdrawn is None:
        reason = Reason("daily_cap", "the text it would replace is already going out")
        return Evaluation(Verdict.BLOCK, (reason,), None, result.zones, result.holdout)
    record(
        conn,
        Evaluation(Verdict.BLOCK, (Reason(PREEMPTED, detail),)),
        now,
        contact=withdrawn.contact,
        phone=withdrawn.to,
        play=withdrawn.play,
    )
    log.info("plan.preempted", play=play.name, withdrawn=withdrawn.play)
    return result


def plays_path(settings: Settings) -> Path | None:
    """`SMSYNC_PLAYS`, else `mappings/plays.yaml` when it exists, else None (no plays)."""
    if settings.plays is not None:
        return settings.plays
    return DEFAULT_PLAYS if DEFAULT_PLAYS.is_file() else None


def load_policy(settings: Settings, mapping: MappingConfig | None = None) -> Policy | None:
    """The governance policy from the plays file (validated against the mapping), or None
    when there is no plays file. A bad file raises `PlaysError` with every problem."""
    path = plays_path(settings)
    if path is None:
        return None
    return to_policy(load_plays(path, mapping))


def build_planner(settings: Settings, mapping: MappingConfig | None = None) -> PlaysPlanner | None:
    policy = load_policy(settings, mapping)
    return None if policy is None else PlaysPlanner(policy)

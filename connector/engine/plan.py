"""plan: the pull's signals start plays; governance decides each candidate; allowed and
deferred sends enter the SMS outbox in the pull's own transaction.

`PlaysPlanner` is the engine's `Planner` (see `connector.engine.context`). Every
evaluation, blocked or not, goes to the decision log. A queued text keeps its trigger time
in its idempotency key (`play:<play>:<contact>:<trigger time>`), so re-planning the same
change queues nothing twice and the send step can re-check the play's expiry."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
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
from connector.engine.decisions import record
from connector.engine.drop_tasks import call_instead
from connector.engine.outbox_keys import play_key
from connector.ports import Connection
from connector.store import sms_outbox

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
        if contact.deleted:
            return []
        # a trigger already decided and queued (the booking queued its reminder; the clock
        # sees the same date come due) is not decided again: one decision per trigger
        candidates = [
            c
            for c in self.candidates(contact, signals, now)
            if c.play is None
            or c.triggered_at is None
            or sms_outbox.by_key(conn, play_key(c.play.name, contact.ref, c.triggered_at)) is None
        ]
        if not candidates:
            return []
        ctx = contact_context.load(conn, contact, default_zone=self.policy.quiet_hours.default_zone)
        results = evaluate_batch(candidates, ctx, self.policy, now, preempt=True)
        outcomes: list[PlanOutcome] = []
        for candidate, evaluated in zip(candidates, results, strict=True):
            play = candidate.play
            assert play is not None
            assert candidate.triggered_at is not None
            result = _take_place(conn, evaluated, play, now)
            record(conn, result, now, contact=contact.ref, phone=contact.phone, play=play.name)
            queued = False
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
            else:
                assert result.send_at is not None
                assert result.body is not None
                assert contact.phone is not None  # governance blocks a missing number
                queued = sms_outbox.enqueue(
                    conn,
                    play_key(play.name, contact.ref, candidate.triggered_at),
                    to=contact.phone,
                    body=result.body,
                    send_at=result.send_at,
                    now=now,
                    contact=contact.ref,
                    play=play.name,
                )
            outcomes.append(
                PlanOutcome(
                    play.name, result.verdict, result.decision.reasons, result.send_at, queued
                )
            )
        log.info(
            "plan.evaluated",
            contact=str(contact.ref),
            candidates=len(candidates),
            queued=sum(o.queued for o in outcomes),
        )
        return outcomes

    def plan(
        self, conn: Connection, contact: ContactState, signals: Sequence[Signal], now: datetime
    ) -> int:
        return sum(o.queued for o in self.evaluate(conn, contact, signals, now))


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

"""The one chokepoint every outbound text passes: allow, defer (with a send-at) or block,
with stable reason codes and a human detail for each.

Checks run in this order; the first block wins, so the reason shown is the strongest:

1. consent      `opted_out`, `consent_required` (opt-in regions), and for the opt-out
                confirmation `not_opted_out` / `already_confirmed` (it goes exactly once)
                / `confirmation_late` (more than 5 minutes after the opt-out, FCC)
2. number       `invalid_number`, `landline`; then the text itself: `missing_data`,
                `body_too_long` (over Twilio's 1,600 characters: refused here, before
                the provider, for plays, manual sends and auto-replies alike)
3. timing       `expired` (past the play's expiry), `unknown_zone` (held), `quiet_hours`
                (defer to the next opening in every zone the recipient may be in, under
                the policy's window and every applicable state rule, or drop as the play
                says); a play's delay defers with `delay`
4. caps         `daily_cap`, `weekly_cap` (all plays), `play_cap`, `play_cooldown`,
                `state_cap` (a state's "3 per 24 hours on one subject", per play, rolling)
5. suppression  `active_conversation`, `open_task`, `rep_engaged`,
                `higher_priority_play`, `cooldown` (after not_now), `segment_excluded`
6. holdout      `holdout` (the assignment is returned for every play evaluation)

Which checks apply to which kind of send:

    kind                  consent  number/data  timing+quiet  caps  suppression  holdout
    play                  yes      yes          yes           yes   yes          yes
    manual                yes      yes          yes (defer)   no    no           no
    help_reply            opt-out  yes          no            no    no           no
    opt_out_confirmation  once     yes          no            no    no           no

Manual sends are a person's decision, so caps, suppression and holdout do not apply, but
consent, the number and quiet hours do (deferred, never dropped). Auto-replies answer a
text the contact just sent, so they go at once; HELP still never reaches an opted-out
number. Only automated play sends count towards the caps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from connector.domain import recipient
from connector.domain.caps import SendKind, SentRecord, bucket_of, exceeded, usage
from connector.domain.disclosure import LANGUAGE_SEGMENT, first_text, with_instruction
from connector.domain.holdout import HoldoutAssignment, assign
from connector.domain.model import (
    MAX_SMS_CHARS,
    ConsentStatus,
    ContactState,
    Decision,
    Verdict,
)
from connector.domain.plays import OutsideWindow, Play
from connector.domain.policy import ConsentMode, Policy
from connector.domain.quiet_hours import (
    Span,
    Window,
    ZoneResolution,
    next_opening,
    zone_info,
)
from connector.domain.state_rules import StateRule
from connector.domain.zones import NumberFacts, number_facts

_UNKNOWN_ZONE = "Etc/Unknown"
# The opt-out confirmation goes within this of the opt-out, or not at all (FCC 2024 order,
# 47 CFR 64.1200(a)(12)).
CONFIRMATION_WINDOW = timedelta(minutes=5)
PREEMPTS = "preempts"  # a note: this play took a queued lower-priority text's place
PREEMPTED = "preempted"  # the withdrawn text's own decision


@dataclass(frozen=True, slots=True)
class Reason:
    """A stable snake_case `code` for counting and filtering, and a `detail` for people."""

    code: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}" if self.detail else self.code


@dataclass(frozen=True, slots=True)
class SendCandidate:
    """A text something wants to send. Plays render their template; manual sends and
    auto-replies may carry their own `body`."""

    kind: SendKind
    play: Play | None = None
    triggered_at: datetime | None = None  # when the play's trigger fired
    body: str | None = None


@dataclass(frozen=True, slots=True)
class ContactContext:
    """Everything governance needs to know about the recipient, already in memory."""

    state: ContactState
    values: Mapping[str, str | None] = field(default_factory=dict)  # fields and tokens
    sends: tuple[SentRecord, ...] = ()  # sent and scheduled outbound texts
    last_inbound_at: datetime | None = None
    last_rep_activity_at: datetime | None = None  # the mapped last-activity field
    open_task: bool = False
    not_now_at: datetime | None = None
    opted_out_at: datetime | None = None  # latest opt-out; confirmations count after it
    line_type: str | None = None  # from a carrier lookup when known: mobile, landline, voip

    def field_value(self, name: str) -> str | None:
        """A canonical field, segment or token value, by canonical name."""
        if name in self.values:
            return self.values[name]
        if name in self.state.segments:
            return self.state.segments[name]
        value = getattr(self.state, name, None) if name in _STATE_FIELDS else None
        return None if value is None else str(value)


_STATE_FIELDS = frozenset(
    {
        "lifecycle_stage",
        "journey_state",
        "active_motion",
        "disposition",
        "owner_team",
        "owner_id",
        "consent",
    }
)


@dataclass(frozen=True, slots=True)
class EvaluationInputs:
    """The facts about the candidate and recipient an evaluation depended on, kept so the
    decision log can show why without the phone number or the contact's history."""

    kind: SendKind
    consent: ConsentStatus
    region: str | None = None
    triggered_at: datetime | None = None
    prior_sends: int = 0  # sent and scheduled texts the caps and cooldowns counted
    trigger: str | None = None  # what an auto-reply answers: the inbound verdict, its rule


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The decision plus what the decision log persists beside it."""

    verdict: Verdict
    reasons: tuple[Reason, ...]
    send_at: datetime | None = None
    zones: ZoneResolution | None = None
    holdout: HoldoutAssignment | None = None
    body: str | None = None
    inputs: EvaluationInputs | None = None  # None for verdicts reached outside `evaluate`
    displaces: int | None = None  # the queued outbox row this play takes the place of

    @property
    def decision(self) -> Decision:
        return Decision(self.verdict, tuple(r.code for r in self.reasons), self.send_at)


class _Blocked(Exception):  # noqa: N818 - internal control flow, never escapes
    def __init__(self, reason: Reason) -> None:
        self.reason = reason


def _block(code: str, detail: str = "") -> _Blocked:
    return _Blocked(Reason(code, detail))


def _fmt(at: datetime) -> str:
    return at.isoformat(timespec="minutes")


def _consent(candidate: SendCandidate, ctx: ContactContext, policy: Policy, now: datetime) -> None:
    state = ctx.state
    if candidate.kind is SendKind.OPT_OUT_CONFIRMATION:
        if state.consent is not ConsentStatus.OPTED_OUT:
            raise _block("not_opted_out", "an opt-out confirmation needs an opt-out")
        since = ctx.opted_out_at
        for sent in ctx.sends:
            if sent.kind is SendKind.OPT_OUT_CONFIRMATION and (since is None or sent.at >= since):
                raise _block("already_confirmed", f"confirmation sent {_fmt(sent.at)}")
        if since is not None and now - since > CONFIRMATION_WINDOW:
            raise _block("confirmation_late", f"opted out {_fmt(since)}; the 5 minutes passed")
        return
    if state.consent is ConsentStatus.OPTED_OUT:
        raise _block("opted_out", "the number opted out")
    if candidate.kind is SendKind.HELP_REPLY:
        return
    region = state.segments.get(policy.region_segment)
    mode = policy.consent.mode(region)
    if mode is ConsentMode.OPT_IN_REQUIRED and state.consent is not ConsentStatus.OPTED_IN:
        where = f"region {region}" if region else "default"
        raise _block("consent_required", f"{where} requires opt-in; consent is {state.consent}")


def _number(ctx: ContactContext) -> tuple[str, ...]:
    phone = ctx.state.phone
    if not phone:
        raise _block("invalid_number", "no phone number")
    facts = number_facts(phone)
    if not facts.valid:
        raise _block("invalid_number", "not a valid number for its region")
    if facts.landline or ctx.line_type == "landline":
        source = "carrier lookup" if ctx.line_type == "landline" else "numbering plan"
        raise _block("landline", f"fixed line ({source})")
    return facts.zones


def _body(
    candidate: SendCandidate, ctx: ContactContext, policy: Policy, now: datetime
) -> str | None:
    if candidate.body is not None:
        if not candidate.body.strip():
            raise _block("missing_data", "empty body")
        return _within_limit(candidate.body)
    if candidate.play is None:
        return None  # auto-replies may leave the text to the caller
    text, missing = candidate.play.template.render(ctx.values)
    if text is None:
        raise _block("missing_data", f"no value for required {', '.join(missing)}")
    if first_text(ctx.sends, now):  # a play's template, automated or sent by a rep
        language = ctx.field_value(LANGUAGE_SEGMENT)
        text, _ = with_instruction(text, policy.opt_out_instruction, language)
    return _within_limit(text)


def _within_limit(text: str) -> str:
    """The provider refuses a longer text (Twilio 21617) after it was allowed and queued;
    refusing it here keeps the verdict honest and the reason in `smsync explain`."""
    if len(text) > MAX_SMS_CHARS:
        raise _block("body_too_long", f"{len(text):,} characters; the limit is {MAX_SMS_CHARS:,}")
    return text


def _when(
    candidate: SendCandidate,
    ctx: ContactContext,
    policy: Policy,
    now: datetime,
    zones: ZoneResolution,
) -> tuple[datetime, list[Reason]]:
    """The send time (now or later) and the notes explaining a deferral."""
    play = candidate.play if candidate.kind is SendKind.PLAY else None
    notes: list[Reason] = []
    earliest, expires = now, None
    if play is not None:
        fired = candidate.triggered_at or now
        if play.timing.expires_after is not None:
            expires = fired + play.timing.expires_after
            if now >= expires:
                raise _block("expired", f"window closed {_fmt(expires)}")
        if fired + play.timing.delay > now:
            earliest = fired + play.timing.delay
            notes.append(Reason("delay", f"play delay until {_fmt(earliest)}"))
    quiet = policy.quiet_hours
    if zones.source is None:
        raise _block("unknown_zone", "no time zone known and the policy holds such sends")
    region = ctx.state.segments.get(policy.region_segment)
    rules = recipient.state_rules_for(zones, policy)
    spans: list[Span] = []
    for name in zones.zones:
        window = quiet.window(name, region)
        if play is not None and play.timing.business_hours_only:
            both = _intersect(window, policy.business_hours)
            if both is None:
                raise _block("quiet_hours", "business hours never fall inside quiet hours")
            window = both
        spans.append((zone_info(name), recipient.zone_hours(window, rules)))
    send_at = next_opening(earliest, spans)
    if send_at is None:
        raise _block("quiet_hours", f"no common opening within a week in {recipient.where(zones)}")
    if send_at > earliest:
        closed = recipient.why_closed(earliest, spans, zones)
        if play is not None and play.timing.outside_window is OutsideWindow.DROP:
            raise _block("quiet_hours", f"{closed}; dropped")
        notes.append(Reason("quiet_hours", f"{closed}; deferred to {_fmt(send_at)}"))
    if expires is not None and send_at >= expires:
        raise _block("expired", f"next opening {_fmt(send_at)} is past {_fmt(expires)}")
    return send_at, notes


@lru_cache(maxsize=1024)
def _intersect(window: Window, business: Window) -> Window | None:
    return window.intersect(business)


def _displaceable(
    play: Play, ctx: ContactContext, policy: Policy, at: datetime, *, tz: ZoneInfo, over: str
) -> SentRecord | None:
    """The queued, not yet sent text of a lower-priority play in the full bucket whose
    place `play` may take: the lowest priority first, then the latest scheduled."""
    day, week = bucket_of(at, tz)
    pool: list[tuple[int, float, SentRecord]] = []
    for sent in ctx.sends:
        other = policy.plays.get(sent.play or "")
        if sent.queued_id is None or sent.kind is not SendKind.PLAY or other is None:
            continue
        sent_day, sent_week = bucket_of(sent.at, tz)
        same_bucket = sent_week == week and (over != "day" or sent_day == day)
        if other.priority < play.priority and same_bucket:
            pool.append((other.priority, -sent.at.timestamp(), sent))
    return min(pool, key=lambda p: (p[0], p[1]))[2] if pool else None


def _caps(
    play: Play, ctx: ContactContext, policy: Policy, at: datetime, zone: str, *, preempt: bool
) -> SentRecord | None:
    """Raises when a cap or cooldown blocks; returns the queued text this play takes the
    place of when the contact's cap is full and `preempt` lets priority decide."""
    tz = zone_info(zone)
    total = usage(ctx.sends, at, tz)
    over = exceeded(total, policy.caps)
    victim = None
    if over is not None and preempt:
        victim = _displaceable(play, ctx, policy, at, tz=tz, over=over)
        if victim is not None:
            rest = tuple(s for s in ctx.sends if s is not victim)
            if exceeded(usage(rest, at, tz), policy.caps) is None:
                ctx, over = replace(ctx, sends=rest), None
            else:
                victim = None
    if over == "day":
        raise _block("daily_cap", f"{total.day} of {policy.caps.per_day} today ({zone})")
    if over == "week":
        raise _block("weekly_cap", f"{total.week} of {policy.caps.per_week} this week ({zone})")
    if play.caps is not None:
        mine = usage(ctx.sends, at, tz, play.name)
        over = exceeded(mine, play.caps)
        if over is not None:
            raise _block("play_cap", f"{play.name} already sent {mine.day} today, {mine.week} wk")
    if play.cooldown:
        for sent in ctx.sends:
            if sent.play == play.name and abs(at - sent.at) < play.cooldown:
                raise _block("play_cooldown", f"{play.name} also sent {_fmt(sent.at)}")
    return victim


def _state_caps(
    play: Play, ctx: ContactContext, at: datetime, rules: tuple[StateRule, ...]
) -> None:
    """A state's "N texts per 24 hours on one subject": the subject is the play, and the
    window rolls (any 24 hours holding `at`), across sent and scheduled texts."""
    for rule in rules:
        over = rule.over_cap(play.name, ctx.sends, at)
        if over is not None and rule.subject_cap is not None:
            count, start = over
            raise _block(
                "state_cap",
                f"{rule.state} allows {rule.subject_cap} (the play {play.name});"
                f" {count} already in the window from {_fmt(start)}",
            )


def _suppression(play: Play, ctx: ContactContext, policy: Policy, now: datetime) -> None:
    rules = policy.suppression
    if ctx.last_inbound_at is not None and now - ctx.last_inbound_at < rules.active_conversation:
        raise _block("active_conversation", f"inbound text {_fmt(ctx.last_inbound_at)}")
    if ctx.open_task:
        raise _block("open_task", "an open follow-up task for the contact")
    last = ctx.last_rep_activity_at
    if last is not None and now - last < rules.rep_engaged:
        raise _block("rep_engaged", f"rep activity {_fmt(last)}")
    motion = ctx.state.active_motion
    if motion and motion != play.name:
        other = policy.plays.get(motion)
        if other is not None and other.priority > play.priority:
            raise _block("higher_priority_play", f"{motion} (priority {other.priority})")
    if ctx.not_now_at is not None and now - ctx.not_now_at < rules.not_now_cooldown:
        raise _block("cooldown", f"not_now reply {_fmt(ctx.not_now_at)}")
    for predicate in (*rules.exclusions, *play.exclusions):
        if predicate.matches(ctx.field_value(predicate.field)):
            raise _block("segment_excluded", str(predicate))


def evaluate(
    candidate: SendCandidate,
    ctx: ContactContext,
    policy: Policy,
    now: datetime,
    *,
    preempt: bool = False,
) -> Evaluation:
    """Decide one candidate. Pure: same inputs, same answer; `now` must be aware.

    With `preempt` (planning, not the send-time re-check), a play that finds the
    contact's cap full may take the place of a queued, lower-priority play's text:
    `displaces` names that outbox row, which the caller must withdraw."""
    play = candidate.play if candidate.kind is SendKind.PLAY else None
    if candidate.kind is SendKind.PLAY and play is None:
        raise ValueError("a play send needs its play")
    holdout = (
        assign(str(ctx.state.ref), play.name, play.holdout_percent) if play is not None else None
    )
    zones: ZoneResolution | None = None
    body: str | None = None
    inputs = EvaluationInputs(
        candidate.kind,
        ctx.state.consent,
        ctx.state.segments.get(policy.region_segment),
        candidate.triggered_at,
        len(ctx.sends),
    )
    try:
        _consent(candidate, ctx, policy, now)
        phone_zones = _number(ctx)
        body = _body(candidate, ctx, policy, now)
        if candidate.kind in (SendKind.HELP_REPLY, SendKind.OPT_OUT_CONFIRMATION):
            return Evaluation(Verdict.ALLOW, (), now, None, None, body, inputs)
        zones = recipient.resolve(ctx.state, policy, phone_zones)
        send_at, notes = _when(candidate, ctx, policy, now, zones)
        victim = None
        if play is not None:
            victim = _caps(play, ctx, policy, send_at, zones.zones[0], preempt=preempt)
            _state_caps(play, ctx, send_at, recipient.state_rules_for(zones, policy))
            _suppression(play, ctx, policy, now)
            if holdout is not None and holdout.held_out:
                raise _block("holdout", f"bucket {holdout.bucket:.4f} < {play.holdout_percent}%")
    except _Blocked as blocked:
        return Evaluation(Verdict.BLOCK, (blocked.reason,), None, zones, holdout, None, inputs)
    verdict = Verdict.ALLOW if send_at == now else Verdict.DEFER
    if victim is not None:
        notes.append(Reason(PREEMPTS, f"{victim.play} queued for {_fmt(victim.at)}"))
    displaced = victim.queued_id if victim is not None else None
    return Evaluation(verdict, tuple(notes), send_at, zones, holdout, body, inputs, displaced)


def decide(
    candidate: SendCandidate, ctx: ContactContext, policy: Policy, now: datetime
) -> Decision:
    return evaluate(candidate, ctx, policy, now).decision


def _rank(candidate: SendCandidate) -> tuple[int, int, str]:
    """Auto-replies and manual sends first, then plays by priority, then name."""
    if candidate.play is None or candidate.kind is not SendKind.PLAY:
        return (0, 0, "")
    return (1, -candidate.play.priority, candidate.play.name)


def evaluate_batch(
    candidates: Sequence[SendCandidate],
    ctx: ContactContext,
    policy: Policy,
    now: datetime,
    *,
    preempt: bool = False,
) -> list[Evaluation]:
    """Several candidates for one contact: the highest-priority ones take the caps first,
    and each allowed or deferred send counts against the rest. Results follow the input
    order; `.sends` of the returned context is not kept, so persist the allowed ones."""
    order = sorted(range(len(candidates)), key=lambda i: _rank(candidates[i]))
    results: dict[int, Evaluation] = {}
    sends = list(ctx.sends)
    for i in order:
        candidate = candidates[i]
        result = evaluate(candidate, replace(ctx, sends=tuple(sends)), policy, now, preempt=preempt)
        results[i] = result
        if result.displaces is not None:
            sends = [s for s in sends if s.queued_id != result.displaces]
        if result.verdict is not Verdict.BLOCK and result.send_at is not None:
            name = candidate.play.name if candidate.play is not None else None
            sends.append(SentRecord(result.send_at, candidate.kind, name))
    return [results[i] for i in range(len(candidates))]


def sends_after(
    candidates: Sequence[SendCandidate], results: Sequence[Evaluation]
) -> tuple[SentRecord, ...]:
    """The records to add to a contact's history for the non-blocked results."""
    out = []
    for candidate, result in zip(candidates, results, strict=True):
        if result.verdict is not Verdict.BLOCK and result.send_at is not None:
            name = candidate.play.name if candidate.play is not None else None
            out.append(SentRecord(result.send_at, candidate.kind, name))
    return tuple(out)


__all__ = [
    "ContactContext",
    "Evaluation",
    "EvaluationInputs",
    "NumberFacts",
    "Reason",
    "SendCandidate",
    "SendKind",
    "decide",
    "evaluate",
    "evaluate_batch",
    "number_facts",
    "sends_after",
]

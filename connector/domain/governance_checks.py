"""The chokepoint's checks, one function per stage, in the order `evaluate` runs them
(see `governance.py`): consent, the number and the text, timing and quiet hours, caps,
suppression. Each raises `Blocked` with its reason, or returns what the next stage needs."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from connector.domain import recipient
from connector.domain.caps import SendKind, SentRecord, bucket_of, exceeded, usage
from connector.domain.disclosure import LANGUAGE_SEGMENT, first_text, with_instruction
from connector.domain.governance_model import (
    CONFIRMATION_WINDOW,
    ContactContext,
    Reason,
    SendCandidate,
    block,
    fmt,
)
from connector.domain.model import MAX_SMS_CHARS, ConsentStatus
from connector.domain.plays import OutsideWindow, Play, TriggerKind
from connector.domain.policy import ConsentMode, Policy
from connector.domain.quiet_hours import Span, Window, ZoneResolution, next_opening, zone_info
from connector.domain.state_rules import StateRule
from connector.domain.variants import choose_template
from connector.domain.zones import number_facts


def purpose_of(candidate: SendCandidate) -> str | None:
    """The purpose whose consent a send needs: its play's, if it carries one."""
    return candidate.play.purpose if candidate.play is not None else None


def check_consent(
    candidate: SendCandidate, ctx: ContactContext, policy: Policy, now: datetime
) -> None:
    """Consent for the play's purpose (`domain.purposes`), for a rep sending a play's
    template too; a rep's own text or a HELP answer has no purpose and is checked against
    the opt-outs of every purpose."""
    state = ctx.state
    if candidate.kind is SendKind.OPT_OUT_CONFIRMATION:
        if not ctx.opted_out_of_any():
            raise block("not_opted_out", "an opt-out confirmation needs an opt-out")
        since = ctx.opted_out_at
        for sent in ctx.sends:
            if sent.kind is SendKind.OPT_OUT_CONFIRMATION and (since is None or sent.at >= since):
                raise block("already_confirmed", f"confirmation sent {fmt(sent.at)}")
        if since is not None and now - since > CONFIRMATION_WINDOW:
            raise block("confirmation_late", f"opted out {fmt(since)}; the 5 minutes passed")
        return
    purpose = purpose_of(candidate)
    status = ctx.consent_for(purpose)
    if state.consent is ConsentStatus.OPTED_OUT:
        of = f" (the play's purpose: {purpose})" if purpose else ""
        raise block("opted_out", f"the number opted out of every purpose{of}")
    if status is ConsentStatus.OPTED_OUT:
        raise block("opted_out", f"the number opted out of {purpose}, the play's purpose")
    if candidate.kind is SendKind.HELP_REPLY:
        return
    region = state.segments.get(policy.region_segment)
    mode = policy.consent.mode(region)
    if mode is ConsentMode.OPT_IN_REQUIRED and status is not ConsentStatus.OPTED_IN:
        where = f"region {region}" if region else "default"
        of = f" for {purpose}" if purpose else ""
        raise block("consent_required", f"{where} requires opt-in; consent{of} is {status}")


def check_number(ctx: ContactContext) -> tuple[str, ...]:
    phone = ctx.state.phone
    if not phone:
        raise block("invalid_number", "no phone number")
    facts = number_facts(phone)
    if not facts.valid:
        raise block("invalid_number", "not a valid number for its region")
    if facts.landline or ctx.line_type == "landline":
        source = "carrier lookup" if ctx.line_type == "landline" else "numbering plan"
        raise block("landline", f"fixed line ({source})")
    return facts.zones


def check_body(
    candidate: SendCandidate, ctx: ContactContext, policy: Policy, now: datetime
) -> str | None:
    if candidate.body is not None:
        if not candidate.body.strip():
            raise block("missing_data", "empty body")
        return _within_limit(candidate.body)
    if candidate.play is None:
        return None  # auto-replies may leave the text to the caller
    language = ctx.field_value(LANGUAGE_SEGMENT)
    template, _ = choose_template(candidate.play, language)
    text, missing = template.render(ctx.values)
    if text is None:
        raise block("missing_data", f"no value for required {', '.join(missing)}")
    if first_text(ctx.sends, now):  # a play's template, automated or sent by a rep
        text, _ = with_instruction(text, policy.opt_out_instruction, language)
    return _within_limit(text)


def _within_limit(text: str) -> str:
    """The provider refuses a longer text (Twilio 21617) after it was allowed and queued;
    refusing it here keeps the verdict honest and the reason in `smsync explain`."""
    if len(text) > MAX_SMS_CHARS:
        raise block("body_too_long", f"{len(text):,} characters; the limit is {MAX_SMS_CHARS:,}")
    return text


def check_timing(
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
                raise block("expired", f"window closed {fmt(expires)}")
        if fired + play.timing.delay > now:
            earliest = fired + play.timing.delay
            notes.append(Reason("delay", f"play delay until {fmt(earliest)}"))
    quiet = policy.quiet_hours
    if zones.source is None:
        raise block("unknown_zone", "no time zone known and the policy holds such sends")
    region = ctx.state.segments.get(policy.region_segment)
    rules = recipient.state_rules_for(zones, policy)
    spans: list[Span] = []
    for name in zones.zones:
        window = quiet.window(name, region)
        if play is not None and play.timing.business_hours_only:
            both = _intersect(window, policy.business_hours)
            if both is None:
                raise block("quiet_hours", "business hours never fall inside quiet hours")
            window = both
        spans.append((zone_info(name), recipient.zone_hours(window, rules)))
    send_at = next_opening(earliest, spans)
    if send_at is None:
        raise block("quiet_hours", f"no common opening within a week in {recipient.where(zones)}")
    if send_at > earliest:
        closed = recipient.why_closed(earliest, spans, zones)
        if play is not None and play.timing.outside_window is OutsideWindow.DROP:
            raise block("quiet_hours", f"{closed}; dropped")
        notes.append(Reason("quiet_hours", f"{closed}; deferred to {fmt(send_at)}"))
    if expires is not None and send_at >= expires:
        raise block("expired", f"next opening {fmt(send_at)} is past {fmt(expires)}")
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


def check_caps(
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
        raise block("daily_cap", f"{total.day} of {policy.caps.per_day} today ({zone})")
    if over == "week":
        raise block("weekly_cap", f"{total.week} of {policy.caps.per_week} this week ({zone})")
    if play.caps is not None:
        mine = usage(ctx.sends, at, tz, play.name)
        over = exceeded(mine, play.caps)
        if over is not None:
            raise block("play_cap", f"{play.name} already sent {mine.day} today, {mine.week} wk")
    if play.cooldown:
        for sent in ctx.sends:
            if sent.play == play.name and abs(at - sent.at) < play.cooldown:
                raise block("play_cooldown", f"{play.name} also sent {fmt(sent.at)}")
    return victim


def check_state_caps(
    play: Play, ctx: ContactContext, at: datetime, rules: tuple[StateRule, ...]
) -> None:
    """A state's "N texts per 24 hours on one subject": the subject is the play, and the
    window rolls (any 24 hours holding `at`), across sent and scheduled texts."""
    for rule in rules:
        over = rule.over_cap(play.name, ctx.sends, at)
        if over is not None and rule.subject_cap is not None:
            count, start = over
            raise block(
                "state_cap",
                f"{rule.state} allows {rule.subject_cap} (the play {play.name});"
                f" {count} already in the window from {fmt(start)}",
            )


def check_suppression(play: Play, ctx: ContactContext, policy: Policy, now: datetime) -> None:
    rules = policy.suppression
    if ctx.last_inbound_at is not None and now - ctx.last_inbound_at < rules.active_conversation:
        raise block("active_conversation", f"inbound text {fmt(ctx.last_inbound_at)}")
    clicked = ctx.last_click_at
    answers_click = play.trigger.kind is TriggerKind.LINK_CLICKED  # a play made for the click
    if clicked is not None and not answers_click and now - clicked < rules.active_conversation:
        raise block("active_conversation", f"tracked link clicked {fmt(clicked)}")
    if ctx.open_task:
        raise block("open_task", "an open follow-up task for the contact")
    last = ctx.last_rep_activity_at
    if last is not None and now - last < rules.rep_engaged:
        raise block("rep_engaged", f"rep activity {fmt(last)}")
    motion = ctx.state.active_motion
    if motion and motion != play.name:
        other = policy.plays.get(motion)
        if other is not None and other.priority > play.priority:
            raise block("higher_priority_play", f"{motion} (priority {other.priority})")
    if ctx.not_now_at is not None and now - ctx.not_now_at < rules.not_now_cooldown:
        raise block("cooldown", f"not_now reply {fmt(ctx.not_now_at)}")
    for predicate in (*rules.exclusions, *play.exclusions):
        if predicate.matches(ctx.field_value(predicate.field)):
            raise block("segment_excluded", str(predicate))

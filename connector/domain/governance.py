"""The one chokepoint every outbound text passes: allow, defer (with a send-at) or block,
with stable reason codes and a human detail for each.

Checks run in this order; the first block wins, so the reason shown is the strongest:

1. consent      `opted_out`, `consent_required` (opt-in regions), both for the play's
                purpose (`domain.purposes`, named in the detail), and for the opt-out
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

Before the checks, a treated contact of a play with variants gets its arm
(`domain.variants`, after the holdout, which stays outside the variants): the arm's
template, delay, timing window and cadence are what the checks see and what is sent. The
template is the one in the contact's language (the `language` segment), else the play's
fallback language's.

Which checks apply to which kind of send:

    kind                  consent  number/data  timing+quiet  caps  suppression  holdout
    play                  yes      yes          yes           yes   yes          yes
    manual                yes      yes          yes (defer)   no    no           no
    help_reply            opt-out  yes          no            no    no           no
    opt_out_confirmation  once     yes          no            no    no           no

Manual sends are a person's decision, so caps, suppression and holdout do not apply, but
consent (for the purpose of the play whose template the rep sends, if any), the number and
quiet hours do (deferred, never dropped). Auto-replies answer a
text the contact just sent, so they go at once; HELP still never reaches an opted-out
number. Only automated play sends count towards the caps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from connector.domain import recipient, variants
from connector.domain.caps import SendKind, SentRecord
from connector.domain.disclosure import LANGUAGE_SEGMENT
from connector.domain.governance_checks import (
    check_body,
    check_caps,
    check_consent,
    check_number,
    check_state_caps,
    check_suppression,
    check_timing,
    purpose_of,
)
from connector.domain.governance_model import (
    CONFIRMATION_WINDOW,
    PREEMPTED,
    PREEMPTS,
    Blocked,
    ContactContext,
    Evaluation,
    EvaluationInputs,
    Reason,
    SendCandidate,
    block,
    fmt,
)
from connector.domain.holdout import assign
from connector.domain.model import Decision, Verdict
from connector.domain.policy import Policy
from connector.domain.quiet_hours import ZoneResolution
from connector.domain.zones import NumberFacts, number_facts


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
    # the holdout first; a treated contact's arm then decides what is sent and when
    arm = variants.assign(str(ctx.state.ref), play) if play is not None else None
    if holdout is not None and holdout.held_out:
        arm = None
    if play is not None and arm is not None:
        play = variants.apply(play, variants.variant_named(play, arm.variant))
        candidate = replace(candidate, play=play)
    zones: ZoneResolution | None = None
    body: str | None = None
    purpose = purpose_of(candidate)
    inputs = EvaluationInputs(
        candidate.kind,
        ctx.consent_for(purpose),
        ctx.state.segments.get(policy.region_segment),
        candidate.triggered_at,
        len(ctx.sends),
        purpose=purpose,
        language=(
            variants.choose_template(play, ctx.field_value(LANGUAGE_SEGMENT))[1]
            if play is not None and candidate.body is None
            else None
        ),
    )
    try:
        check_consent(candidate, ctx, policy, now)
        phone_zones = check_number(ctx)
        body = check_body(candidate, ctx, policy, now)
        if candidate.kind in (SendKind.HELP_REPLY, SendKind.OPT_OUT_CONFIRMATION):
            return Evaluation(Verdict.ALLOW, (), now, None, None, body, inputs)
        zones = recipient.resolve(ctx.state, policy, phone_zones)
        send_at, notes = check_timing(candidate, ctx, policy, now, zones)
        victim = None
        if play is not None:
            victim = check_caps(play, ctx, policy, send_at, zones.zones[0], preempt=preempt)
            check_state_caps(play, ctx, send_at, recipient.state_rules_for(zones, policy))
            check_suppression(play, ctx, policy, now)
            if holdout is not None and holdout.held_out:
                raise block("holdout", f"bucket {holdout.bucket:.4f} < {play.holdout_percent}%")
    except Blocked as blocked:
        return Evaluation(
            Verdict.BLOCK, (blocked.reason,), None, zones, holdout, None, inputs, variant=arm
        )
    verdict = Verdict.ALLOW if send_at == now else Verdict.DEFER
    if victim is not None:
        notes.append(Reason(PREEMPTS, f"{victim.play} queued for {fmt(victim.at)}"))
    displaced = victim.queued_id if victim is not None else None
    return Evaluation(
        verdict, tuple(notes), send_at, zones, holdout, body, inputs, displaced, variant=arm
    )


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
    "CONFIRMATION_WINDOW",
    "PREEMPTED",
    "PREEMPTS",
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

"""Every governance evaluation goes to the decision log (`smsync explain`) and the
decision counter, through `record`.

The log keeps reason codes (counted per reason by reports) and, beside them, `details`:
each reason's detail and the inputs the evaluation depended on (consent for the play's
purpose, the purpose, every zone the
recipient may be in with its sources, the US states and their rules, region, kind,
trigger time, prior sends, holdout, the variant (arm) and the template's language, and
for a HELP answer or opt-out confirmation the inbound verdict that caused it), so a decision can be
explained later without re-running it. Never the phone number: it has its own column,
masked on display, and reason details are scrubbed of anything shaped like one.

The holdout arm of a play with a holdout is kept beside the codes so outcomes can be
measured against the control group: held-out contacts carry the blocking reason
`holdout`, treated ones the note `holdout_treated`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from connector.domain.governance import Evaluation, Reason
from connector.domain.model import CrmRef, Decision, Verdict
from connector.logs import scrub_text
from connector.metrics import SMS_DECISIONS
from connector.ports import Connection
from connector.store import decisions

HOLDOUT_TREATED = "holdout_treated"


def record(
    conn: Connection,
    evaluation: Evaluation,
    at: datetime,
    *,
    contact: CrmRef | None,
    phone: str | None,
    play: str | None,
) -> int:
    found = entry(evaluation, contact=contact, phone=phone, play=play)
    return decisions.append(
        conn,
        found.decision,
        at,
        contact=found.contact,
        phone=found.phone,
        play=found.play,
        details=found.details,
        variant=found.variant,
    )


def entry(
    evaluation: Evaluation, *, contact: CrmRef | None, phone: str | None, play: str | None
) -> decisions.Entry:
    """The log row `record` writes, counted: for `decisions.append_many` (a page of
    contacts planned at once)."""
    reasons = _reasons(evaluation)
    decision = Decision(evaluation.verdict, tuple(r.code for r in reasons), evaluation.send_at)
    for code in decision.reasons or ("none",):
        SMS_DECISIONS.labels(verdict=decision.verdict.value, reason=code).inc()
    return decisions.Entry(
        decision,
        details(evaluation, reasons),
        contact=contact,
        phone=phone,
        play=play,
        variant=evaluation.variant.variant if evaluation.variant is not None else None,
    )


def _reasons(evaluation: Evaluation) -> tuple[Reason, ...]:
    """The evaluation's reasons, plus the treated-arm note for a play with a holdout."""
    holdout = evaluation.holdout
    if (
        holdout is not None
        and holdout.percent > 0
        and not holdout.held_out
        and evaluation.verdict is not Verdict.BLOCK
    ):
        note = Reason(HOLDOUT_TREATED, f"bucket {holdout.bucket:.4f} >= {holdout.percent}%")
        return (*evaluation.reasons, note)
    return evaluation.reasons


def details(evaluation: Evaluation, reasons: tuple[Reason, ...] | None = None) -> dict[str, Any]:
    """The JSON kept in decision_log.details; every key is always present (None when the
    evaluation did not get that far or was reached outside governance)."""
    shown = _reasons(evaluation) if reasons is None else reasons
    return {
        "reasons": [{"code": r.code, "detail": scrub_text(r.detail)} for r in shown],
        "inputs": inputs(evaluation),
    }


def inputs(evaluation: Evaluation) -> dict[str, Any]:
    facts, zones, holdout = evaluation.inputs, evaluation.zones, evaluation.holdout
    return {
        "kind": facts.kind.value if facts else None,
        "consent": facts.consent.value if facts else None,
        # the play's purpose: `consent` above is the number's consent for it
        "purpose": facts.purpose if facts else None,
        "region": facts.region if facts else None,
        "triggered_at": facts.triggered_at.isoformat() if facts and facts.triggered_at else None,
        "prior_sends": facts.prior_sends if facts else None,
        # an auto-reply's cause: the inbound verdict with its rule and evidence
        "trigger": scrub_text(facts.trigger) if facts and facts.trigger else None,
        # None: not checked (blocked earlier, or an auto-reply); [] with no source: unknown
        "zones": list(zones.zones) if zones else None,
        "zone_source": zones.source.value if zones and zones.source else None,
        # each zone with every source that named it: crm_field, area_code, state, ...
        "zone_sources": (
            [{"zone": z, "sources": [s.value for s in zones.sources_of(z)]} for z in zones.zones]
            if zones
            else None
        ),
        "states": ([{"state": code, "from": how} for code, how in zones.states] if zones else None),
        "state_rules": list(zones.rules) if zones else None,
        # the template's language, and the treated contact's arm of a play with variants
        "language": facts.language if facts else None,
        "variant": (
            {"name": evaluation.variant.variant, "bucket": evaluation.variant.bucket}
            if evaluation.variant is not None
            else None
        ),
        "holdout": (
            {"percent": holdout.percent, "bucket": holdout.bucket, "held_out": holdout.held_out}
            if holdout is not None and holdout.percent > 0
            else None
        ),
    }

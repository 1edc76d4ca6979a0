"""The HELP answer and the one opt-out confirmation, for real: decided at the chokepoint
(kinds `help_reply` and `opt_out_confirmation`), queued in the SMS outbox in the ingest's
own transaction under `help:<sid>` / `opt_out_confirmation:<sid>`, and logged in the
decision log with the inbound verdict that caused them (`smsync explain`).

Not every keyword is smsync's to answer (`domain.keyword_replies`): with
`answered_by: provider` smsync sends neither, and a reply that carries the provider's own
OptOutType was answered by the provider already. Those get a decision too
(`provider_answers`, `provider_answered`), so "please stop texting me" always leaves one."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from connector.domain.caps import SendKind
from connector.domain.disclosure import LANGUAGE_SEGMENT
from connector.domain.governance import (
    Evaluation,
    EvaluationInputs,
    Reason,
    SendCandidate,
    evaluate,
)
from connector.domain.keyword_replies import AnsweredBy
from connector.domain.keywords import KeywordKind, KeywordMatch
from connector.domain.model import ContactState, CrmRef, Verdict
from connector.domain.policy import Policy
from connector.engine import contact_context
from connector.engine.decisions import record
from connector.engine.outbox_keys import help_key, opt_out_confirmation_key
from connector.ports import Connection
from connector.store import sms_outbox

NOBODY = CrmRef("unknown", "")  # a number on no CRM record: governance still decides
_SEND_KIND = {
    KeywordKind.HELP: SendKind.HELP_REPLY,
    KeywordKind.OPT_OUT: SendKind.OPT_OUT_CONFIRMATION,
}


def _key(kind: KeywordKind, sid: str) -> str:
    return help_key(sid) if kind is KeywordKind.HELP else opt_out_confirmation_key(sid)


def language(contact: ContactState | None, match: KeywordMatch) -> str | None:
    """The answer's language: the contact's `language` segment, else the language of the
    keyword itself (ALTO is Spanish) for a number on no record or with no language."""
    mapped = contact.segments.get(LANGUAGE_SEGMENT) if contact is not None else None
    return mapped or match.language


def _not_ours(policy: Policy, kind: KeywordKind, opt_out_type: str | None) -> Reason | None:
    """Why smsync does not answer this keyword itself, or None when it does."""
    keywords = policy.keywords
    if keywords.answered_by is AnsweredBy.PROVIDER:
        return Reason("provider_answers", "policy.keywords.answered_by is provider")
    if keywords.provider_answered(kind, opt_out_type):
        return Reason(
            "provider_answered",
            f"the provider answered {opt_out_type} itself (OptOutType); not a second time",
        )
    if keywords.text_for(kind) is None:
        return Reason("no_help_text", "set policy.keywords.help_text in the plays file")
    return None


def answer(
    conn: Connection,
    policy: Policy,
    match: KeywordMatch,
    *,
    phone: str,
    contact: ContactState | None,
    opt_out_type: str | None,
    now: datetime,
    revokes: str | None = None,
) -> bool:
    """Decide, log and queue the answer to one HELP or opt-out; True when queued. Call it
    after the opt-out is in the consent ledger, in the same transaction. `revokes` says
    what the opt-out revoked (every purpose, or one), for the decision log."""
    send_kind = _SEND_KIND.get(match.kind)
    sid = match.evidence_sid
    if send_kind is None or sid is None:
        return False  # an opt-in is confirmed by the provider, if at all
    key = _key(match.kind, sid)
    if sms_outbox.by_key(conn, key) is not None:
        return False  # this inbound text was answered already
    state = contact if contact is not None else ContactState(ref=NOBODY, phone=phone)
    if state.phone != phone:
        state = replace(state, phone=phone)
    ctx = contact_context.load(conn, state, default_zone=policy.quiet_hours.default_zone)
    trigger = f"{match.describe()} in {sid}" + (f"; {revokes}" if revokes else "")
    skipped = _not_ours(policy, match.kind, opt_out_type)
    evaluation: Evaluation
    if skipped is not None:
        region = ctx.state.segments.get(policy.region_segment)
        inputs = EvaluationInputs(send_kind, ctx.state.consent, region, trigger=trigger)
        evaluation = Evaluation(Verdict.BLOCK, (skipped,), inputs=inputs)
    else:
        body = policy.keywords.text_for(match.kind, language(contact, match))
        candidate = SendCandidate(send_kind, body=body)
        evaluation = evaluate(candidate, ctx, policy, now)
        if evaluation.inputs is not None:
            evaluation = replace(evaluation, inputs=replace(evaluation.inputs, trigger=trigger))
    ref = contact.ref if contact is not None else None
    record(conn, evaluation, now, contact=ref, phone=phone, play=None)
    if evaluation.verdict is Verdict.BLOCK:
        return False
    assert evaluation.body is not None
    assert evaluation.send_at is not None
    return sms_outbox.enqueue(
        conn, key, to=phone, body=evaluation.body, send_at=evaluation.send_at, now=now, contact=ref
    )

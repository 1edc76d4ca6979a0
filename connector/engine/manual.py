"""Manual sends (`smsync send`, `POST /api/send`): a person's text, through the same
chokepoint as every play.

Governance treats a manual send as a person's decision: consent, the number and quiet
hours apply (outside them it is deferred, never dropped); caps, suppression and holdout do
not. An allowed send is queued and sent at once through the send step, which checks it
once more right before the provider; a deferred one waits in the outbox."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from connector.domain.caps import SendKind
from connector.domain.governance import Reason, SendCandidate, evaluate
from connector.domain.model import CrmRef, Verdict
from connector.domain.plays import Play
from connector.domain.policy import Policy
from connector.engine import contact_context
from connector.engine.decisions import record
from connector.engine.outbox_keys import manual_key
from connector.engine.send import Sender, claim_one
from connector.errors import ConfigError, RecordError
from connector.ports import Clock, SmsPort, Store
from connector.store import sms_outbox


class UnknownContactError(RecordError):
    """The connector has not pulled this CRM record (or it was deleted)."""


@dataclass(frozen=True, slots=True)
class ManualResult:
    contact: CrmRef
    play: str
    verdict: Verdict
    reasons: tuple[Reason, ...]
    send_at: datetime | None
    body: str | None
    dry_run: bool
    queued: bool = False
    outcome: str | None = None  # the send step's outcome when it went at once
    sid: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "contact": str(self.contact),
            "play": self.play,
            "verdict": self.verdict.value,
            "reasons": [{"code": r.code, "detail": r.detail} for r in self.reasons],
            "send_at": self.send_at.isoformat() if self.send_at else None,
            "body": self.body,
            "dry_run": self.dry_run,
            "queued": self.queued,
            "outcome": self.outcome,
            "sid": self.sid,
        }


def play_of(policy: Policy, play: str) -> Play:
    """The named play, or a ConfigError listing the known ones (checked before the store
    is opened, so a typo is reported as such)."""
    chosen = policy.plays.get(play)
    if chosen is None:
        known = ", ".join(sorted(policy.plays)) or "none configured"
        raise ConfigError(f"unknown play {play!r}; plays: {known} (see SMSYNC_PLAYS)")
    return chosen


def manual_send(
    store: Store,
    sms: SmsPort | None,
    clock: Clock,
    policy: Policy,
    *,
    contact_id: str,
    play: str,
    body: str | None = None,
    dry_run: bool = False,
    request_id: str | None = None,
    worker_id: str = "manual",
) -> ManualResult:
    """Evaluate, log, queue and (when allowed now) send one manual text.

    `request_id` makes a retried request one send (the API passes the caller's
    idempotency key); by default each call is a new request. Raises UnknownContactError
    for a record the connector does not hold, ConfigError for an unknown play."""
    chosen = play_of(policy, play)
    now = clock.now()
    with store.begin() as conn:
        state = contact_context.find_contact(conn, contact_id)
        if state is None or state.deleted:
            raise UnknownContactError(
                f"no contact {contact_id!r} in the connector's state; run `smsync sync --once`"
                " first, or check the id",
                code="unknown_contact",
            )
        ctx = contact_context.load(conn, state, default_zone=policy.quiet_hours.default_zone)
        evaluation = evaluate(SendCandidate(SendKind.MANUAL, chosen, body=body), ctx, policy, now)
        result = ManualResult(
            contact=state.ref,
            play=play,
            verdict=evaluation.verdict,
            reasons=evaluation.reasons,
            send_at=evaluation.send_at,
            body=evaluation.body,
            dry_run=dry_run,
        )
        if dry_run:
            return result
        record(conn, evaluation, now, contact=state.ref, phone=state.phone, play=play)
        if evaluation.verdict is Verdict.BLOCK:
            return result
        assert evaluation.send_at is not None
        assert evaluation.body is not None
        assert state.phone is not None  # governance blocks a missing number
        key = manual_key(play, state.ref, request_id or now.isoformat())
        queued = sms_outbox.enqueue(
            conn,
            key,
            to=state.phone,
            body=evaluation.body,
            send_at=evaluation.send_at,
            now=now,
            contact=state.ref,
            play=play,
        )
    if evaluation.verdict is not Verdict.ALLOW or sms is None:
        return replace(result, queued=queued)
    with store.begin() as conn:
        found = sms_outbox.by_key(conn, key)
        row = claim_one(conn, found.id, worker_id, now) if found is not None else None
    if row is None:  # a retried request whose text is already on its way
        return replace(result, queued=queued)
    outcome = Sender(store, sms, clock, worker_id, policy).process(row)
    with store.begin() as conn:
        settled = sms_outbox.get(conn, row.id)
    sid = settled.provider_sid if settled is not None else None
    return replace(result, queued=queued, outcome=outcome, sid=sid)

"""Manual sends (`smsync send`, `POST /api/send`): a person's text, through the same
chokepoint as every play.

Governance treats a manual send as a person's decision: consent, the number and quiet
hours apply (outside them it is deferred, never dropped); caps, suppression and holdout do
not. An allowed send is queued and leased in the decision's own transaction (so the send
job cannot take it in between and leave the caller without its outcome), then sent at once
through the send step, which checks it once more right before the provider; a deferred one
waits in the outbox. `decide` and `send_now` are the two halves, for callers (the API)
that answer between them."""

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
from connector.engine.links import LinkMaker
from connector.engine.outbox_keys import manual_key
from connector.engine.send import Sender
from connector.engine.send_check import claim_one
from connector.errors import ConfigError, RecordError
from connector.ports import Clock, Connection, SmsPort, Store
from connector.store import sms_outbox
from connector.store.records import SmsOutboxRow


class UnknownContactError(RecordError):
    """The connector has not pulled this CRM record (or it was deleted)."""


@dataclass(frozen=True, slots=True)
class ManualResult:
    contact: CrmRef
    play: str | None  # None: a rep's own text from the CRM (no play)
    verdict: Verdict
    reasons: tuple[Reason, ...]
    send_at: datetime | None
    body: str | None
    dry_run: bool
    queued: bool = False
    outcome: str | None = None  # the send step's outcome when it went at once
    sid: str | None = None
    detail: str | None = None  # what an outcome still open means (the API's answers)

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
            "detail": self.detail,
        }


def play_of(policy: Policy, play: str) -> Play:
    """The named play, or a ConfigError listing the known ones (checked before the store
    is opened, so a typo is reported as such)."""
    chosen = policy.plays.get(play)
    if chosen is None:
        known = ", ".join(sorted(policy.plays)) or "none configured"
        raise ConfigError(f"unknown play {play!r}; plays: {known} (see SMSYNC_PLAYS)")
    return chosen


@dataclass(frozen=True, slots=True)
class Decided:
    """What `decide` committed: the answer so far, the outbox key of the queued text
    (None when nothing was queued), and the row leased for sending now, if any."""

    result: ManualResult
    key: str | None = None
    row: SmsOutboxRow | None = None


def decide(
    conn: Connection,
    policy: Policy,
    now: datetime,
    *,
    contact_id: str,
    play: str | None,
    body: str | None = None,
    dry_run: bool = False,
    request_id: str | None = None,
    claim_as: str | None = None,
    key: str | None = None,
) -> Decided:
    """Evaluate, log and queue one manual text in the caller's transaction.

    With `claim_as`, a text allowed now is leased to that worker in the same transaction,
    so the send job cannot take it between the decision and `send_now`. `play` None is a
    rep's own text (its `body`), queued under `key` (`outbox_keys.rep_key`). Raises
    UnknownContactError for a record the connector does not hold, ConfigError for an
    unknown play; the caller's transaction then rolls back, so nothing is recorded."""
    chosen = play_of(policy, play) if play is not None else None
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
        return Decided(result)
    record(conn, evaluation, now, contact=state.ref, phone=state.phone, play=play)
    if evaluation.verdict is Verdict.BLOCK:
        return Decided(result)
    assert evaluation.send_at is not None
    assert evaluation.body is not None
    assert state.phone is not None  # governance blocks a missing number
    if key is None:
        assert play is not None, "a send without a play names its own key"
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
    result = replace(result, queued=queued)
    if claim_as is None or evaluation.verdict is not Verdict.ALLOW:
        return Decided(result, key)
    found = sms_outbox.by_key(conn, key)
    # None: a retried request whose text is already on its way (or gone)
    row = claim_one(conn, found.id, claim_as, now) if found is not None else None
    return Decided(result, key, row)


def send_now(
    store: Store,
    sms: SmsPort,
    clock: Clock,
    policy: Policy,
    decided: Decided,
    *,
    worker_id: str,
    links: LinkMaker | None = None,
) -> ManualResult:
    """Send the row `decide` leased to `worker_id`, through the send step (which checks it
    once more right before the provider); the result with the send's outcome and sid."""
    if decided.row is None:
        return decided.result
    sender = Sender(store, sms, clock, worker_id, policy, links=links)
    with sender.heartbeat([decided.row]):  # a slow provider must not lose the lease
        outcome = sender.process(decided.row)
    with store.begin() as conn:
        settled = sms_outbox.get(conn, decided.row.id)
    sid = settled.provider_sid if settled is not None else None
    return replace(decided.result, outcome=outcome, sid=sid)


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
    links: LinkMaker | None = None,
) -> ManualResult:
    """Evaluate, log, queue and (when allowed now) send one manual text (`smsync send`).

    `request_id` makes a retried request one send; by default each call is a new request.
    Raises UnknownContactError for a record the connector does not hold, ConfigError for
    an unknown play."""
    play_of(policy, play)  # a typo is reported before the store is touched
    with store.begin() as conn:
        decided = decide(
            conn,
            policy,
            clock.now(),
            contact_id=contact_id,
            play=play,
            body=body,
            dry_run=dry_run,
            request_id=request_id,
            claim_as=worker_id if sms is not None else None,
        )
    if sms is None:
        return decided.result
    return send_now(store, sms, clock, policy, decided, worker_id=worker_id, links=links)

"""What the chokepoint decides about (`SendCandidate`, the recipient's `ContactContext`) and
what it answers (`Evaluation`, each `Reason` with a stable code), as plain records; the
checks are in `governance_checks.py`, the order they run in is in `governance.py`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from connector.domain.caps import SendKind, SentRecord
from connector.domain.holdout import HoldoutAssignment
from connector.domain.model import ConsentStatus, ContactState, Decision, Verdict
from connector.domain.plays import Play
from connector.domain.quiet_hours import ZoneResolution
from connector.domain.variants import VariantAssignment

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
    last_click_at: datetime | None = None  # a counted click on a tracked link
    last_rep_activity_at: datetime | None = None  # the mapped last-activity field
    open_task: bool = False
    not_now_at: datetime | None = None
    opted_out_at: datetime | None = None  # latest opt-out; confirmations count after it
    line_type: str | None = None  # from a carrier lookup when known: mobile, landline, voip
    # consent of each purpose whose status differs from `state.consent` (the status for
    # every purpose): an opt-out of one purpose alone, under revocation_scope: purpose
    purpose_consent: Mapping[str, ConsentStatus] = field(default_factory=dict)

    def consent_for(self, purpose: str | None) -> ConsentStatus:
        """The number's consent for `purpose` (None: for every purpose)."""
        if purpose is None:
            return self.state.consent
        return self.purpose_consent.get(purpose, self.state.consent)

    def opted_out_of_any(self) -> bool:
        return self.state.consent is ConsentStatus.OPTED_OUT or any(
            s is ConsentStatus.OPTED_OUT for s in self.purpose_consent.values()
        )

    def field_value(self, name: str) -> str | None:
        """A canonical field, segment or token value, by canonical name."""
        if name in self.values:
            return self.values[name]
        if name in self.state.segments:
            return self.state.segments[name]
        name = _STATE_NAMES.get(name, name)
        value = getattr(self.state, name, None) if name in _STATE_FIELDS else None
        return None if value is None else str(value)


# the mapping's canonical names for the state's attributes of another name
_STATE_NAMES = {"owner": "owner_id", "consent_status": "consent"}
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
    purpose: str | None = None  # the play's purpose, whose consent was checked
    language: str | None = None  # the language of the template rendered (a play's text)


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
    variant: VariantAssignment | None = None  # the treated contact's arm (domain.variants)

    @property
    def decision(self) -> Decision:
        return Decision(self.verdict, tuple(r.code for r in self.reasons), self.send_at)


class Blocked(Exception):  # noqa: N818 - control flow between the checks and `evaluate`
    def __init__(self, reason: Reason) -> None:
        self.reason = reason


def block(code: str, detail: str = "") -> Blocked:
    return Blocked(Reason(code, detail))


def fmt(at: datetime) -> str:
    return at.isoformat(timespec="minutes")

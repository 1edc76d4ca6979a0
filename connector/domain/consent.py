"""Rules over the phone-keyed, append-only consent ledger.

Opt-out is absolute (docs/reliability.md, promise 3), so the rules lean one way: anything can
suppress a number at once, but only an explicit opt-in event, later than the opt-out,
lifts it. Explicit means the person asked: a START/YES/UNSTOP keyword, a web form, or a
manual entry by staff. An import, a provider verdict or a bare CRM field never does.

The ledger is never rewritten; `current` reads it, `decide_crm_consent` says what to
append when a CRM shows something new, and `corrections` says which CRM records sharing
the number must have their consent fields rewritten so they agree with it.

Entries may name a purpose (`domain.purposes`): the view for a purpose reads the entries
for every purpose and those for that purpose; the view for None (every purpose) reads
only the former. The CRM's consent fields follow the `CRM_PURPOSE` view.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from connector.domain.keywords import KeywordKind, KeywordMatch
from connector.domain.model import (
    ConsentRecord,
    ConsentScope,
    ConsentSource,
    ConsentStatus,
    ContactState,
    CrmRef,
)
from connector.domain.purposes import CRM_PURPOSE

# Sources that record the person's own, explicit wish to receive texts again.
EXPLICIT_OPT_IN_SOURCES = frozenset(
    {ConsentSource.KEYWORD, ConsentSource.WEB_FORM, ConsentSource.MANUAL}
)
# CRMs store timestamps to the second (Salesforce) or millisecond (HubSpot): a value we
# wrote ourselves comes back within this of the ledger's own.
ECHO_TOLERANCE = timedelta(seconds=1)
CONSENT_FIELDS = ("consent_status", "consent_timestamp", "consent_source")


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("consent times must be timezone-aware; got a naive datetime")
    return at.astimezone(UTC)


def _in_time_order(history: Iterable[ConsentRecord]) -> list[ConsentRecord]:
    # sorted() is stable: entries with the same instant keep their append order.
    return sorted(history, key=lambda r: _aware(r.at))


def lifts_opt_out(entry: ConsentRecord, opted_out_at: datetime) -> bool:
    """True when opt-in `entry` undoes an opt-out made at `opted_out_at`: it must be an
    explicit event and strictly later (a tie keeps the number suppressed)."""
    return (
        entry.status is ConsentStatus.OPTED_IN
        and entry.source in EXPLICIT_OPT_IN_SOURCES
        and _aware(entry.at) > _aware(opted_out_at)
    )


def for_purpose(history: Iterable[ConsentRecord], purpose: str | None) -> list[ConsentRecord]:
    """The entries that hold for `purpose`: those for every purpose, and for None only
    those."""
    return [e for e in history if e.purpose is None or e.purpose == purpose]


def effective(history: Iterable[ConsentRecord], purpose: str | None = None) -> ConsentRecord | None:
    """The entry that decides the number's consent for `purpose` (None: every purpose),
    or None when nothing known does.

    Entries are read in time order. An `unknown` entry never overrides a known status (it
    records missing information, not a wish); an opt-in after an opt-out counts only
    when `lifts_opt_out` says so."""
    decided: ConsentRecord | None = None
    last_out: datetime | None = None  # the latest opt-out of the current suppression
    for entry in _in_time_order(for_purpose(history, purpose)):
        if entry.status is ConsentStatus.UNKNOWN:
            continue
        if entry.status is ConsentStatus.OPTED_OUT:
            last_out = entry.at
        elif last_out is not None:
            if not lifts_opt_out(entry, last_out):
                continue
            last_out = None
        if decided is not None and decided.status is entry.status:
            continue  # the first entry of a run is when it took effect
        decided = entry
    return decided


def current(history: Iterable[ConsentRecord], purpose: str | None = None) -> ConsentStatus:
    """The number's consent now for `purpose`. Scope is not consulted: an opt-out at any
    scope suppresses the number for every sender, the conservative reading of promise 3."""
    entry = effective(history, purpose)
    return entry.status if entry is not None else ConsentStatus.UNKNOWN


def by_purpose(history: Sequence[ConsentRecord]) -> dict[str, ConsentStatus]:
    """The status of each purpose an entry names, where it differs from the status for
    every purpose (`current(history)`)."""
    overall = current(history)
    named = dict.fromkeys(e.purpose for e in history if e.purpose is not None)
    found = {p: current(history, p) for p in named}
    return {p: status for p, status in found.items() if status is not overall}


def is_suppressed(history: Sequence[ConsentRecord]) -> bool:
    """True when the number is opted out of every purpose or of any one of them."""
    return current(history) is ConsentStatus.OPTED_OUT or any(
        s is ConsentStatus.OPTED_OUT for s in by_purpose(history).values()
    )


def last_opt_out(history: Iterable[ConsentRecord]) -> datetime | None:
    """When the number last opted out of anything: an opt-out confirmation counts after it."""
    return max((_aware(e.at) for e in history if e.status is ConsentStatus.OPTED_OUT), default=None)


# --- what to append -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CrmConsentDecision:
    """What a consent value seen in the CRM does to the ledger: the entry to append (None:
    nothing) and why, for the decision log."""

    record: ConsentRecord | None
    reason: str


def _echoes(history: Sequence[ConsentRecord], status: ConsentStatus, at: datetime) -> bool:
    """True when the CRM shows a status and time the ledger already holds: our own
    earlier write coming back, which must not be replayed as a new event."""
    return any(e.status is status and abs(_aware(e.at) - at) <= ECHO_TOLERANCE for e in history)


def decide_crm_consent(
    history: Sequence[ConsentRecord],
    crm_status: ConsentStatus,
    crm_source: ConsentSource | None,
    crm_timestamp: datetime | None,
    *,
    phone: str,
    observed_at: datetime,
    scope: ConsentScope = ConsentScope.MESSAGING_SERVICE,
    evidence_text: str | None = None,
) -> CrmConsentDecision:
    """Decide what a CRM record's consent fields add to the ledger of `phone`.

    - An opt-out suppresses at once, unless it is the echo of an opt-out the ledger
      already holds and has since lifted. It is appended at the CRM's timestamp when that
      is no later than `observed_at` and later than every entry, else at `observed_at`
      (or the latest entry's time, if that is later), so it always takes effect.
    - An opt-in needs its own source and timestamp; over an opt-out it must also lift it
      (see `lifts_opt_out`). It is appended at the CRM's timestamp, or at
      `observed_at` if that timestamp is in the future.
    - `unknown` is never appended: an empty field is not a wish.
    The field speaks for `CRM_PURPOSE` (it is compared with that view), and what it adds
    holds for every purpose: no play explains a person's edit in the CRM.
    `evidence_text` should say which CRM record said so (never the phone number)."""
    now = _aware(observed_at)
    status_now = effective(history, CRM_PURPOSE)
    if status_now is not None and status_now.status is crm_status:
        return CrmConsentDecision(None, f"ledger already {crm_status.value}")
    if crm_status is ConsentStatus.UNKNOWN:
        return CrmConsentDecision(None, "CRM consent is unknown; an empty field changes nothing")
    stamp = _aware(crm_timestamp) if crm_timestamp is not None else None
    if crm_status is ConsentStatus.OPTED_OUT:
        return _crm_opt_out(
            history,
            crm_source,
            stamp,
            now=now,
            phone=phone,
            scope=scope,
            evidence_text=evidence_text,
        )
    if crm_source is None or stamp is None:
        return CrmConsentDecision(
            None, "CRM opt-in ignored: it needs both a consent source and a timestamp"
        )
    candidate = ConsentRecord(
        phone=phone,
        status=ConsentStatus.OPTED_IN,
        scope=scope,
        source=crm_source,
        # Never in the future: a later STOP must not sort before a skewed opt-in.
        at=min(stamp, now),
        evidence_text=evidence_text,
    )
    if current([*history, candidate], CRM_PURPOSE) is not ConsentStatus.OPTED_IN:
        return CrmConsentDecision(
            None,
            "CRM opt-in ignored: an opt-out is lifted only by an explicit opt-in"
            " (keyword, web_form or manual) timestamped after it",
        )
    return CrmConsentDecision(candidate, f"CRM opt-in from {crm_source.value}")


def _crm_opt_out(
    history: Sequence[ConsentRecord],
    source: ConsentSource | None,
    stamp: datetime | None,
    *,
    now: datetime,
    phone: str,
    scope: ConsentScope,
    evidence_text: str | None,
) -> CrmConsentDecision:
    if stamp is not None and _echoes(
        for_purpose(history, CRM_PURPOSE), ConsentStatus.OPTED_OUT, stamp
    ):
        return CrmConsentDecision(
            None, "CRM shows an earlier opt-out that an explicit opt-in has since lifted"
        )
    latest = max((_aware(e.at) for e in history), default=None)
    if stamp is not None and stamp <= now and (latest is None or stamp > latest):
        at = stamp  # the CRM's own time, when it is plausible and wins on its own
    else:
        at = now if latest is None else max(now, latest)
    record = ConsentRecord(
        phone=phone,
        status=ConsentStatus.OPTED_OUT,
        scope=scope,
        source=source or ConsentSource.CRM,
        at=at,
        evidence_text=evidence_text,
    )
    return CrmConsentDecision(record, "CRM opt-out: suppressed at once")


def apply_crm_consent(
    history: Sequence[ConsentRecord],
    crm_status: ConsentStatus,
    crm_source: ConsentSource | None,
    crm_timestamp: datetime | None,
    *,
    phone: str,
    observed_at: datetime,
    scope: ConsentScope = ConsentScope.MESSAGING_SERVICE,
    evidence_text: str | None = None,
) -> ConsentRecord | None:
    """The entry to append, or None; `decide_crm_consent` also says why."""
    return decide_crm_consent(
        history,
        crm_status,
        crm_source,
        crm_timestamp,
        phone=phone,
        observed_at=observed_at,
        scope=scope,
        evidence_text=evidence_text,
    ).record


def from_keyword(
    match: KeywordMatch,
    *,
    phone: str,
    at: datetime,
    scope: ConsentScope = ConsentScope.MESSAGING_SERVICE,
    purpose: str | None = None,
) -> ConsentRecord | None:
    """The ledger entry for a compliance keyword in an inbound text (None for HELP, which
    changes no consent). The raw text and message sid are the evidence; `purpose` is what
    an opt-out revokes (`purposes.revoked`; None: every purpose). An opt-in by keyword
    re-subscribes every purpose: START lifts the carrier's block for every text."""
    if match.kind is KeywordKind.HELP:
        return None
    status = (
        ConsentStatus.OPTED_OUT if match.kind is KeywordKind.OPT_OUT else ConsentStatus.OPTED_IN
    )
    return ConsentRecord(
        phone=phone,
        status=status,
        scope=scope,
        source=ConsentSource.KEYWORD,
        at=_aware(match.at or at),
        evidence_sid=match.evidence_sid,
        evidence_text=match.evidence_text,
        purpose=purpose if status is ConsentStatus.OPTED_OUT else None,
    )


def from_provider_block(
    *,
    phone: str,
    at: datetime,
    message_sid: str | None,
    error_code: int | str,
    scope: ConsentScope = ConsentScope.MESSAGING_SERVICE,
) -> ConsentRecord:
    """The provider refused a send because the number opted out with the carrier
    (Twilio 21610): that is an opt-out the ledger must hold too. `error_code` is the
    provider's own code, kept as evidence."""
    return ConsentRecord(
        phone=phone,
        status=ConsentStatus.OPTED_OUT,
        scope=scope,
        source=ConsentSource.PROVIDER_BLOCK,
        at=_aware(at),
        evidence_sid=message_sid,
        evidence_text=f"provider error {error_code}",
    )


# --- what to write to the CRM ---------------------------------------------------------


def fields_to_write(
    status: ConsentStatus, at: datetime, source: ConsentSource
) -> dict[str, object]:
    """Canonical consent field updates; written to every CRM record sharing the number so
    that a Lead and a Contact with one phone say the same thing."""
    return {
        "consent_status": status.value,
        "consent_timestamp": _aware(at),
        "consent_source": source.value,
    }


def fields_for(entry: ConsentRecord) -> dict[str, object]:
    return fields_to_write(entry.status, entry.at, entry.source)


def disagreeing(status: ConsentStatus, states: Iterable[ContactState]) -> tuple[CrmRef, ...]:
    """Live records whose consent field differs from the ledger's `status`.

    With an opted-out number this is the opt-out invariant's check: after the next cycle
    the answer must be empty. An `unknown` ledger asserts nothing, so nothing disagrees."""
    if status is ConsentStatus.UNKNOWN:
        return ()
    return tuple(s.ref for s in states if not s.deleted and s.consent is not status)


def crm_view(history: Iterable[ConsentRecord]) -> ConsentRecord | None:
    """The entry the CRM's consent fields show: the `CRM_PURPOSE` (marketing) view, so
    an opt-out of every purpose or of marketing is there, one of another purpose alone
    is not (the field cannot say "opted out of reminders only")."""
    return effective(history, CRM_PURPOSE)


def corrections(
    history: Iterable[ConsentRecord], states: Iterable[ContactState]
) -> tuple[tuple[CrmRef, dict[str, object]], ...]:
    """The field writes that bring every record sharing the number in line with the
    ledger's CRM view, one per disagreeing record."""
    entry = crm_view(history)
    if entry is None:
        return ()
    fields = fields_for(entry)
    return tuple((ref, dict(fields)) for ref in disagreeing(entry.status, states))

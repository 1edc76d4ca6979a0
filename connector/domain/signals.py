"""Signals for the plays, from what changed in a CRM record between two pulls.

Plays react to changes, never to states: a contact that has sat at "meeting_booked" for a
month must not be congratulated on every pull. So signals come only from comparing the
previous and the new `ContactState` of one record, and a record seen for the first time
emits nothing unless the caller asks (a first pull of 200,000 contacts is not 200,000
events).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum, unique

from connector.domain.model import ContactState, CrmRef

MEETING_BOOKED = "meeting_booked"
# segments the mapping may map: when the CRM last recorded a form submission, and which form
FORM_SUBMITTED_AT = "form_submitted_at"
FORM_NAME = "form_name"
# canonical fields with no signal kind of their own: their changes are `field_changed`
_OTHER_FIELDS = ("owner_team", "active_motion", "disposition")


@unique
class SignalKind(StrEnum):
    STAGE_CHANGED = "stage_changed"
    JOURNEY_CHANGED = "journey_changed"
    MEETING_BOOKED = "meeting_booked"
    OWNER_CHANGED = "owner_changed"
    CONSENT_CHANGED = "consent_changed"
    FORM_SUBMITTED = "form_submitted"
    DATE_DUE = "date_due"  # a date field minus a play's offset came round (timed sweep)
    INACTIVE = "inactive"
    FIELD_CHANGED = "field_changed"  # any other mapped field or segment; details: field
    LINK_CLICKED = "link_clicked"  # a counted click on a tracked link; details: link, play


@dataclass(frozen=True, slots=True)
class Signal:
    """One change, with the values either side in `details` (``from``/``to`` and any
    context), and the CRM's modstamp of the change when known."""

    kind: SignalKind
    ref: CrmRef
    details: Mapping[str, str | int | None] = field(default_factory=dict)
    at: datetime | None = None


def changes(
    previous: ContactState | None,
    current: ContactState,
    *,
    meeting_booked: str = MEETING_BOOKED,
    new_record_signals: bool = False,
) -> tuple[Signal, ...]:
    """Signals for what changed from `previous` to `current` of one record.

    Emitted in a fixed order: stage, journey (then meeting booked when the journey
    reached `meeting_booked`, the canonical value the mapping maps to), owner, consent,
    a `field_changed` for every other field and segment that changed (by name, so a play
    can watch any mapped field), then a form submission when the `form_submitted_at`
    segment took a new value. An empty value and no value are the same.
    A deleted record emits nothing. With no `previous`, nothing, or, when
    `new_record_signals`, the changes from an empty record."""
    if previous is not None and previous.ref != current.ref:
        raise ValueError(f"cannot compare two records: {previous.ref} and {current.ref}")
    if current.deleted:
        return ()
    if previous is None:
        if not new_record_signals:
            return ()
        previous = ContactState(ref=current.ref, phone=current.phone)
    at = current.modstamp
    ref = current.ref
    found: list[Signal] = []

    def changed(
        kind: SignalKind, before: str | None, after: str | None, **extra: str | None
    ) -> None:
        if before != after:
            found.append(Signal(kind, ref, {"from": before, "to": after, **extra}, at))

    changed(SignalKind.STAGE_CHANGED, previous.lifecycle_stage, current.lifecycle_stage)
    changed(SignalKind.JOURNEY_CHANGED, previous.journey_state, current.journey_state)
    if current.journey_state == meeting_booked and previous.journey_state != meeting_booked:
        found.append(Signal(SignalKind.MEETING_BOOKED, ref, {"from": previous.journey_state}, at))
    changed(
        SignalKind.OWNER_CHANGED,
        previous.owner_id,
        current.owner_id,
        team=current.owner_team,
    )
    changed(SignalKind.CONSENT_CHANGED, previous.consent.value, current.consent.value)
    for name in _OTHER_FIELDS:
        changed(
            SignalKind.FIELD_CHANGED,
            getattr(previous, name),
            getattr(current, name),
            field=name,
        )
    for name in sorted(previous.segments.keys() | current.segments.keys()):
        before, after = previous.segments.get(name) or None, current.segments.get(name) or None
        changed(SignalKind.FIELD_CHANGED, before, after, field=name)
    submitted = current.segments.get(FORM_SUBMITTED_AT)
    if submitted and submitted != previous.segments.get(FORM_SUBMITTED_AT):
        form = current.segments.get(FORM_NAME)
        found.append(Signal(SignalKind.FORM_SUBMITTED, ref, {"form": form, "at": submitted}, at))
    return tuple(found)


def became_inactive(
    ref: CrmRef,
    last_activity: datetime | None,
    *,
    days: int,
    now: datetime,
    last_checked: datetime | None,
) -> Signal | None:
    """An `inactive` signal when the record crossed `days` without activity since the
    previous check, so it fires once per quiet spell however often the sweep runs.

    With no previous check (a first run), a record already past the mark fires once. A
    record with no recorded activity never fires: there is no spell to measure."""
    if days <= 0:
        raise ValueError("inactivity is counted in whole days, at least 1")
    if last_activity is None:
        return None
    mark = last_activity + timedelta(days=days)
    if mark > now or (last_checked is not None and mark <= last_checked):
        return None
    return Signal(
        SignalKind.INACTIVE,
        ref,
        {"days": days, "last_activity": last_activity.isoformat()},
        mark,
    )


def date_due(
    ref: CrmRef,
    field_name: str,
    value: datetime | None,
    *,
    before: timedelta,
    since: datetime,
    now: datetime,
) -> Signal | None:
    """A `date_due` signal when `value - before` fell in (since, now] and the date itself
    is still ahead, so a reminder fires once per date however often the sweep runs, and a
    moved date fires again at its new time."""
    if value is None:
        return None
    mark = value - before
    if not (since < mark <= now) or value <= now:
        return None
    return Signal(
        SignalKind.DATE_DUE,
        ref,
        {"field": field_name, "at": value.isoformat(), "before_s": int(before.total_seconds())},
        mark,
    )

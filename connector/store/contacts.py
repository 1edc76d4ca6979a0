"""contact_state: what the connector knows of each CRM record."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from connector.domain.model import (
    ConsentStatus,
    ContactState,
    CrmRef,
    SlaTimer,
    TimeZones,
    TzSource,
)
from connector.store import sla
from connector.store.dialect import insert_rows
from connector.store.tables import contact_state as t


def upsert(conn: sa.Connection, contact: ContactState, now: datetime) -> None:
    """Insert or replace the state of one record. Its SLA timer lives in `sla`."""
    upsert_many(conn, [contact], now)


def upsert_many(
    conn: sa.Connection, states: Sequence[ContactState], now: datetime
) -> dict[CrmRef, int]:
    """Insert or replace the states of many records, each record at most once, in a few
    statements (`dialect.insert_rows`: a pull's batch, no statement built per row).
    Returns each record's row id (what per-contact tables such as the timed index key on)."""
    rows = insert_rows(
        conn,
        t,
        [_row(contact, now) for contact in states],
        conflict_on=("crm_object_type", "crm_id"),
        update=_KEPT,
        returning=("id", "crm_object_type", "crm_id"),
    )
    return {CrmRef(row.crm_object_type, row.crm_id): int(row.id) for row in rows}


_KEPT = (
    "phone",
    "tz_zones",
    "tz_source",
    "owner_id",
    "owner_team",
    "lifecycle_stage",
    "journey_state",
    "active_motion",
    "disposition",
    "consent",
    "segments",
    "crm_modstamp",
    "deleted",
    "updated_at",
)


def _row(contact: ContactState, now: datetime) -> dict[str, Any]:
    zones = contact.time_zones
    return {
        "crm_object_type": contact.ref.object_type,
        "crm_id": contact.ref.id,
        "phone": contact.phone,
        "tz_zones": _zones_json(zones),
        "tz_source": zones.source.value if zones else None,
        "owner_id": contact.owner_id,
        "owner_team": contact.owner_team,
        "lifecycle_stage": contact.lifecycle_stage,
        "journey_state": contact.journey_state,
        "active_motion": contact.active_motion,
        "disposition": contact.disposition,
        "consent": contact.consent.value,
        "segments": dict(contact.segments),
        "crm_modstamp": contact.modstamp,
        "deleted": contact.deleted,
        "updated_at": now,
    }


def get_many(conn: sa.Connection, refs: Sequence[CrmRef]) -> dict[CrmRef, ContactState]:
    """`get` of many records: one query per object type for the states and one for their
    open SLA timers; a record never stored is absent."""
    by_type: dict[str, list[str]] = {}
    for ref in refs:
        by_type.setdefault(ref.object_type, []).append(ref.id)
    rows = [
        row
        for object_type, ids in by_type.items()
        for row in conn.execute(_STATES_OF, {"object_type": object_type, "ids": ids})
    ]
    if not rows:
        return {}
    timers = sla.open_timers_of(conn, [CrmRef(r.crm_object_type, r.crm_id) for r in rows])
    found: dict[CrmRef, ContactState] = {}
    for row in rows:
        ref = CrmRef(row.crm_object_type, row.crm_id)
        timer = timers.get(ref)
        found[ref] = _state(row, ref, timer.timer if timer else None)
    return found


_STATES_OF = sa.select(t).where(
    t.c.crm_object_type == sa.bindparam("object_type"),
    t.c.crm_id.in_(sa.bindparam("ids", expanding=True)),
)


def get(conn: sa.Connection, ref: CrmRef) -> ContactState | None:
    row = conn.execute(
        sa.select(t).where(t.c.crm_object_type == ref.object_type, t.c.crm_id == ref.id)
    ).one_or_none()
    return None if row is None else _contact(conn, row)


def find_by_phone(conn: sa.Connection, phone: str) -> list[ContactState]:
    """Every record holding this number (deleted ones excluded); several stay several."""
    return find_by_phones(conn, [phone]).get(phone, [])


def find_by_phones(conn: sa.Connection, phones: Iterable[str]) -> dict[str, list[ContactState]]:
    """`find_by_phone` of many numbers in one query for the records and one for their open
    SLA timers (a pull's batch); a number no live record holds is absent."""
    wanted = sorted(set(phones))
    if not wanted:
        return {}
    rows = conn.execute(_BY_PHONES, {"phones": wanted}).all()
    if not rows:
        return {}
    refs = [CrmRef(row.crm_object_type, row.crm_id) for row in rows]
    timers = sla.open_timers_of(conn, refs)
    found: dict[str, list[ContactState]] = {}
    for row, ref in zip(rows, refs, strict=True):
        timer = timers.get(ref)
        found.setdefault(row.phone, []).append(_state(row, ref, timer.timer if timer else None))
    return found


_BY_PHONES = (
    sa.select(t)
    .where(t.c.phone.in_(sa.bindparam("phones", expanding=True)), t.c.deleted.is_(False))
    .order_by(t.c.phone, t.c.crm_object_type, t.c.crm_id)
)


def segment_page(
    conn: sa.Connection, after_id: int, limit: int
) -> list[tuple[int, CrmRef, dict[str, str]]]:
    """Live records with a number, by row id after `after_id`: just the segments, so a
    sweep over every contact reads no more than it needs."""
    rows = conn.execute(
        sa.select(t.c.id, t.c.crm_object_type, t.c.crm_id, t.c.segments)
        .where(t.c.id > after_id, t.c.deleted.is_(False), t.c.phone.is_not(None))
        .order_by(t.c.id)
        .limit(limit)
    ).all()
    return [(int(r.id), CrmRef(r.crm_object_type, r.crm_id), dict(r.segments or {})) for r in rows]


def set_disposition(conn: sa.Connection, ref: CrmRef, disposition: str, now: datetime) -> bool:
    result = conn.execute(
        sa.update(t)
        .where(t.c.crm_object_type == ref.object_type, t.c.crm_id == ref.id)
        .values(disposition=disposition, updated_at=now)
    )
    return result.rowcount == 1


def set_motion(conn: sa.Connection, ref: CrmRef, *, now: datetime, **values: str | None) -> bool:
    """Set the engine-kept fields `active_motion` and/or `journey_state` of one record."""
    allowed = {k: v for k, v in values.items() if k in ("active_motion", "journey_state")}
    if len(allowed) != len(values):
        raise ValueError(f"only active_motion and journey_state, not {sorted(values)}")
    result = conn.execute(
        sa.update(t)
        .where(t.c.crm_object_type == ref.object_type, t.c.crm_id == ref.id)
        .values(**allowed, updated_at=now)
    )
    return result.rowcount == 1


def set_consent_for_phone(
    conn: sa.Connection, phone: str, consent: ConsentStatus, now: datetime
) -> int:
    """Mirror a ledger change on every record sharing the number; returns how many."""
    result = conn.execute(
        _SET_CONSENT, {"p_phone": phone, "p_consent": consent.value, "p_now": now}
    )
    return int(result.rowcount)


def set_consent_for_phones(
    conn: sa.Connection, consents: Mapping[str, ConsentStatus], now: datetime
) -> None:
    """`set_consent_for_phone` of many numbers in one executemany (a pull's batch)."""
    if consents:
        params = [
            {"p_phone": phone, "p_consent": status.value, "p_now": now}
            for phone, status in consents.items()
        ]
        conn.execute(_SET_CONSENT, params)


_SET_CONSENT = (
    sa.update(t)
    .where(t.c.phone == sa.bindparam("p_phone"))
    .values(consent=sa.bindparam("p_consent"), updated_at=sa.bindparam("p_now"))
)


def _zones_json(zones: TimeZones | None) -> list[Any] | None:
    """Each zone with its source ([zone, source] pairs); rows written before sources were
    kept per zone hold plain zone names, all from `tz_source`."""
    if zones is None:
        return None
    if not zones.origins:
        return list(zones.zones)
    return [[zone, source.value] for zone, source in zones.origins]


def _zones(raw: Any, source: str | None) -> TimeZones | None:
    if not raw or source is None:
        return None
    if all(isinstance(item, str) for item in raw):
        return TimeZones(tuple(raw), TzSource(source))
    return TimeZones.of([(str(zone), TzSource(src)) for zone, src in raw])


def _contact(conn: sa.Connection, row: sa.Row[Any]) -> ContactState:
    ref = CrmRef(row.crm_object_type, row.crm_id)
    timer = sla.open_timer(conn, ref)
    return _state(row, ref, timer.timer if timer else None)


def _state(row: sa.Row[Any], ref: CrmRef, timer: SlaTimer | None) -> ContactState:
    return ContactState(
        ref=ref,
        phone=row.phone,
        time_zones=_zones(row.tz_zones, row.tz_source),
        owner_id=row.owner_id,
        owner_team=row.owner_team,
        lifecycle_stage=row.lifecycle_stage,
        journey_state=row.journey_state,
        active_motion=row.active_motion,
        disposition=row.disposition,
        consent=ConsentStatus(row.consent),
        sla=timer,
        segments=dict(row.segments or {}),
        modstamp=row.crm_modstamp,
        deleted=bool(row.deleted),
    )


def object_type_of(conn: sa.Connection, crm_id: str) -> str | None:
    """The object type of the stored record with this CRM id (ids are unique across
    objects in both CRMs); None when it was never pulled."""
    row = conn.execute(
        sa.select(t.c.crm_object_type).where(t.c.crm_id == crm_id).order_by(t.c.id).limit(1)
    ).first()
    return None if row is None else str(row.crm_object_type)


def in_motion_after(
    conn: sa.Connection, after_id: int, limit: int
) -> list[tuple[int, CrmRef, str | None]]:
    """Records with `active_motion` set, by row id after `after_id`: (row id, record,
    phone); a page of the sweep that ends motions no play keeps up."""
    rows = conn.execute(
        sa.select(t.c.id, t.c.crm_object_type, t.c.crm_id, t.c.phone)
        .where(t.c.active_motion.is_not(None), t.c.id > after_id)
        .order_by(t.c.id)
        .limit(limit)
    ).all()
    return [(row.id, CrmRef(row.crm_object_type, row.crm_id), row.phone) for row in rows]

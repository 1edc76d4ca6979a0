"""Records of one object type, their unique-value indexes, search visibility and history.

Property dicts are copy-on-write: a write replaces `record.props`, so the snapshot that
search sees (`indexed`) can be shared until the index delay makes a newer one visible.

Property history (what `propertiesWithHistory` returns) is kept lazily: a property has
versions only once a write changes it, and its first version is then the value it had
since the record was created, with the creating write's source. Seeding 200k contacts
therefore costs no history at all."""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from connector.sandbox.hubspot import deals
from connector.sandbox.hubspot.errors import HubSpotError, validation_error
from connector.sandbox.hubspot.properties import (
    COMMUNICATIONS,
    CONTACTS,
    DEALS,
    TASK_COMPLETED_AT,
    TASK_DONE,
    TASK_STATUS,
    TASKS,
    PropertyDef,
)

TYPE_ALIASES: dict[str, str] = {
    "contacts": CONTACTS,
    "contact": CONTACTS,
    "0-1": CONTACTS,
    "tasks": TASKS,
    "task": TASKS,
    "0-27": TASKS,
    "communications": COMMUNICATIONS,
    "communication": COMMUNICATIONS,
    "0-18": COMMUNICATIONS,
    "deals": DEALS,
    "deal": DEALS,
    "0-3": DEALS,
}
LABELS = {CONTACTS: "CONTACT", TASKS: "TASK", COMMUNICATIONS: "COMMUNICATION", DEALS: "DEAL"}
TYPE_IDS = {CONTACTS: "0-1", TASKS: "0-27", COMMUNICATIONS: "0-18", DEALS: "0-3"}
# (created, last modified) property of each type
_STAMPS = {
    CONTACTS: ("createdate", "lastmodifieddate"),
    TASKS: ("hs_createdate", "hs_lastmodifieddate"),
    COMMUNICATIONS: ("hs_createdate", "hs_lastmodifieddate"),
    DEALS: ("createdate", "hs_lastmodifieddate"),
}
# the properties every read returns besides the requested ones, and the default set
_ALWAYS = {name: tuple(sorted((*stamps, "hs_object_id"))) for name, stamps in _STAMPS.items()}
_DEFAULT_READ = {
    CONTACTS: ("email", "firstname", "lastname"),
    DEALS: ("amount", "closedate", "dealname", "dealstage", "pipeline"),
}
FIRST_ID = {CONTACTS: 100_001, TASKS: 200_001, COMMUNICATIONS: 300_001, DEALS: 400_001}
PRIVATE_APP_ID = "2900001"  # the app whose token writes through the API
# properties HubSpot itself sets during a write, besides the ones written
_DERIVED = {TASKS: (TASK_COMPLETED_AT,), DEALS: deals.DERIVED}


@dataclass(frozen=True, slots=True)
class Source:
    """Who set a value, as property history reports it."""

    type: str  # INTEGRATION (an app's API write), CRM_UI (a user in HubSpot), ...
    id: str | None = None  # the app id, or "userId:<id>"
    user_id: int | None = None

    @classmethod
    def user(cls, user_id: int) -> Source:
        return cls("CRM_UI", f"userId:{user_id}", user_id)


API = Source("INTEGRATION", PRIVATE_APP_ID)
Version = tuple[str, str, Source]  # (value, timestamp, source), oldest first


def object_type(raw: str) -> str:
    """The canonical plural name for a path's object type, else HubSpot's 400."""
    name = TYPE_ALIASES.get(raw.lower())
    if name is None:
        raise HubSpotError(
            400,
            f"Unable to infer object type from: {raw}",
            "VALIDATION_ERROR",
            subCategory="ObjectTypeErrorType.UNKNOWN_OBJECT_TYPE",
        )
    return name


@dataclass(slots=True)
class Record:
    id: str
    num: int
    props: dict[str, str]
    created_at: str
    updated_at: str
    archived: bool = False
    archived_at: str | None = None
    indexed: dict[str, str] | None = None
    pending: list[tuple[float, dict[str, str]]] = field(default_factory=list)
    created_by: Source = API
    history: dict[str, list[Version]] = field(default_factory=dict)

    def versions(self, prop: str) -> list[Version]:
        """Every value `prop` has had, oldest first (none if it was never set)."""
        kept = self.history.get(prop)
        if kept is not None:
            return kept
        value = self.props.get(prop)
        return [(value, self.created_at, self.created_by)] if value else []


class ObjectStore:
    """One object type: records by id, ascending ids for paging, unique-value indexes."""

    def __init__(self, name: str, props: dict[str, PropertyDef]) -> None:
        self.name = name
        self.label = LABELS[name]
        self.props = props
        self.records: dict[str, Record] = {}
        self._order: list[int] = []
        self._next = FIRST_ID[name]
        self._unique: dict[str, dict[str, str]] = {}
        self.created_prop, self.modified_prop = _STAMPS[name]
        self._pending_records: set[str] = set()
        # search results by query, valid while `version` stands (see search.run)
        self.version = 0
        self.search_cache: dict[object, list[tuple[Record, dict[str, str]]]] = {}
        self.reindex_unique()

    # unique values ---------------------------------------------------------------------

    def unique_props(self) -> list[str]:
        names = [p.name for p in self.props.values() if p.unique]
        if self.name == CONTACTS and "email" not in names:
            names.append("email")  # contacts dedupe on email without `hasUniqueValue`
        return names

    def is_unique(self, prop: str) -> bool:
        return prop in self._unique

    @staticmethod
    def _key(prop: str, value: str) -> str:
        return value.strip().lower() if prop == "email" else value

    def reindex_unique(self) -> None:
        self._unique = {p: {} for p in self.unique_props()}
        for rec in self.records.values():
            if not rec.archived:
                self._index_unique(rec, rec.props)

    def _index_unique(self, rec: Record, props: dict[str, str]) -> None:
        for prop, index in self._unique.items():
            value = props.get(prop)
            if value:
                index[self._key(prop, value)] = rec.id

    def _unindex_unique(self, rec: Record) -> None:
        for prop, index in self._unique.items():
            value = rec.props.get(prop)
            if value and index.get(self._key(prop, value)) == rec.id:
                del index[self._key(prop, value)]

    def lookup(self, prop: str, value: str) -> Record | None:
        if prop == "hs_object_id":
            rec = self.records.get(value)
            return rec if rec is not None and not rec.archived else None
        index = self._unique.get(prop)
        if index is None:
            raise validation_error(
                f"{prop} is not a unique property of {self.label.lower()}s; "
                "idProperty must have unique values",
                subCategory="UniquePropertyErrorType.INVALID_ID_PROPERTY",
            )
        found = index.get(self._key(prop, value))
        return self.records.get(found) if found is not None else None

    def conflict(
        self, values: dict[str, str], exclude: str | None = None
    ) -> tuple[str, str, str] | None:
        """(property, value, existing id) of the first unique value already taken."""
        for prop, index in self._unique.items():
            value = values.get(prop)
            if value:
                owner = index.get(self._key(prop, value))
                if owner is not None and owner != exclude:
                    return prop, value, owner
        return None

    # writes ----------------------------------------------------------------------------

    def create(
        self,
        values: dict[str, str],
        now: str,
        visible_at: float | None,
        source: Source = API,
    ) -> Record:
        num = self._next
        self._next += 1
        rid = str(num)
        props = {
            **values,
            "hs_object_id": rid,
            self.created_prop: now,
            self.modified_prop: now,
        }
        self._completion({}, props, now)
        if self.name == DEALS:
            deals.derive({}, props)
        rec = Record(rid, num, props, now, now, created_by=source)
        self.records[rid] = rec
        self._order.append(num)  # ids only grow, so the list stays sorted
        self._index_unique(rec, props)
        self._make_visible(rec, visible_at)
        return rec

    def update(
        self,
        rec: Record,
        values: dict[str, str],
        now: str,
        visible_at: float | None,
        source: Source = API,
    ) -> Record:
        self._unindex_unique(rec)
        props = {**rec.props, **values, self.modified_prop: now}
        self._completion(rec.props, props, now)
        if self.name == DEALS:
            deals.derive(rec.props, props)
        self._record_history(rec, props, (*values, *_DERIVED.get(self.name, ())), now, source)
        rec.props = props
        rec.updated_at = now
        self._index_unique(rec, rec.props)
        self._make_visible(rec, visible_at)
        return rec

    @staticmethod
    def _record_history(
        rec: Record, props: dict[str, str], touched: Sequence[str], now: str, source: Source
    ) -> None:
        """A version for each property this write changed (its last-modified stamp aside,
        which changes on every write and is not worth a list per record)."""
        for name in touched:
            value = props.get(name, "")
            if value == rec.props.get(name, "") or name.endswith("lastmodifieddate"):
                continue
            rec.history[name] = [*rec.versions(name), (value, now, source)]

    def _completion(self, before: dict[str, str], props: dict[str, str], now: str) -> None:
        """HubSpot stamps a task's completion date as its status becomes COMPLETED, keeps
        it while the task stays completed, and clears it when the task is reopened."""
        if self.name != TASKS or TASK_COMPLETED_AT not in self.props:
            return
        if props.get(TASK_STATUS) != TASK_DONE:
            if props.get(TASK_COMPLETED_AT):
                props[TASK_COMPLETED_AT] = ""  # how this store holds a cleared value
        elif before.get(TASK_STATUS) != TASK_DONE or not before.get(TASK_COMPLETED_AT):
            props[TASK_COMPLETED_AT] = now

    def archive(self, rec: Record, now: str) -> None:
        if rec.archived:
            return
        self._unindex_unique(rec)
        rec.archived = True
        rec.archived_at = now
        rec.updated_at = now
        self.changed()

    def changed(self) -> None:
        self.version += 1
        self.search_cache.clear()

    def _make_visible(self, rec: Record, visible_at: float | None) -> None:
        """`None` means now; else the snapshot joins the search index at `visible_at`."""
        self.changed()
        if visible_at is None:
            rec.indexed = rec.props
            rec.pending.clear()
            self._pending_records.discard(rec.id)
            return
        rec.pending.append((visible_at, rec.props))
        self._pending_records.add(rec.id)

    # reads -----------------------------------------------------------------------------

    def get(self, rid: str) -> Record | None:
        return self.records.get(rid)

    def page(self, after: int, limit: int, *, archived: bool) -> tuple[list[Record], int | None]:
        """Records with id >= `after` in id order, and the next `after` if more remain."""
        start = bisect.bisect_left(self._order, after)
        out: list[Record] = []
        for num in self._order[start:]:
            rec = self.records[str(num)]
            if rec.archived != archived:
                continue
            if len(out) == limit:
                return out, num
            out.append(rec)
        return out, None

    def searchable(self, now_ts: float) -> Iterator[tuple[Record, dict[str, str]]]:
        """Live records as the search index sees them at `now_ts`."""
        if self._pending_records:
            self._flush(now_ts)
        for rec in self.records.values():
            if rec.indexed is not None and not rec.archived:
                yield rec, rec.indexed

    def has_pending(self) -> bool:
        return bool(self._pending_records)

    def _flush(self, now_ts: float) -> None:
        for rid in list(self._pending_records):
            rec = self.records[rid]
            while rec.pending and rec.pending[0][0] <= now_ts:
                rec.indexed = rec.pending.pop(0)[1]
                self.changed()
            if not rec.pending:
                self._pending_records.discard(rid)

    def to_api(
        self,
        rec: Record,
        wanted: Sequence[str] | None = None,
        *,
        props: dict[str, str] | None = None,
        full: bool = False,
        history: Sequence[str] = (),
    ) -> dict[str, Any]:
        """The `SimplePublicObject` JSON: requested properties (null when unset), and the
        versions of those in `history`, newest first. Properties asked for with history
        are returned as properties too; asking for history alone replaces the defaults."""
        source = rec.props if props is None else props
        if full:
            shown: dict[str, str | None] = {k: v for k, v in source.items() if v != ""}
        else:
            if wanted is None:
                names = list(history) if history else list(_DEFAULT_READ.get(self.name, ()))
            else:
                names = [*wanted, *history]
            names += _ALWAYS[self.name]
            shown = {n: source.get(n) or None for n in names if n in self.props}
        out: dict[str, Any] = {
            "id": rec.id,
            "properties": dict(sorted(shown.items())),
            "createdAt": rec.created_at,
            "updatedAt": rec.updated_at,
            "archived": rec.archived,
        }
        known = [n for n in dict.fromkeys(history) if n in self.props]
        if known:
            out["propertiesWithHistory"] = {
                n: [_version(v) for v in reversed(rec.versions(n))] for n in known
            }
        if rec.archived_at is not None:
            out["archivedAt"] = rec.archived_at
        return out

    def matching(self, field_name: str, value: str) -> list[Record]:
        """Every record (archived too) whose property equals `value`, for duplicate counts."""
        if field_name == "id":
            rec = self.records.get(value)
            return [rec] if rec is not None else []
        return [r for r in self.records.values() if r.props.get(field_name) == value]


def _version(version: Version) -> dict[str, Any]:
    """One `ValueWithTimestamp`."""
    value, timestamp, source = version
    out: dict[str, Any] = {"value": value, "timestamp": timestamp, "sourceType": source.type}
    if source.id is not None:
        out["sourceId"] = source.id
    if source.user_id is not None:
        out["updatedByUserId"] = source.user_id
    return out

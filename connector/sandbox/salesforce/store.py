"""Records of every object, with the indexes that keep each call cheap at 200k rows.

Values are held as Python values (str, bool, datetime, date, None). Deleted rows stay, with
`IsDeleted` true, so `queryAll` and `/deleted/` can see them. A journal makes multi-record
operations atomic for `allOrNone`."""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

Record = dict[str, Any]

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"  # ASCII order
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def id18(id15: str) -> str:
    """Salesforce's case-safe suffix: one character per 5-char chunk, from the uppercase bits."""
    suffix = ""
    for chunk in range(3):
        bits = 0
        for i, ch in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << i
        suffix += _SUFFIX[bits]
    return id15 + suffix


def make_id(prefix: str, n: int) -> str:
    """The `n`-th 18-character id with key prefix `prefix` (`00Q`, `750`...)."""
    digits = ""
    for _ in range(9):
        n, r = divmod(n, 62)
        digits = _BASE62[r] + digits
    return id18(prefix + "8c0" + digits)


def looks_like_id(value: str) -> bool:
    return len(value) in (15, 18) and value.isalnum()


def format_datetime(value: datetime) -> str:
    """Salesforce's wire format: `2026-11-22T19:06:26.000+0000`."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def to_wire(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def truncate_ms(value: datetime) -> datetime:
    """Salesforce stores datetimes to the millisecond."""
    return value.astimezone(UTC).replace(microsecond=value.microsecond // 1000 * 1000)


@dataclass(slots=True)
class _Table:
    prefix: str
    rows: dict[str, Record] = field(default_factory=dict)
    # (SystemModstamp, Id) of every row, live or deleted, kept sorted
    modstamps: list[tuple[datetime, str]] = field(default_factory=list)
    # unique field (canonical name) -> value -> Id, over live rows
    unique: dict[str, dict[Any, str]] = field(default_factory=dict)
    deleted: dict[str, datetime] = field(default_factory=dict)


class Store:
    """Tables by object name; unique indexes are declared by the schema."""

    def __init__(self, objects: dict[str, tuple[str, list[str]]]) -> None:
        """`objects`: name -> (key prefix, unique field names)."""
        self._tables = {
            name: _Table(prefix, unique={f: {} for f in uniques})
            for name, (prefix, uniques) in objects.items()
        }
        self._counter = 0
        self._journal: list[tuple[str, str, Record | None]] | None = None

    # ids ---------------------------------------------------------------------------
    def new_id(self, object_name: str) -> str:
        """Ids grow in creation order, so `Id > 'x'` pages like Salesforce's do."""
        self._counter += 1
        return make_id(self._tables[object_name].prefix, self._counter)

    def object_for_id(self, record_id: str) -> str | None:
        for name, table in self._tables.items():
            if record_id.startswith(table.prefix):
                return name
        return None

    # reads -------------------------------------------------------------------------
    def get(
        self, object_name: str, record_id: str, *, include_deleted: bool = False
    ) -> Record | None:
        table = self._tables[object_name]
        row = table.rows.get(record_id)
        if row is None and len(record_id) == 15:
            row = table.rows.get(id18(record_id))
        if row is None or (row["IsDeleted"] and not include_deleted):
            return None
        return row

    def by_unique(self, object_name: str, field_name: str, value: Any) -> Record | None:
        index = self._tables[object_name].unique.get(field_name)
        if index is None:
            return None
        record_id = index.get(_key(value))
        return None if record_id is None else self._tables[object_name].rows[record_id]

    def has_unique(self, object_name: str, field_name: str) -> bool:
        return field_name in self._tables[object_name].unique

    def add_unique(self, object_name: str, field_name: str) -> None:
        table = self._tables[object_name]
        index: dict[Any, str] = {}
        for row in table.rows.values():
            value = row.get(field_name)
            if value is not None and not row["IsDeleted"]:
                index.setdefault(_key(value), row["Id"])
        table.unique[field_name] = index

    def drop_unique(self, object_name: str, field_name: str) -> None:
        self._tables[object_name].unique.pop(field_name, None)

    def rows(self, object_name: str) -> dict[str, Record]:
        return self._tables[object_name].rows

    def by_modstamp(
        self, object_name: str, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[Record]:
        """Rows in (SystemModstamp, Id) order from `since` (inclusive) to `until` (inclusive)."""
        table = self._tables[object_name]
        keys = table.modstamps
        start = 0 if since is None else bisect.bisect_left(keys, (since, ""))
        for i in range(start, len(keys)):
            stamp, record_id = keys[i]
            if until is not None and stamp > until:
                return
            yield table.rows[record_id]

    def deleted_between(
        self, object_name: str, start: datetime, end: datetime
    ) -> list[tuple[str, datetime]]:
        table = self._tables[object_name]
        return sorted((rid, when) for rid, when in table.deleted.items() if start <= when <= end)

    def earliest_deleted(self, object_name: str) -> datetime | None:
        deleted = self._tables[object_name].deleted
        return min(deleted.values()) if deleted else None

    # writes ------------------------------------------------------------------------
    def put(self, object_name: str, record: Record) -> None:
        """Insert or replace a row (a full record), keeping every index in step."""
        table = self._tables[object_name]
        record_id = record["Id"]
        old = table.rows.get(record_id)
        if self._journal is not None:
            self._journal.append((object_name, record_id, None if old is None else dict(old)))
        self._unindex(table, old)
        table.rows[record_id] = record
        self._index(table, record)

    def _index(self, table: _Table, row: Record) -> None:
        bisect.insort(table.modstamps, (row["SystemModstamp"], row["Id"]))
        if row["IsDeleted"]:
            table.deleted[row["Id"]] = row["LastModifiedDate"]
            return
        for name, index in table.unique.items():
            value = row.get(name)
            if value is not None:
                index[_key(value)] = row["Id"]

    def _unindex(self, table: _Table, row: Record | None) -> None:
        if row is None:
            return
        key = (row["SystemModstamp"], row["Id"])
        i = bisect.bisect_left(table.modstamps, key)
        if i < len(table.modstamps) and table.modstamps[i] == key:
            del table.modstamps[i]
        table.deleted.pop(row["Id"], None)
        for name, index in table.unique.items():
            value = row.get(name)
            if value is not None and index.get(_key(value)) == row["Id"]:
                del index[_key(value)]

    def _restore(self, object_name: str, record_id: str, old: Record | None) -> None:
        table = self._tables[object_name]
        self._unindex(table, table.rows.get(record_id))
        if old is None:
            table.rows.pop(record_id, None)
        else:
            table.rows[record_id] = old
            self._index(table, old)

    # transactions ------------------------------------------------------------------
    def begin(self) -> int:
        """Start (or nest into) a journal; returns a savepoint for `rollback`."""
        if self._journal is None:
            self._journal = []
        return len(self._journal)

    def rollback(self, savepoint: int) -> None:
        journal = self._journal or []
        while len(journal) > savepoint:
            object_name, record_id, old = journal.pop()
            self._restore(object_name, record_id, old)

    def journaled(self, since: int = 0) -> list[str]:
        """Object names of the rows written since a savepoint, one per write."""
        return [entry[0] for entry in (self._journal or [])[since:]]

    def end(self) -> None:
        self._journal = None

    def clear(self) -> None:
        for table in self._tables.values():
            table.rows.clear()
            table.modstamps.clear()
            table.deleted.clear()
            for index in table.unique.values():
                index.clear()
        self._journal = None


def _key(value: Any) -> Any:
    # external ids match case-insensitively unless declared case-sensitive
    return value.lower() if isinstance(value, str) else value

"""The consent ledger's hash chain: each row carries the hash of the row before it
(`prev_hash`, by id) and its own (`row_hash` = sha256 of that and a canonical JSON of its
fields), so changing, removing or reordering any row breaks the chain from there on.

The canonical form is every column of the row except `id`, `prev_hash` and `row_hash`,
NULLs left out, datetimes as UTC ISO text, keys sorted: a column added later (a purpose)
is covered for the rows that carry it, and rows written before it keep their hashes.
Appends are serialised (SQLite's single writer; a transaction advisory lock on Postgres)
so two writers never hang a row on the same predecessor."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

GENESIS = "0" * 64
UNHASHED = frozenset({"id", "prev_hash", "row_hash"})
# pg_advisory_xact_lock key of the ledger's appends ("consent_chain" as a signed 64-bit int)
_LOCK_KEY = int.from_bytes(
    hashlib.blake2b(b"smsync:consent_chain", digest_size=8).digest(), "big", signed=True
)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat(timespec="microseconds")
    if hasattr(value, "value") and not isinstance(value, str | int | float | bool):
        return value.value  # an enum
    return value


def canonical(fields: Mapping[str, Any]) -> str:
    """The row's fields as hashed: sorted keys, no NULLs, compact separators."""
    kept = {k: _plain(v) for k, v in fields.items() if k not in UNHASHED and v is not None}
    return json.dumps(kept, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def row_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    return hashlib.sha256(f"{prev_hash}\n{canonical(fields)}".encode()).hexdigest()


def head(conn: sa.Connection, table: sa.Table) -> str:
    """The last row's hash, with the append lock taken (held to the end of the transaction)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_LOCK_KEY)))
    last = conn.execute(
        sa.select(table.c.row_hash).order_by(table.c.id.desc()).limit(1)
    ).scalar_one_or_none()
    return last or GENESIS


def chained(conn: sa.Connection, table: sa.Table, values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` with its `prev_hash` and `row_hash`, ready to insert."""
    return chained_many(conn, table, [values])[0]


def chained_many(
    conn: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """`rows` hung one after the other on the chain's head (read once, the lock taken), to
    be inserted in this order in this transaction: each row's predecessor is the one
    before it. Only for rows that cannot collide with a unique key (an insert skipped on
    conflict would leave the next row hanging on a row that is not there)."""
    prev = head(conn, table)
    out: list[dict[str, Any]] = []
    for values in rows:
        own = row_hash(prev, values)
        out.append({**values, "prev_hash": prev, "row_hash": own})
        prev = own
    return out


@dataclass(frozen=True, slots=True)
class Broken:
    """The first row where the chain does not hold, and why."""

    row_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class Verdict:
    rows: int
    head: str
    broken: Broken | None


def rows_in_order(conn: sa.Connection, table: sa.Table, batch: int = 2000) -> Iterator[Any]:
    """Every row by id, streamed (a server-side cursor on Postgres), never all in memory."""
    stmt = sa.select(table).order_by(table.c.id)
    yield from conn.execution_options(yield_per=batch).execute(stmt)


def verify(conn: sa.Connection, table: sa.Table) -> Verdict:
    """Walk the whole chain; stop at the first row that does not hold."""
    prev = GENESIS
    n = 0
    for row in rows_in_order(conn, table):
        fields = row._asdict()
        n += 1
        if fields["prev_hash"] != prev:
            why = (
                "a row before it was removed, inserted or changed its place"
                if fields["prev_hash"]
                else "it carries no hash (written around the store)"
            )
            return Verdict(n, prev, Broken(row.id, why))
        if row_hash(prev, fields) != fields["row_hash"]:
            return Verdict(
                n, prev, Broken(row.id, "its contents were changed after it was written")
            )
        prev = fields["row_hash"]
    return Verdict(n, prev, None)

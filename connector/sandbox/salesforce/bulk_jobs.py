"""Bulk API 2.0 query jobs: the job record and its states, the result snapshot, the CSV
Salesforce writes, locators, and the SOQL that Bulk refuses.

A job is created `UploadComplete`; the first poll of its info finds it `InProgress`; a later
poll (the next one, or later as the `bulk` fault knobs ask: extra polls, sandbox seconds)
finishes it `JobComplete` or `Failed`. Finishing takes the snapshot: the matching rows, and
the parents its relationship columns read, as they stood then, in the SOQL's order (the
store replaces a row on every write, so holding the row objects is the snapshot)."""

from __future__ import annotations

import base64
import binascii
import csv
import io
import itertools
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from connector.sandbox.faults import BulkFailure
from connector.sandbox.salesforce.soql import Query, SoqlError, tokenize
from connector.sandbox.salesforce.soql_eval import Column, Evaluator
from connector.sandbox.salesforce.store import Record, Store, format_datetime

DELIMITERS = {
    "BACKQUOTE": "`",
    "CARET": "^",
    "COMMA": ",",
    "PIPE": "|",
    "SEMICOLON": ";",
    "TAB": "\t",
}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
ACTIVE = frozenset({"UploadComplete", "InProgress"})
_CHUNK_ROWS = 1000  # rows rendered per streamed chunk
_AGGREGATES = frozenset({"COUNT", "COUNT_DISTINCT", "SUM", "AVG", "MIN", "MAX"})


@dataclass(slots=True)
class QueryJob:
    id: str
    operation: str  # query | queryAll
    query: Query
    columns: list[Column]
    object_name: str
    version: str  # the API version it was created with: "62.0"
    created_by: str
    created: datetime
    delimiter: str  # a DELIMITERS key
    line_ending: str  # a LINE_ENDINGS key
    in_progress_polls: int  # polls answered InProgress before one may finish it
    ready_at: datetime  # it finishes no sooner (sandbox clock)
    failure: BulkFailure | None  # injected: it ends Failed this way
    state: str = "UploadComplete"
    modstamp: datetime = field(init=False)
    polls: int = 0
    started: datetime | None = None
    finished: datetime | None = None
    rows: list[Record] = field(default_factory=list)
    parents: dict[str, Record] = field(default_factory=dict)
    error_message: str | None = None
    retries: int = 0
    pages: dict[int, int] = field(default_factory=dict)  # locator offset -> page ordinal

    def __post_init__(self) -> None:
        self.modstamp = self.created

    def info(self, *, form: str = "full") -> dict[str, Any]:
        """The job as documented: `abort` (Abort a Query Job), `create` (Create a Query Job),
        `list` (a record of Get Information About All Query Jobs) or `full` (Get Information
        About a Query Job)."""
        body: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.object_name,
            "createdById": self.created_by,
            "createdDate": format_datetime(self.created),
            "systemModstamp": format_datetime(self.modstamp),
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.version),
        }
        if form == "abort":
            return body
        if form != "create":
            body["jobType"] = "V2Query"
        body["lineEnding"] = self.line_ending
        body["columnDelimiter"] = self.delimiter
        if form != "full":
            return body
        body["numberRecordsProcessed"] = len(self.rows)
        body["retries"] = self.retries
        body["totalProcessingTime"] = self.processing_ms()
        if self.error_message is not None:
            body["errorMessage"] = self.error_message
        return body

    def processing_ms(self) -> int:
        if self.started is None or self.finished is None:
            return 0
        return int((self.finished - self.started).total_seconds() * 1000)

    def poll(self, now: datetime) -> bool:
        """One poll of the job's info; True when this poll should finish it."""
        if self.state not in ACTIVE:
            return False
        self.polls += 1
        if self.polls > self.in_progress_polls and now >= self.ready_at:
            return True
        if self.state == "UploadComplete":
            self.state = "InProgress"
            self.started = self.modstamp = now
        return False

    def finish(self, now: datetime, evaluator: Evaluator, store: Store) -> None:
        """JobComplete with the snapshot, or Failed (injected, or the query no longer runs)."""
        self.started = self.started or now
        self.finished = self.modstamp = now
        if self.failure is not None:
            self.state = "Failed"
            self.error_message = self.failure.error_message
            self.retries = self.failure.retries
            return
        try:
            result = evaluator.run(self.query, include_deleted=self.operation == "queryAll")
        except SoqlError as exc:  # e.g. a field dropped since the job was created
            self.state = "Failed"
            self.error_message = (
                f"InvalidBatch : Failed to process query: {exc.code}: {exc.message}"
            )
            return
        name = result.sobject.name
        rows = (store.get(name, rid, include_deleted=True) for rid in result.ids)
        self.rows = [r for r in rows if r is not None]
        for col in self.columns:
            if col.reference is not None:
                self._snapshot_parents(store, col.reference.name)
        self.state = "JobComplete"

    def _snapshot_parents(self, store: Store, reference: str) -> None:
        for row in self.rows:
            parent_id = row.get(reference)
            if not parent_id or parent_id in self.parents:
                continue
            parent_object = store.object_for_id(parent_id)
            parent = store.get(parent_object, parent_id) if parent_object else None
            if parent is not None:
                self.parents[parent_id] = parent

    def page_of(self, offset: int) -> int:
        """The ordinal of the page a locator's offset starts, handing out a new one once."""
        return self.pages.setdefault(offset, len(self.pages) + 1)

    def csv(self, start: int, end: int) -> AsyncIterator[bytes]:
        """Rows `start:end` as Salesforce writes them, header first, in streamed chunks."""
        return _chunks(self, start, end)


async def _chunks(job: QueryJob, start: int, end: int) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(
        buffer,
        delimiter=DELIMITERS[job.delimiter],
        lineterminator=LINE_ENDINGS[job.line_ending],
        quoting=csv.QUOTE_ALL,
    )
    writer.writerow([".".join(col.path) for col in job.columns])
    for i in range(start, end, _CHUNK_ROWS):
        writer.writerows(_values(job, job.rows[i : min(end, i + _CHUNK_ROWS)]))
        yield buffer.getvalue().encode("utf-8")
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode("utf-8")


def _values(job: QueryJob, rows: Iterable[Record]) -> Iterable[list[str]]:
    for row in rows:
        out: list[str] = []
        for col in job.columns:
            if col.reference is None:
                value = row.get(col.field.name)
            else:
                parent = job.parents.get(row.get(col.reference.name) or "")
                value = None if parent is None else parent.get(col.field.name)
            out.append(cell(value))
        yield out


def cell(value: Any) -> str:
    """One CSV value: null empty, booleans true/false, datetimes ISO 8601 UTC with `Z`."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        utc = value.astimezone(UTC)
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def encode_locator(offset: int) -> str:
    """Opaque to clients; like the documented `MTAwMDA`, the base64 of the offset."""
    return base64.b64encode(str(offset).encode()).decode().rstrip("=")


def decode_locator(locator: str) -> int | None:
    try:
        raw = base64.b64decode(locator + "=" * (-len(locator) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    text = raw.decode("ascii", errors="replace")
    return int(text) if text.isdigit() else None


def unsupported(text: str) -> str | None:
    """Why Bulk API 2.0 refuses this SOQL (aggregates, GROUP BY, OFFSET, TYPEOF,
    parent-to-child subqueries), or None. Malformed text raises MALFORMED_QUERY."""
    tokens = tokenize(text)
    depth = 0
    in_select = True
    for tok, nxt in itertools.pairwise(tokens):
        word = tok.text.upper() if tok.kind == "ident" else ""
        if tok.kind == "punct" and tok.text == "(":
            if in_select and depth == 0 and nxt.text.upper() == "SELECT":
                return "Aggregate Relationships not supported in Bulk Query"
            depth += 1
        elif tok.kind == "punct" and tok.text == ")":
            depth -= 1
        elif word == "FROM" and depth == 0:
            in_select = False
        elif word in _AGGREGATES and nxt.text == "(":
            return "Aggregate queries not supported in Bulk Query"
        elif word == "GROUP" and nxt.text.upper() == "BY":
            return "GROUP BY not supported in Bulk Query"
        elif word in {"OFFSET", "TYPEOF"}:
            return f"{word} not supported in Bulk Query"
    return None

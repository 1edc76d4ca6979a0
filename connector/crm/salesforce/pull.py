"""Incremental pull of the mapped objects through SystemModstamp.

- The objects' streams are merged in (SystemModstamp, Id) order, and the same tie-break
  resumes every object, so one `Cursor` covers Lead and Contact alike.
- Each query page is converted and yielded as it arrives (`Sforce-Query-Options:
  batchSize=N`): a first pull of 200k rows never sits in memory.
- A lookback window re-reads recent rows, because rows commit late with older modstamps;
  what was already emitted at the same modstamp is dropped, so each change is emitted once.
- Deletes come from `/sobjects/{T}/deleted/`, whose `latestDateCovered` is also the
  server's clock: a cursor past it is clamped there, with a warning.
- Only server values become cursors.
- Above `bulk_threshold` changed rows of one object (a `COUNT()` on the same WHERE), that
  object's rows come from a Bulk API 2.0 query job (`bulk.py`) instead of REST pages: the
  same SOQL, order, dedupe and cursor, in far fewer API calls."""

from __future__ import annotations

import heapq
import re
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from connector.crm.salesforce.bulk import BulkReader
from connector.crm.salesforce.http import SalesforceApi
from connector.crm.salesforce.mapping import ObjectMap, SalesforceMapping, parse_datetime
from connector.crm.salesforce.queries import count_query, pull_query
from connector.domain.model import ContactState, CrmRef
from connector.errors import ConfigError, FatalError
from connector.ports import Cursor, PullBatch

log = structlog.get_logger(__name__)
_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
MAX_REPLICATION_WINDOW = timedelta(days=30)
Position = tuple[datetime, str]
Row = tuple[datetime, str, str, dict[str, Any]]


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


class Puller:
    """Holds what it emitted within the lookback window, to emit each change once."""

    def __init__(
        self,
        api: SalesforceApi,
        mapping: SalesforceMapping,
        *,
        batch_size: int,
        lookback: timedelta,
        bulk_threshold: int = 0,
        bulk: BulkReader | None = None,
    ) -> None:
        self.api = api
        self.bulk_threshold = bulk_threshold
        self.bulk = bulk or BulkReader(api)
        self.mapping = mapping
        self.batch_size = batch_size
        self.lookback = lookback
        self._seen: dict[str, datetime] = {}
        self._order: deque[tuple[datetime, str]] = deque()

    # dedupe ------------------------------------------------------------------------------
    def _fresh(self, record_id: str, stamp: datetime) -> bool:
        """True the first time this (Id, modstamp) is seen; remembers it."""
        if self._seen.get(record_id) == stamp:
            return False
        self._seen[record_id] = stamp
        self._order.append((stamp, record_id))
        return True

    def _forget_before(self, horizon: datetime) -> None:
        keep = horizon - max(2 * self.lookback, timedelta(minutes=1))
        while self._order and self._order[0][0] < keep:
            stamp, record_id = self._order.popleft()
            if self._seen.get(record_id) == stamp:
                del self._seen[record_id]

    # the cursor --------------------------------------------------------------------------
    def _sane(self, since: Cursor | None) -> Cursor | None:
        """A usable cursor, or None for a full pull; never a crash on a bad saved one."""
        if since is None:
            return None
        stamp: Any = getattr(since, "modstamp", None)
        record_id: Any = getattr(since, "id", "")
        if not isinstance(stamp, datetime):
            log.warning("salesforce.cursor_malformed", reason="modstamp is not a datetime")
            return None
        if stamp.tzinfo is None:
            log.warning("salesforce.cursor_malformed", reason="naive modstamp taken as UTC")
            stamp = stamp.replace(tzinfo=UTC)
        if not isinstance(record_id, str) or (record_id and not _ID.fullmatch(record_id)):
            log.warning("salesforce.cursor_malformed", reason="id is not a Salesforce id")
            record_id = ""
        return Cursor(stamp.astimezone(UTC), record_id)

    # deletes -----------------------------------------------------------------------------
    def _deleted(self, since: Cursor) -> tuple[list[ContactState], datetime | None]:
        """Deletes in the window, and the server's clock (`latestDateCovered`)."""
        end = max(datetime.now(UTC), since.modstamp) + timedelta(hours=1)
        start = since.modstamp - self.lookback
        start = min(max(start, end - MAX_REPLICATION_WINDOW + timedelta(minutes=1)), end)
        states: list[ContactState] = []
        server_now: datetime | None = None
        for name in self.mapping.objects:
            try:
                body = self.api.restful(
                    "deleted",
                    f"sobjects/{name}/deleted/",
                    params={"start": _stamp(start), "end": _stamp(end)},
                )
            except (ConfigError, FatalError) as exc:
                log.warning("salesforce.deleted_unavailable", object=name, detail=str(exc))
                continue
            body = body if isinstance(body, dict) else {}
            covered = parse_datetime(body.get("latestDateCovered"))
            if covered is not None:
                server_now = covered if server_now is None else max(server_now, covered)
            for item in body.get("deletedRecords") or []:
                when = parse_datetime(item.get("deletedDate"))
                rid = str(item.get("id", ""))
                if not rid or when is None or not self._fresh(rid, when):
                    continue
                states.append(
                    ContactState(ref=CrmRef(name, rid), phone=None, modstamp=when, deleted=True)
                )
        return states, server_now

    # rows --------------------------------------------------------------------------------
    def _use_bulk(self, obj: ObjectMap, start: Cursor | None) -> bool:
        """More changed rows than `bulk_threshold` (0: never Bulk)."""
        if self.bulk_threshold <= 0:
            return False
        changed = self.api.count(count_query(obj.name, start))
        if changed <= self.bulk_threshold:
            return False
        log.info("salesforce.pull_bulk", object=obj.name, changed=changed)
        return True

    def _rows(self, obj: ObjectMap, start: Cursor | None) -> Iterator[Row]:
        soql = pull_query(obj.name, obj.select(), start)
        pages = (
            self.bulk.pages(obj.name, soql)
            if self._use_bulk(obj, start)
            else self.api.query_pages(soql, batch_size=self.batch_size)
        )
        for page in pages:
            for row in page:
                stamp = parse_datetime(row.get("SystemModstamp"))
                if stamp is None:  # never from Salesforce; skip rather than guess
                    continue
                yield stamp, str(row["Id"]), obj.name, row

    def pull(self, since: Cursor | None) -> Iterator[PullBatch]:
        resume = self._sane(since)
        if resume is not None:
            deleted, server_now = self._deleted(resume)
            # latestDateCovered is truncated to the minute: allow one minute of it
            if server_now is not None and resume.modstamp > server_now + timedelta(minutes=1):
                log.warning(
                    "salesforce.cursor_in_future",
                    cursor=resume.modstamp.isoformat(),
                    server_now=server_now.isoformat(),
                    action="clamped to the server's time",
                )
                resume = Cursor(server_now, "")
            if deleted:
                yield PullBatch(deleted, None)
        start: Cursor | None = None
        if resume is not None:
            start = Cursor(resume.modstamp - self.lookback, "") if self.lookback else resume
        position: Position | None = (resume.modstamp, resume.id) if resume else None
        floor = position
        streams = [self._rows(obj, start) for obj in self.mapping.objects.values()]
        batch: list[ContactState] = []
        for stamp, record_id, name, row in heapq.merge(*streams, key=lambda r: (r[0], r[1])):
            here = (stamp, record_id)
            if position is None or here > position:
                position = here
            if floor is not None and here <= floor and not self.lookback:
                continue  # the query is a superset (whole seconds); this row was emitted
            if not self._fresh(record_id, stamp):
                continue
            batch.append(self.mapping.to_contact(name, row))
            if len(batch) >= self.batch_size:
                yield PullBatch(batch, Cursor(*position))
                self._forget_before(position[0])
                batch = []
        if batch:
            assert position is not None
            yield PullBatch(batch, Cursor(*position))
            self._forget_before(position[0])

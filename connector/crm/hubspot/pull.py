"""Incremental pull of contacts within HubSpot search's 10,000-result cap.

- First backfill (no cursor): the list endpoint, paged with `after`.
- Afterwards: search on `lastmodifieddate` from the cursor minus a lookback (the search
  index shows changes late) up to the newest modstamp HubSpot shows now. That range is
  cut into windows whose `total` is at most 10,000, halving any window that reports more.
  Inside a window, pages are keyed on `hs_object_id` (`GT last id`, sorted by id): no
  request ever pages by offset, so none can be refused past 10,000, a record that leaves
  the window mid-read shifts nothing, and a window holding a single timestamp still ends.
- The cursor is only ever a record's own `lastmodifieddate` and id (server values), and it
  moves only when a window is complete.
- The lookback re-reads recent rows; a record already emitted with the same modstamp is
  not emitted again (remembered for the lookback horizon).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from connector.crm.hubspot.http import HubSpotApi
from connector.crm.hubspot.mapping import MODIFIED, ContactMapper, epoch_ms, parse_stamp
from connector.domain.model import ContactState
from connector.errors import FatalError
from connector.ports import Cursor, PullBatch

log = structlog.get_logger(__name__)

SEARCH_CAP = 10_000
SEARCH_PAGE = 200
LIST_PAGE = 100


@dataclass(frozen=True, slots=True)
class _Row:
    id: str
    props: dict[str, Any]
    stamp_ms: int


def _row(obj: dict[str, Any]) -> _Row | None:
    props: dict[str, Any] = dict(obj.get("properties") or {})
    when = parse_stamp(props.get(MODIFIED)) or parse_stamp(obj.get("updatedAt"))
    if when is None:
        return None
    return _Row(str(obj["id"]), props, epoch_ms(when))


def _next_after(page: dict[str, Any]) -> str | None:
    nxt = (page.get("paging") or {}).get("next") or {}
    after = nxt.get("after")
    return str(after) if after else None


class ContactPuller:
    def __init__(self, api: HubSpotApi, mapper: ContactMapper, *, lookback_s: float) -> None:
        self.api = api
        self.mapper = mapper
        self.lookback_ms = int(lookback_s * 1000)
        self._emitted: dict[str, int] = {}  # record id -> modstamp (ms) last emitted
        self.searches = 0
        self.splits = 0

    # entry point ---------------------------------------------------------------------

    def pull(self, since: Cursor | None) -> Iterator[PullBatch]:
        top = self._newest()
        if since is None:
            yield from self._backfill(top)
            return
        if top is None:
            return
        lo = epoch_ms(since.modstamp) - self.lookback_ms
        yield from self._windows(lo, top.stamp_ms, since)
        self._forget_before(top.stamp_ms - self.lookback_ms)

    # reading -------------------------------------------------------------------------

    def _newest(self) -> _Row | None:
        """The newest change the search index shows now: the upper end of this pull."""
        body = {
            "sorts": [{"propertyName": MODIFIED, "direction": "DESCENDING"}],
            "properties": [MODIFIED],
            "limit": 1,
        }
        results = self._search(body).get("results") or []
        return _row(results[0]) if results else None

    def _search(self, body: dict[str, Any]) -> dict[str, Any]:
        self.searches += 1
        data: dict[str, Any] = self.api.call(
            "search contacts",
            self.api.contacts_search.do_search_with_http_info,
            search=True,
            raw=True,
            public_object_search_request=body,
        ).data
        return data

    def _window_page(self, lo: int, hi: int, after_id: int) -> dict[str, Any]:
        filters = [
            {"propertyName": MODIFIED, "operator": "GTE", "value": str(lo)},
            {"propertyName": MODIFIED, "operator": "LTE", "value": str(hi)},
        ]
        if after_id:
            filters.append(
                {"propertyName": "hs_object_id", "operator": "GT", "value": str(after_id)}
            )
        return self._search(
            {
                "filterGroups": [{"filters": filters}],
                "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
                "properties": self.mapper.properties(),
                "limit": SEARCH_PAGE,
            }
        )

    def _windows(self, lo: int, hi: int, since: Cursor) -> Iterator[PullBatch]:
        cursor = since
        pending = [(lo, hi)]
        while pending:
            w_lo, w_hi = pending.pop(0)
            page = self._window_page(w_lo, w_hi, 0)
            total = int(page.get("total") or 0)
            if total > SEARCH_CAP and w_hi > w_lo:
                mid = (w_lo + w_hi) // 2
                pending[0:0] = [(w_lo, mid), (mid + 1, w_hi)]
                self.splits += 1
                log.debug("hubspot.pull.split", total=total, span_ms=w_hi - w_lo)
                continue
            newest: _Row | None = None
            last_id = 0
            while True:
                rows = [r for r in map(_row, page.get("results") or []) if r is not None]
                for r in rows:
                    if newest is None or (r.stamp_ms, int(r.id)) > (
                        newest.stamp_ms,
                        int(newest.id),
                    ):
                        newest = r
                done = len(rows) < SEARCH_PAGE
                if done and newest is not None and self._later(newest, cursor):
                    cursor = self._cursor(newest)
                states = self._emit(rows)
                if states or done:
                    yield PullBatch(states, cursor)
                if done:
                    break
                next_id = int(rows[-1].id)
                if next_id <= last_id:
                    raise FatalError(f"HubSpot search paging did not advance past id {next_id}")
                last_id = next_id
                page = self._window_page(w_lo, w_hi, last_id)

    @staticmethod
    def _later(row: _Row, cursor: Cursor) -> bool:
        return row.stamp_ms > epoch_ms(cursor.modstamp)

    @staticmethod
    def _cursor(row: _Row) -> Cursor:
        return Cursor(datetime.fromtimestamp(row.stamp_ms / 1000, tz=UTC), row.id)

    def _backfill(self, top: _Row | None) -> Iterator[PullBatch]:
        """Every contact by id through the list endpoint; the cursor is then the newest
        change seen before the backfill began, so anything modified meanwhile is read
        again by the next incremental pull."""
        after: str | None = None
        seen_after: set[str] = set()
        # only what the next incremental pull can read again is remembered for its dedupe:
        # older records would be forgotten at the end anyway, and remembering each of a
        # million grew the process by about 100 MB
        remember_from = None if top is None else self._horizon(top.stamp_ms - self.lookback_ms)
        while True:
            kwargs: dict[str, Any] = {
                "limit": LIST_PAGE,
                "properties": self.mapper.properties(),
                "archived": False,
            }
            if after:
                kwargs["after"] = after
            page = self.api.call(
                "list contacts", self.api.contacts_basic.get_page_with_http_info, raw=True, **kwargs
            ).data
            rows = [r for r in map(_row, page.get("results") or []) if r is not None]
            nxt = _next_after(page)
            states = self._emit(rows, remember_from)
            if nxt is None:
                yield PullBatch(states, self._cursor(top) if top else None)
                break
            yield PullBatch(states, None)
            if nxt in seen_after:
                raise FatalError(f"HubSpot list paging repeated the cursor {nxt!r}")
            seen_after.add(nxt)
            after = nxt
        if top is not None:
            self._forget_before(top.stamp_ms - self.lookback_ms)

    # dedupe --------------------------------------------------------------------------

    def _emit(self, rows: list[_Row], remember_from: int | None = None) -> list[ContactState]:
        """The rows not emitted before at the same stamp; each remembered unless its stamp
        is before `remember_from`."""
        out: list[ContactState] = []
        for r in rows:
            if self._emitted.get(r.id) == r.stamp_ms:
                continue
            if remember_from is None or r.stamp_ms >= remember_from:
                self._emitted[r.id] = r.stamp_ms
            out.append(self.mapper.to_state(r.id, r.props))
        return out

    def _horizon(self, stamp_ms: int) -> int:
        return stamp_ms - self.lookback_ms  # keep a second lookback's worth of slack

    def _forget_before(self, stamp_ms: int) -> None:
        horizon = self._horizon(stamp_ms)
        self._emitted = {k: v for k, v in self._emitted.items() if v >= horizon}

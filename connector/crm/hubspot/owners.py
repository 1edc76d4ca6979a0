"""HubSpot's owner directory (GET /crm/v3/owners), read whole and kept a few minutes.

The owners API has no batch read by id, and a portal holds at most a few thousand owners,
so one paged read answers every lookup until it goes stale. Only active owners are listed:
a template should not name a rep who has left."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from connector.crm.hubspot.http import HubSpotApi
from connector.errors import FatalError
from connector.ports import Owner

OWNERS_PAGE = 500  # the API's maximum page size
OWNERS_TTL_S = 300.0  # a renamed or new owner shows up within five minutes


class OwnerDirectory:
    """Owners by id, re-read when older than `ttl_s` on `clock` (monotonic seconds)."""

    def __init__(
        self,
        api: HubSpotApi,
        *,
        ttl_s: float = OWNERS_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api = api
        self.ttl_s = ttl_s
        self._clock = clock
        self._owners: dict[str, Owner] | None = None
        self._read_at = 0.0
        # one reader at a time: concurrent jobs wait for the read in flight, not page again
        self._lock = threading.Lock()

    def lookup(self, ids: Sequence[str]) -> dict[str, Owner]:
        wanted = list(dict.fromkeys(i for i in ids if i))
        if not wanted:
            return {}
        directory = self._directory()
        return {i: directory[i] for i in wanted if i in directory}

    def _directory(self) -> dict[str, Owner]:
        with self._lock:
            if self._owners is None or self._clock() - self._read_at >= self.ttl_s:
                self._owners = self._read_all()
                self._read_at = self._clock()
            return self._owners

    def _read_all(self) -> dict[str, Owner]:
        owners: dict[str, Owner] = {}
        after: str | None = None
        seen: set[str] = set()
        while True:
            kwargs: dict[str, Any] = {"limit": OWNERS_PAGE, "archived": False}
            if after:
                kwargs["after"] = after
            page: dict[str, Any] = self.api.call(
                "list owners", self.api.owners.get_page_with_http_info, raw=True, **kwargs
            ).data
            for row in page.get("results") or []:
                owner_id = str(row.get("id") or "")
                if owner_id:
                    owners[owner_id] = Owner(
                        owner_id, _text(row.get("firstName")), _text(row.get("lastName"))
                    )
            nxt = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not nxt:
                return owners
            if nxt in seen:  # docs/style.md, rule 12: a repeating cursor would page forever
                raise FatalError(f"HubSpot owners paging repeated the cursor {nxt!r}")
            seen.add(str(nxt))
            after = str(nxt)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None

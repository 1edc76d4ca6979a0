"""A rep's texts from HubSpot (the mapping's `rep_send:` task): one tasks search on the
mapped status and kind, one v4 association read (tasks -> contacts) when it finds any,
the outcome written back in one batch update per 100 tasks."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

from connector.config import RepSend
from connector.crm.hubspot.http import HubSpotApi
from connector.crm.hubspot.mapping import CONTACTS
from connector.domain.model import CrmRef
from connector.ports import RepSendOutcome, RepSendRecord

SEARCH_MAX = 100  # results per search page (HubSpot's documented page limit is 200)
BATCH_MAX = 100  # inputs per batch update
RESULT_MAX = 1000
_TAG = re.compile(r"<[^>]+>")
_BREAK = re.compile(r"<br\s*/?>|</p>\s*<p[^>]*>", re.IGNORECASE)


def plain(body: str | None) -> str | None:
    """The notes as text: HubSpot's editor stores them as HTML (<p>, <br>, entities)."""
    if body is None:
        return None
    return html.unescape(_TAG.sub("", _BREAK.sub("\n", body))).strip()


class RepSends:
    def __init__(self, api: HubSpotApi, cfg: RepSend) -> None:
        self.api = api
        self.cfg = cfg

    def pending(self, limit: int) -> list[RepSendRecord]:
        cfg = self.cfg
        filters = [{"propertyName": cfg.status_field, "operator": "EQ", "value": cfg.send_status}]
        if cfg.kind_field is not None and cfg.kind is not None:
            filters.append({"propertyName": cfg.kind_field, "operator": "EQ", "value": cfg.kind})
        body: dict[str, object] = {
            "filterGroups": [{"filters": filters}],
            "sorts": [{"propertyName": "hs_createdate", "direction": "ASCENDING"}],
            "properties": [cfg.body_field, "hubspot_owner_id"],
            "limit": min(limit, SEARCH_MAX),
        }
        page = self.api.call(
            "search rep sends",
            self.api.tasks_search.do_search_with_http_info,
            search=True,
            raw=True,
            public_object_search_request=body,
        ).data
        rows: list[dict[str, Any]] = list(page.get("results") or [])
        if not rows:
            return []
        people = self._contacts([str(r["id"]) for r in rows])
        return [
            RepSendRecord(
                id=str(r["id"]),
                contact=people.get(str(r["id"])),
                owner_id=(r.get("properties") or {}).get("hubspot_owner_id") or None,
                body=plain((r.get("properties") or {}).get(cfg.body_field)),
            )
            for r in rows
        ]

    def _contacts(self, ids: list[str]) -> dict[str, CrmRef]:
        request = {"inputs": [{"id": i} for i in ids]}
        data: dict[str, Any] = self.api.call(
            "read rep send contacts",
            self.api.associations_v4.get_page_with_http_info,
            raw=True,
            from_object_type=self.cfg.object,
            to_object_type=CONTACTS,
            batch_input_public_fetch_associations_batch_request=request,
        ).data
        out: dict[str, CrmRef] = {}
        for r in data.get("results") or []:
            to = r.get("to") or []
            if to:  # a task on several contacts texts the first; HubSpot lists by id
                out[str(r["from"]["id"])] = CrmRef(CONTACTS, str(to[0]["toObjectId"]))
        return out

    def settle(self, outcomes: Sequence[RepSendOutcome]) -> set[str]:
        ok: set[str] = set()
        for n in range(0, len(outcomes), BATCH_MAX):
            chunk = outcomes[n : n + BATCH_MAX]
            inputs = [{"id": o.id, "properties": self._properties(o)} for o in chunk]
            data: dict[str, Any] = self.api.call(
                "write rep send results",
                self.api.tasks_batch.update_with_http_info,
                raw=True,
                batch_input_simple_public_object_batch_input={"inputs": inputs},
            ).data
            ok.update(str(r.get("id")) for r in data.get("results") or [])
        return ok

    def _properties(self, outcome: RepSendOutcome) -> dict[str, str]:
        props = {self.cfg.result_field: outcome.result[:RESULT_MAX]}
        if outcome.done:
            props[self.cfg.status_field] = self.cfg.done_status
        return props

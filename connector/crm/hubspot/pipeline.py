"""Incremental pull of the pipeline: deals changed after the cursor (search on
`hs_lastmodifieddate`, oldest first, optionally one pipeline), each page with its
`dealstage` history (batch read with `propertiesWithHistory`) and its contacts (v4
associations batch read). The cursor is the last deal's own modstamp and id."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from hubspot.crm.associations.v4 import BatchInputPublicFetchAssociationsBatchRequest
from hubspot.crm.associations.v4 import PublicFetchAssociationsBatchRequest as FetchRequest
from hubspot.crm.deals import BatchReadInputSimplePublicObjectId, SimplePublicObjectId

from connector.crm.hubspot.http import HubSpotApi
from connector.crm.hubspot.mapping import epoch_ms, parse_stamp
from connector.domain.model import CrmRef
from connector.errors import FatalError
from connector.ports import Cursor, Opportunity, PipelineBatch

MODIFIED = "hs_lastmodifieddate"
PROPERTIES = [
    "dealstage", "amount", "closedate", "pipeline", "hubspot_owner_id", "createdate",
    MODIFIED, "hs_is_closed", "hs_is_closed_won",
]  # fmt: skip
PAGE = 100  # search pages hold at most 200; batch reads at most 100 inputs


def _true(raw: Any) -> bool:
    return str(raw).lower() == "true"


def _deal(obj: dict[str, Any]) -> Opportunity | None:
    props: dict[str, Any] = obj.get("properties") or {}
    created = parse_stamp(props.get("createdate")) or parse_stamp(obj.get("createdAt"))
    stamp = parse_stamp(props.get(MODIFIED)) or parse_stamp(obj.get("updatedAt"))
    if created is None or stamp is None:
        return None
    try:
        amount = float(props["amount"]) if props.get("amount") not in (None, "") else None
    except ValueError:
        amount = None
    return Opportunity(
        ref=CrmRef("deals", str(obj["id"])),
        stage=props.get("dealstage"),
        amount=amount,
        owner_id=props.get("hubspot_owner_id") or None,
        created=created,
        close_date=parse_stamp(props.get("closedate")),
        is_closed=_true(props.get("hs_is_closed")),
        is_won=_true(props.get("hs_is_closed_won")),
        modstamp=stamp,
    )


class DealPuller:
    def __init__(self, api: HubSpotApi, pipeline_id: str | None) -> None:
        self.api = api
        self.pipeline_id = pipeline_id

    def pull(self, since: Cursor | None) -> Iterator[PipelineBatch]:
        after: str | None = None
        seen: set[str] = set()
        while True:
            page = self._search(since, after)
            deals = [d for d in map(_deal, page.get("results") or []) if d is not None]
            if since is not None:  # GTE on whole milliseconds: drop what the cursor covers
                mark = (epoch_ms(since.modstamp), since.id)
                deals = [d for d in deals if (epoch_ms(d.modstamp), d.ref.id) > mark]
            if deals:
                ids = [d.ref.id for d in deals]
                last = deals[-1]
                yield PipelineBatch(
                    deals,
                    self._contacts(ids),
                    self._stages(ids),
                    Cursor(last.modstamp, last.ref.id),
                )
            nxt = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not nxt:
                return
            if nxt in seen:
                raise FatalError(f"HubSpot deal search repeated the page {nxt!r}")
            seen.add(nxt)
            after = str(nxt)

    def _search(self, since: Cursor | None, after: str | None) -> dict[str, Any]:
        filters: list[dict[str, str]] = []
        if since is not None:
            filters.append(
                {
                    "propertyName": MODIFIED,
                    "operator": "GTE",
                    "value": str(epoch_ms(since.modstamp)),
                }
            )
        if self.pipeline_id:
            filters.append(
                {"propertyName": "pipeline", "operator": "EQ", "value": self.pipeline_id}
            )
        body: dict[str, Any] = {
            "filterGroups": [{"filters": filters}] if filters else [],
            "sorts": [{"propertyName": MODIFIED, "direction": "ASCENDING"}],
            "properties": PROPERTIES,
            "limit": PAGE,
        }
        if after:
            body["after"] = after
        data: dict[str, Any] = self.api.call(
            "search deals",
            self.api.deals_search.do_search_with_http_info,
            search=True,
            raw=True,
            public_object_search_request=body,
        ).data
        return data

    def _stages(self, ids: Sequence[str]) -> list[tuple[str, str, datetime]]:
        request = BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=i) for i in ids],
            properties=["dealstage"],
            properties_with_history=["dealstage"],
        )
        data: dict[str, Any] = self.api.call(
            "read deal history",
            self.api.deals_batch.read_with_http_info,
            raw=True,
            batch_read_input_simple_public_object_id=request,
        ).data
        out: dict[tuple[str, str, datetime], None] = {}
        for deal in data.get("results") or []:
            history = (deal.get("propertiesWithHistory") or {}).get("dealstage") or []
            for entry in history:
                at = parse_stamp(entry.get("timestamp"))
                if entry.get("value") and at is not None:
                    out[(str(deal["id"]), str(entry["value"]), at)] = None
        return list(out)

    def _contacts(self, ids: Sequence[str]) -> list[tuple[str, CrmRef]]:
        request = BatchInputPublicFetchAssociationsBatchRequest(
            inputs=[FetchRequest(id=i) for i in ids]
        )
        data: dict[str, Any] = self.api.call(
            "read deal contacts",
            self.api.associations_v4.get_page_with_http_info,
            raw=True,
            from_object_type="deals",
            to_object_type="contacts",
            batch_input_public_fetch_associations_batch_request=request,
        ).data
        return [
            (str(r["from"]["id"]), CrmRef("contacts", str(to["toObjectId"])))
            for r in data.get("results") or []
            for to in r.get("to") or []
        ]

"""A rep's texts from Salesforce (the mapping's `rep_send:` Task): found with one SOQL
query on Status and Type, the outcome written back by Id in one sObject Collections
update per 200 records (`PATCH composite/sobjects`, allOrNone false)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from simple_salesforce.format import format_soql

from connector.config import RepSend
from connector.crm.salesforce.http import SalesforceApi
from connector.domain.model import CrmRef
from connector.ports import RepSendOutcome, RepSendRecord

WHO_PREFIXES = {"00Q": "Lead", "003": "Contact"}  # WhoId's key prefixes
COLLECTION_MAX = 200
RESULT_MAX = 255  # a Text(255) result field; the words fit, an error's detail is cut


def pending_query(cfg: RepSend, limit: int) -> str:
    """The one query of a pass: the mapped Tasks whose status asks for a send (the names
    are the mapping's API names, checked offline; the values are quoted)."""
    soql = format_soql(
        "SELECT Id, WhoId, OwnerId, {:literal} FROM {:literal} WHERE {:literal} = {}",
        cfg.body_field,
        cfg.object,
        cfg.status_field,
        cfg.send_status,
    )
    if cfg.kind_field is not None and cfg.kind is not None:
        soql += format_soql(" AND {:literal} = {}", cfg.kind_field, cfg.kind)
    return soql + format_soql(" ORDER BY CreatedDate, Id LIMIT {:literal}", str(int(limit)))


class RepSends:
    def __init__(self, api: SalesforceApi, cfg: RepSend) -> None:
        self.api = api
        self.cfg = cfg

    def pending(self, limit: int) -> list[RepSendRecord]:
        out: list[RepSendRecord] = []
        for page in self.api.query_pages(pending_query(self.cfg, limit)):
            out.extend(self._record(row) for row in page)
        return out[:limit]

    def _record(self, row: dict[str, Any]) -> RepSendRecord:
        who = row.get("WhoId")
        kind = WHO_PREFIXES.get(str(who)[:3]) if who else None
        body = row.get(self.cfg.body_field)
        return RepSendRecord(
            id=str(row["Id"]),
            contact=CrmRef(kind, str(who)) if kind else None,
            owner_id=row.get("OwnerId") or None,
            body=body if isinstance(body, str) else None,
        )

    def settle(self, outcomes: Sequence[RepSendOutcome]) -> set[str]:
        ok: set[str] = set()
        for n in range(0, len(outcomes), COLLECTION_MAX):
            chunk = outcomes[n : n + COLLECTION_MAX]
            records = [self._body(o) for o in chunk]
            answer = self.api.restful(
                "rep send results",
                "composite/sobjects",
                method="PATCH",
                json={"allOrNone": False, "records": records},
            )
            for outcome, item in zip(chunk, answer or [], strict=False):
                if isinstance(item, dict) and item.get("success"):
                    ok.add(outcome.id)
        return ok

    def _body(self, outcome: RepSendOutcome) -> dict[str, Any]:
        body: dict[str, Any] = {
            "attributes": {"type": self.cfg.object},
            "Id": outcome.id,
            self.cfg.result_field: outcome.result[:RESULT_MAX],
        }
        if outcome.done:
            body[self.cfg.status_field] = self.cfg.done_status
        return body

"""Incremental pull of the pipeline: Opportunity rows after the cursor in (SystemModstamp,
Id) order, a page at a time, each page with its OpportunityContactRole rows and its stage
history (OpportunityHistory's StageName, or OpportunityFieldHistory's StageName changes
and the `created` row), asked with one IN list per chunk of ids."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from simple_salesforce.format import format_soql

from connector.crm.salesforce.http import SalesforceApi
from connector.crm.salesforce.mapping import parse_datetime
from connector.crm.salesforce.queries import pull_query
from connector.domain.model import CrmRef
from connector.ports import Cursor, Opportunity, PipelineBatch

FIELDS = (
    "Id", "StageName", "Amount", "CloseDate", "IsClosed", "IsWon", "OwnerId", "CreatedDate",
    "SystemModstamp",
)  # fmt: skip
HISTORY_SOURCES = ("OpportunityHistory", "OpportunityFieldHistory")  # the mapping checks it
IN_CHUNK = 200  # ids per IN list: well inside SOQL's 100,000-character statement limit


def _date(raw: Any) -> datetime | None:
    if not isinstance(raw, str) or not raw:
        return None
    try:
        return datetime.fromisoformat(raw[:10]).replace(tzinfo=UTC)
    except ValueError:
        return None


def _opportunity(row: dict[str, Any]) -> Opportunity | None:
    created, stamp = (
        parse_datetime(row.get("CreatedDate")),
        parse_datetime(row.get("SystemModstamp")),
    )
    if created is None or stamp is None:
        return None
    amount = row.get("Amount")
    return Opportunity(
        ref=CrmRef("Opportunity", str(row["Id"])),
        stage=row.get("StageName"),
        amount=float(amount) if isinstance(amount, int | float) else None,
        owner_id=row.get("OwnerId"),
        created=created,
        close_date=_date(row.get("CloseDate")),
        is_closed=bool(row.get("IsClosed")),
        is_won=bool(row.get("IsWon")),
        modstamp=stamp,
    )


class PipelinePuller:
    def __init__(self, api: SalesforceApi, history: str, *, batch_size: int) -> None:
        if history not in HISTORY_SOURCES:
            raise ValueError(f"not a Salesforce stage history object: {history}")
        self.api = api
        self.history = history
        self.batch_size = batch_size

    def pull(self, since: Cursor | None) -> Iterator[PipelineBatch]:
        soql = pull_query("Opportunity", FIELDS, since)
        for page in self.api.query_pages(soql, batch_size=self.batch_size):
            opps = [o for o in map(_opportunity, page) if o is not None]
            if since is not None:  # the filter is a superset at whole seconds
                opps = [o for o in opps if (o.modstamp, o.ref.id) > (since.modstamp, since.id)]
            if not opps:
                continue
            ids = [o.ref.id for o in opps]
            last = opps[-1]
            yield PipelineBatch(
                opps, self._contacts(ids), self._stages(ids), Cursor(last.modstamp, last.ref.id)
            )

    def _rows(self, head: str, ids: Sequence[str], tail: str = "") -> Iterator[dict[str, Any]]:
        for i in range(0, len(ids), IN_CHUNK):
            chunk = list(ids[i : i + IN_CHUNK])
            soql = head + format_soql(" WHERE OpportunityId IN {}", chunk) + tail
            for page in self.api.query_pages(soql, batch_size=self.batch_size):
                yield from page

    def _contacts(self, ids: Sequence[str]) -> list[tuple[str, CrmRef]]:
        rows = self._rows("SELECT OpportunityId, ContactId FROM OpportunityContactRole", ids)
        return [
            (str(r["OpportunityId"]), CrmRef("Contact", str(r["ContactId"])))
            for r in rows
            if r.get("ContactId")
        ]

    def _stages(self, ids: Sequence[str]) -> list[tuple[str, str, datetime]]:
        snapshots = self.history == "OpportunityHistory"
        head = (
            "SELECT OpportunityId, StageName, CreatedDate FROM OpportunityHistory"
            if snapshots
            else "SELECT OpportunityId, Field, NewValue, CreatedDate FROM OpportunityFieldHistory"
        )
        out: dict[tuple[str, str, datetime], None] = {}
        for r in self._rows(head, ids):
            if snapshots:
                stage = r.get("StageName")
            else:  # only StageName changes; the `created` row holds no value
                stage = r.get("NewValue") if r.get("Field") == "StageName" else None
            at = parse_datetime(r.get("CreatedDate"))
            if isinstance(stage, str) and stage and at is not None:
                out[(str(r["OpportunityId"]), stage, at)] = None
        return list(out)

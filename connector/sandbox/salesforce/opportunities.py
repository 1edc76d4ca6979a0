"""What the org does around writes to the pipeline objects, as Salesforce does it.

- Opportunity: IsClosed, IsWon and ForecastCategory follow StageName and cannot be written;
  a stage change sets Probability and ForecastCategoryName to the stage's defaults unless
  the same write gives them; ExpectedRevenue is Amount x Probability.
- Each insert, and each change of StageName, Amount, CloseDate, Probability or
  ForecastCategory, adds an OpportunityHistory row holding the values after the write (with
  PrevAmount and PrevCloseDate); each insert adds a `created` OpportunityFieldHistory row
  and each change of a tracked field one row with OldValue and NewValue. Every such row is
  stamped with the time of the write that caused it: the sandbox clock, or the seed's time.
- An OpportunityContactRole saved as primary makes the opportunity's other roles not primary.
- Deleting an opportunity deletes its contact roles and history.

The seed loads deals through the same calls, so seeded history has exactly the shape of
history the API writes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from connector.sandbox.salesforce.opportunity_schema import (
    CREATED,
    FORECAST_CATEGORIES,
    HISTORY_DATA_TYPES,
    HISTORY_FIELDS,
    STAGE_BY_NAME,
    STAGES,
    TRACKED_FIELDS,
)
from connector.sandbox.salesforce.store import Record, Store

OPPORTUNITY = "Opportunity"
CONTACT_ROLE = "OpportunityContactRole"
HISTORY = "OpportunityHistory"
FIELD_HISTORY = "OpportunityFieldHistory"
STAGE = "OpportunityStage"
_CHILDREN = (CONTACT_ROLE, HISTORY, FIELD_HISTORY)


class PipelineRules:
    """Called by the Writer (and the seed) around every write, inside its transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def before_save(
        self, name: str, before: Record | None, row: Record, values: dict[str, Any]
    ) -> None:
        """Derive fields on `row` (not yet stored) from the values this write gave."""
        if name != OPPORTUNITY:
            return
        stage = STAGE_BY_NAME[row["StageName"]]
        if before is None or before.get("StageName") != row["StageName"]:
            if "Probability" not in values:
                row["Probability"] = float(stage.probability)
            if "ForecastCategoryName" not in values:
                row["ForecastCategoryName"] = stage.forecast_category_name
        if stage.closed:  # a closed stage decides the forecast category itself
            row["ForecastCategoryName"] = stage.forecast_category_name
        category = row.get("ForecastCategoryName")
        row["ForecastCategory"] = FORECAST_CATEGORIES.get(category) if category else None
        row["IsClosed"], row["IsWon"] = stage.closed, stage.won
        amount, probability = row.get("Amount"), row.get("Probability")
        row["ExpectedRevenue"] = (
            None if amount is None or probability is None else round(amount * probability / 100, 2)
        )

    def after_save(
        self, name: str, before: Record | None, row: Record, now: datetime, user_id: str
    ) -> None:
        """The rows the org writes because `row` was just stored."""
        if name == OPPORTUNITY:
            self._history(before, row, now, user_id)
        elif name == CONTACT_ROLE and row.get("IsPrimary"):
            self._only_primary(row, now, user_id)

    def after_delete(self, name: str, row: Record, now: datetime, user_id: str) -> None:
        if name != OPPORTUNITY:
            return
        for child in _CHILDREN:
            for other in list(self.store.rows(child).values()):
                if other["OpportunityId"] == row["Id"] and not other["IsDeleted"]:
                    self._touch(child, other, now, user_id, IsDeleted=True)

    # rows the org writes ------------------------------------------------------------------
    def _new(self, name: str, now: datetime, user_id: str, **values: Any) -> None:
        """A system row; LastModified* and SystemModstamp are kept for the store's indexes
        even where the object does not expose them."""
        self.store.put(
            name,
            {
                "Id": self.store.new_id(name),
                "IsDeleted": False,
                "CreatedDate": now,
                "CreatedById": user_id,
                "LastModifiedDate": now,
                "LastModifiedById": user_id,
                "SystemModstamp": now,
                **values,
            },
        )

    def _touch(self, name: str, row: Record, now: datetime, user_id: str, **values: Any) -> None:
        self.store.put(
            name,
            {
                **row,
                **values,
                "LastModifiedDate": now,
                "LastModifiedById": user_id,
                "SystemModstamp": now,
            },
        )

    def _history(self, before: Record | None, row: Record, now: datetime, user_id: str) -> None:
        if before is None or any(before.get(f) != row.get(f) for f in HISTORY_FIELDS):
            self._new(
                HISTORY,
                now,
                user_id,
                OpportunityId=row["Id"],
                StageName=row["StageName"],
                Amount=row.get("Amount"),
                CloseDate=row.get("CloseDate"),
                Probability=row.get("Probability"),
                ExpectedRevenue=row.get("ExpectedRevenue"),
                ForecastCategory=row.get("ForecastCategory"),
                PrevAmount=None if before is None else before.get("Amount"),
                PrevCloseDate=None if before is None else before.get("CloseDate"),
            )
        if before is None:
            self._new(
                FIELD_HISTORY,
                now,
                user_id,
                OpportunityId=row["Id"],
                Field=CREATED,
                DataType=None,
                OldValue=None,
                NewValue=None,
            )
            return
        for name in TRACKED_FIELDS:
            if before.get(name) != row.get(name):
                self._new(
                    FIELD_HISTORY,
                    now,
                    user_id,
                    OpportunityId=row["Id"],
                    Field=name,
                    DataType=HISTORY_DATA_TYPES[name],
                    OldValue=before.get(name),
                    NewValue=row.get(name),
                )

    def _only_primary(self, row: Record, now: datetime, user_id: str) -> None:
        for other in list(self.store.rows(CONTACT_ROLE).values()):
            if (
                other["Id"] != row["Id"]
                and other["OpportunityId"] == row["OpportunityId"]
                and other.get("IsPrimary")
                and not other["IsDeleted"]
            ):
                self._touch(CONTACT_ROLE, other, now, user_id, IsPrimary=False)

    def load_stages(self, now: datetime, user_id: str) -> None:
        """The org's OpportunityStage rows, one per StageName value, in sales-process order."""
        for order, stage in enumerate(STAGES, start=1):
            self._new(
                STAGE,
                now,
                user_id,
                MasterLabel=stage.name,
                ApiName=stage.name,
                IsActive=True,
                SortOrder=order,
                IsClosed=stage.closed,
                IsWon=stage.won,
                ForecastCategory=FORECAST_CATEGORIES[stage.forecast_category_name],
                ForecastCategoryName=stage.forecast_category_name,
                DefaultProbability=float(stage.probability),
                Description=None,
            )

"""The mapping's `pipeline:` section: which CRM objects hold opportunities, how they link
to contacts, where their stage history lives, and which stage values count as a meeting
held, an opportunity, won and lost (what the report's pipeline figures mean)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, ValidationInfo, model_validator

from connector.config.mapping_types import scope_of
from connector.config.values import Strict, fail

# per CRM: (opportunity object, contact link, stage history sources)
PIPELINE_OBJECTS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "salesforce": (
        "Opportunity",
        "OpportunityContactRole",
        ("OpportunityHistory", "OpportunityFieldHistory"),
    ),
    "hubspot": ("deals", "contacts", ("propertiesWithHistory",)),
}


def _for_crm(index: int, what: str) -> AfterValidator:
    def check(value: str, info: ValidationInfo) -> str:
        scope = scope_of(info)
        if scope is None or scope.crm is None:
            return value
        allowed = PIPELINE_OBJECTS[scope.crm][index]
        names = allowed if isinstance(allowed, tuple) else (allowed,)
        if value not in names:
            raise fail(f"{value!r} is not a {what} for crm: {scope.crm}; use {' or '.join(names)}")
        return value

    return AfterValidator(check)


StageValues = Annotated[tuple[Annotated[str, Field(min_length=1)], ...], Field(max_length=50)]


class PipelineStages(Strict):
    """CRM stage values (Salesforce StageName, HubSpot dealstage ids) by what they mean."""

    meeting_held: StageValues = Field(
        default=(), description="Stages that mean a meeting was held, e.g. Discovery."
    )
    opportunity: StageValues = Field(
        default=(),
        description="Stages that make a deal a real opportunity (empty: every deal is one).",
    )
    won: StageValues = Field(min_length=1, description="Stages that mean won, e.g. Closed Won.")
    lost: StageValues = Field(min_length=1, description="Stages that mean lost.")

    @model_validator(mode="after")
    def _each_stage_once(self) -> PipelineStages:
        seen: dict[str, str] = {}
        for group in ("meeting_held", "opportunity", "won", "lost"):
            for stage in getattr(self, group):
                if stage in seen:
                    raise fail(
                        f"stage {stage!r} is in both {seen[stage]} and {group}; keep it in one list"
                    )
                seen[stage] = group
        return self


class Pipeline(Strict):
    """Where the CRM's pipeline lives, pulled incrementally like contacts."""

    object: Annotated[str, _for_crm(0, "pipeline object")] = Field(
        description="Salesforce: Opportunity. HubSpot: deals."
    )
    contact_link: Annotated[str, _for_crm(1, "contact link")] = Field(
        description="Salesforce: OpportunityContactRole. HubSpot: contacts (v4 associations)."
    )
    stage_history: Annotated[str, _for_crm(2, "stage history source")] = Field(
        description="Salesforce: OpportunityHistory or OpportunityFieldHistory. "
        "HubSpot: propertiesWithHistory."
    )
    pipeline_id: str | None = Field(
        None, description="HubSpot: only deals of this pipeline id (default: every pipeline)."
    )
    stages: PipelineStages = Field(description="Stage values by what they mean.")
    opportunity_window_days: int = Field(
        30,
        ge=1,
        le=365,
        description="An opportunity counts for a text when created within this many days "
        "after the contact's first text.",
    )

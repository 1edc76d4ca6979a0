"""Deal pipelines: the account's default "Sales Pipeline" and the read side of the
pipelines API (`/crm/v3/pipelines/deals[/{pipelineId}[/stages[/{stageId}]]]`).

Stage metadata is a map of strings, as HubSpot sends it: `isClosed` "true"/"false" and
`probability` "0.2". The default pipeline, like HubSpot's, was created at the epoch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connector.sandbox.hubspot.errors import HubSpotError, validation_error
from connector.sandbox.hubspot.properties import DEALS

DEFAULT_PIPELINE = "default"
_EPOCH = "1970-01-01T00:00:00Z"


@dataclass(frozen=True, slots=True)
class StageDef:
    id: str
    label: str
    probability: str  # "0.2", as metadata carries it
    closed: bool

    @property
    def won(self) -> bool:
        return self.closed and float(self.probability) == 1.0

    def to_api(self, order: int) -> dict[str, Any]:
        return {
            "label": self.label,
            "displayOrder": order,
            "metadata": {
                "isClosed": "true" if self.closed else "false",
                "probability": self.probability,
            },
            "id": self.id,
            "createdAt": _EPOCH,
            "updatedAt": _EPOCH,
            "archived": False,
            "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
        }


@dataclass(frozen=True, slots=True)
class PipelineDef:
    id: str
    label: str
    stages: tuple[StageDef, ...]

    def stage(self, stage_id: str) -> StageDef | None:
        return next((s for s in self.stages if s.id == stage_id), None)

    def to_api(self, order: int) -> dict[str, Any]:
        return {
            "label": self.label,
            "displayOrder": order,
            "id": self.id,
            "stages": [s.to_api(i) for i, s in enumerate(self.stages)],
            "createdAt": _EPOCH,
            "updatedAt": _EPOCH,
            "archived": False,
        }


SALES_PIPELINE = PipelineDef(
    DEFAULT_PIPELINE,
    "Sales Pipeline",
    (
        StageDef("appointmentscheduled", "Appointment Scheduled", "0.2", closed=False),
        StageDef("qualifiedtobuy", "Qualified To Buy", "0.4", closed=False),
        StageDef("presentationscheduled", "Presentation Scheduled", "0.6", closed=False),
        StageDef("decisionmakerboughtin", "Decision Maker Bought-In", "0.8", closed=False),
        StageDef("contractsent", "Contract Sent", "0.9", closed=False),
        StageDef("closedwon", "Closed Won", "1.0", closed=True),
        StageDef("closedlost", "Closed Lost", "0.0", closed=True),
    ),
)
PIPELINES: dict[str, tuple[PipelineDef, ...]] = {DEALS: (SALES_PIPELINE,)}


def pipelines_of(object_type: str) -> tuple[PipelineDef, ...]:
    found = PIPELINES.get(object_type)
    if found is None:
        raise validation_error(
            f"Object type {object_type} does not support pipelines",
            subCategory="PipelineError.UNSUPPORTED_OBJECT_TYPE",
        )
    return found


def pipeline(object_type: str, pipeline_id: str) -> PipelineDef:
    for p in pipelines_of(object_type):
        if p.id == pipeline_id:
            return p
    raise HubSpotError(
        404,
        f"Unable to find pipeline with id {pipeline_id}",
        "OBJECT_NOT_FOUND",
        context={"pipelineId": [pipeline_id]},
    )


def stage(object_type: str, pipeline_id: str, stage_id: str) -> tuple[int, StageDef]:
    owner = pipeline(object_type, pipeline_id)
    for order, s in enumerate(owner.stages):
        if s.id == stage_id:
            return order, s
    raise HubSpotError(
        404,
        f"Unable to find stage with id {stage_id} in pipeline {pipeline_id}",
        "OBJECT_NOT_FOUND",
        context={"stageId": [stage_id]},
    )


def deal_stage(stage_id: str) -> StageDef | None:
    """The stage behind a `dealstage` value, in whichever deal pipeline holds it."""
    for p in PIPELINES[DEALS]:
        found = p.stage(stage_id)
        if found is not None:
            return found
    return None

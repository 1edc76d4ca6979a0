"""The sales pipeline objects of a standard org: Opportunity, OpportunityContactRole, the
stage history (OpportunityHistory, OpportunityFieldHistory) and OpportunityStage.

The stages are the default sales process of a new org, with its probabilities and forecast
categories. Field history tracking is on for StageName, Amount and CloseDate, as an admin
would set it up for pipeline reporting."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connector.sandbox.salesforce.schema import SOURCES, FieldDef, ObjectDef, owner_field


@dataclass(frozen=True, slots=True)
class Stage:
    name: str  # the StageName picklist value (and OpportunityStage.ApiName)
    probability: int
    forecast_category_name: str  # ForecastCategoryName: Pipeline, Best Case, Commit, ...
    closed: bool
    won: bool


STAGES: tuple[Stage, ...] = (
    Stage("Prospecting", 10, "Pipeline", closed=False, won=False),
    Stage("Qualification", 10, "Pipeline", closed=False, won=False),
    Stage("Needs Analysis", 20, "Pipeline", closed=False, won=False),
    Stage("Value Proposition", 50, "Pipeline", closed=False, won=False),
    Stage("Id. Decision Makers", 60, "Pipeline", closed=False, won=False),
    Stage("Perception Analysis", 70, "Pipeline", closed=False, won=False),
    Stage("Proposal/Price Quote", 75, "Pipeline", closed=False, won=False),
    Stage("Negotiation/Review", 90, "Pipeline", closed=False, won=False),
    Stage("Closed Won", 100, "Closed", closed=True, won=True),
    Stage("Closed Lost", 0, "Omitted", closed=True, won=False),
)
STAGE_BY_NAME = {s.name: s for s in STAGES}
# ForecastCategoryName (the label an admin picks) -> ForecastCategory (the API's enum)
FORECAST_CATEGORIES = {
    "Omitted": "Omitted",
    "Pipeline": "Pipeline",
    "Best Case": "BestCase",
    "Commit": "Forecast",
    "Closed": "Closed",
}
CONTACT_ROLES = (
    "Business User",
    "Decision Maker",
    "Economic Buyer",
    "Economic Decision Maker",
    "Evaluator",
    "Executive Sponsor",
    "Influencer",
    "Technical Buyer",
    "Other",
)
TRACKED_FIELDS = ("Amount", "CloseDate", "StageName")  # OpportunityFieldHistory rows
# OpportunityHistory gets a row whenever one of these changes
HISTORY_FIELDS = ("StageName", "Amount", "CloseDate", "Probability", "ForecastCategory")
# OpportunityFieldHistory.DataType of each tracked field
HISTORY_DATA_TYPES = {"Amount": "Currency", "CloseDate": "Date", "StageName": "DynamicEnum"}
CREATED = "created"  # OpportunityFieldHistory.Field of the row written on insert


def _ro(name: str, ftype: str, label: str, **extra: Any) -> FieldDef:
    return FieldDef(name, ftype, label=label, createable=False, updateable=False, **extra)


def _reference(name: str, label: str, target: str, relationship: str, **extra: Any) -> FieldDef:
    return FieldDef(
        name,
        "reference",
        label=label,
        length=18,
        reference_to=(target,),
        relationship_name=relationship,
        **extra,
    )


def _audit(label: str, *, modified: bool = True, modstamp: bool = True) -> list[FieldDef]:
    """Id and audit fields; history rows are never modified, so they lack LastModified*."""
    readonly = {"createable": False, "updateable": False}
    out = [
        _ro("Id", "id", f"{label} ID", length=18),
        _ro("IsDeleted", "boolean", "Deleted"),
        _ro("CreatedDate", "datetime", "Created Date"),
        _reference("CreatedById", "Created By ID", "User", "CreatedBy", **readonly),
    ]
    if modified:
        out += [
            _ro("LastModifiedDate", "datetime", "Last Modified Date"),
            _reference(
                "LastModifiedById", "Last Modified By ID", "User", "LastModifiedBy", **readonly
            ),
        ]
    if modstamp:
        out.append(_ro("SystemModstamp", "datetime", "System Modstamp"))
    return out


def _money(name: str, label: str, *, writable: bool = True) -> FieldDef:
    f = FieldDef(name, "currency", label=label, precision=18, scale=2)
    if not writable:
        f.createable = f.updateable = False
    return f


STAGE_NAMES = tuple(s.name for s in STAGES)
_FORECAST_ENUM = ("BestCase", "Closed", "Forecast", "MostLikely", "Omitted", "Pipeline")


def _opportunity() -> ObjectDef:
    obj = ObjectDef("Opportunity", "006", "Opportunity", "Opportunities", fault_keys=("Name",))
    obj.add(
        *_audit("Opportunity"),
        FieldDef("Name", "string", label="Name", length=120, required=True),
        FieldDef(
            "StageName", "picklist", label="Stage", length=255, picklist=STAGE_NAMES, required=True
        ),
        _money("Amount", "Amount"),
        FieldDef("CloseDate", "date", label="Close Date", required=True),
        FieldDef("Probability", "percent", label="Probability (%)", precision=3),
        _money("ExpectedRevenue", "Expected Amount", writable=False),
        FieldDef(
            "ForecastCategoryName",
            "picklist",
            label="Forecast Category",
            length=255,
            picklist=tuple(FORECAST_CATEGORIES),
        ),
        _ro(
            "ForecastCategory", "picklist", "Forecast Category", length=40, picklist=_FORECAST_ENUM
        ),
        _ro("IsClosed", "boolean", "Closed"),
        _ro("IsWon", "boolean", "Won"),
        FieldDef(
            "Type",
            "picklist",
            label="Opportunity Type",
            length=255,
            picklist=("Existing Business", "New Business"),
        ),
        FieldDef("LeadSource", "picklist", label="Lead Source", length=255, picklist=SOURCES),
        FieldDef("NextStep", "string", label="Next Step", length=255),
        FieldDef("Description", "textarea", label="Description", length=32000),
        owner_field(),
    )
    return obj


def _contact_role() -> ObjectDef:
    obj = ObjectDef("OpportunityContactRole", "00K", "Contact Role", "Contact Roles")
    obj.add(
        *_audit("Contact Role"),
        _reference("ContactId", "Contact ID", "Contact", "Contact", required=True),
        _reference(
            "OpportunityId",
            "Opportunity ID",
            "Opportunity",
            "Opportunity",
            required=True,
            updateable=False,
        ),
        FieldDef("Role", "picklist", label="Role", length=255, picklist=CONTACT_ROLES),
        FieldDef("IsPrimary", "boolean", label="Primary"),
    )
    return obj


def _history() -> ObjectDef:
    obj = ObjectDef(
        "OpportunityHistory",
        "008",
        "Opportunity History",
        "Opportunity History",
        createable=False,
        updateable=False,
        deletable=False,
    )
    obj.add(
        *_audit("Opportunity History", modified=False),
        _reference("OpportunityId", "Opportunity ID", "Opportunity", "Opportunity"),
        _ro("StageName", "picklist", "Stage Name", length=255, picklist=STAGE_NAMES),
        _money("Amount", "Amount", writable=False),
        _ro("CloseDate", "date", "Close Date"),
        _ro("Probability", "percent", "Probability", precision=3),
        _money("ExpectedRevenue", "Expected Revenue", writable=False),
        _ro(
            "ForecastCategory",
            "picklist",
            "To Forecast Category",
            length=40,
            picklist=_FORECAST_ENUM,
        ),
        _money("PrevAmount", "Previous Amount", writable=False),
        _ro("PrevCloseDate", "date", "Previous Close Date"),
    )
    obj.fields["OpportunityId"].createable = obj.fields["OpportunityId"].updateable = False
    return obj


def _field_history() -> ObjectDef:
    obj = ObjectDef(
        "OpportunityFieldHistory",
        "017",
        "Opportunity Field History",
        "Opportunity Field History",
        createable=False,
        updateable=False,
        deletable=False,
    )
    obj.add(
        *_audit("Opportunity History", modified=False, modstamp=False),
        _reference("OpportunityId", "Opportunity ID", "Opportunity", "Opportunity"),
        _ro("Field", "picklist", "Changed Field", length=255, picklist=(CREATED, *TRACKED_FIELDS)),
        _ro(
            "DataType",
            "picklist",
            "Datatype",
            length=40,
            picklist=tuple(sorted(set(HISTORY_DATA_TYPES.values()))),
        ),
        _ro("OldValue", "anyType", "Old Value", length=255),
        _ro("NewValue", "anyType", "New Value", length=255),
    )
    obj.fields["OpportunityId"].createable = obj.fields["OpportunityId"].updateable = False
    return obj


def _stage() -> ObjectDef:
    obj = ObjectDef(
        "OpportunityStage",
        "01J",
        "Opportunity Stage",
        "Opportunity Stages",
        createable=False,
        updateable=False,
        deletable=False,
    )
    audit = [f for f in _audit("Opportunity Stage") if f.name != "IsDeleted"]
    obj.add(
        *audit,
        _ro("MasterLabel", "string", "Master Label", length=255),
        _ro("ApiName", "string", "API Name", length=255),
        _ro("IsActive", "boolean", "Is Active"),
        _ro("SortOrder", "int", "Sort Order"),
        _ro("IsClosed", "boolean", "Closed"),
        _ro("IsWon", "boolean", "Won"),
        _ro(
            "ForecastCategory", "picklist", "Forecast Category", length=40, picklist=_FORECAST_ENUM
        ),
        _ro(
            "ForecastCategoryName",
            "picklist",
            "Forecast Category Name",
            length=255,
            picklist=tuple(FORECAST_CATEGORIES),
        ),
        _ro("DefaultProbability", "percent", "Probability (%)", precision=3),
        _ro("Description", "string", "Description", length=255),
    )
    return obj


def pipeline_objects() -> list[ObjectDef]:
    return [_opportunity(), _contact_role(), _history(), _field_history(), _stage()]

"""Deals: their HubSpot-defined properties and what HubSpot derives when one is written.

A deal without a pipeline goes to the default one; `hs_is_closed`, `hs_is_closed_won` and
`hs_deal_stage_probability` follow `dealstage` through the pipeline's stage metadata and
cannot be written. `dealstage` options are the stage ids of every deal pipeline.
`closedate` is whatever the writer sets: the emulator does not fill it in when a deal
closes (accounts differ there), so a pull should date a close by the dealstage history."""

from __future__ import annotations

from connector.sandbox.hubspot.pipelines import DEFAULT_PIPELINE, PIPELINES, deal_stage
from connector.sandbox.hubspot.properties import DEALS, Option, PropertyDef

DEAL_STAGE, PIPELINE = "dealstage", "pipeline"
DERIVED = (PIPELINE, "hs_is_closed", "hs_is_closed_won", "hs_deal_stage_probability")
_GROUP = "dealinformation"


def deal_properties() -> list[PropertyDef]:
    stages = tuple(Option(s.id, s.label) for p in PIPELINES[DEALS] for s in p.stages)
    pipelines = tuple(Option(p.id, p.label) for p in PIPELINES[DEALS])
    types = (Option("newbusiness", "New Business"), Option("existingbusiness", "Existing Business"))
    g = _GROUP

    def enum(
        name: str,
        label: str,
        options: tuple[Option, ...],
        field_type: str = "select",
        *,
        required: bool = False,
    ) -> PropertyDef:
        return PropertyDef(
            name,
            label,
            "enumeration",
            field_type,
            g,
            options=options,
            option_values=frozenset(o.value for o in options),
            required=required,
        )

    def ro(name: str, label: str, ptype: str, field_type: str) -> PropertyDef:
        return PropertyDef(name, label, ptype, field_type, g, read_only=True)

    return [
        PropertyDef("dealname", "Deal Name", group=g, required=True),
        PropertyDef("amount", "Amount", "number", "number", g),
        PropertyDef("closedate", "Close Date", "datetime", "date", g),
        enum(DEAL_STAGE, "Deal Stage", stages, "radio", required=True),
        enum(PIPELINE, "Pipeline", pipelines),
        PropertyDef("hubspot_owner_id", "Deal owner", "enumeration", "select", g),
        enum("dealtype", "Deal Type", types, "radio"),
        PropertyDef("description", "Deal Description", "string", "textarea", g),
        ro("createdate", "Create Date", "datetime", "date"),
        ro("hs_lastmodifieddate", "Last Modified Date", "datetime", "date"),
        ro("hs_object_id", "Record ID", "number", "number"),
        ro("hs_is_closed", "Is Deal Closed?", "bool", "booleancheckbox"),
        ro("hs_is_closed_won", "Is Closed Won", "bool", "booleancheckbox"),
        ro("hs_deal_stage_probability", "Deal Stage Probability", "number", "number"),
    ]


def derive(before: dict[str, str], props: dict[str, str]) -> None:
    """Fill what HubSpot computes into `props`, the deal's values after a write."""
    if not before and not props.get(PIPELINE):
        props[PIPELINE] = DEFAULT_PIPELINE
    stage = deal_stage(props.get(DEAL_STAGE, ""))
    if stage is None:
        return
    props["hs_is_closed"] = "true" if stage.closed else "false"
    props["hs_is_closed_won"] = "true" if stage.won else "false"
    props["hs_deal_stage_probability"] = stage.probability

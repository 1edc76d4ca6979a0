"""Pipeline pull: the CRM's opportunities changed since the cursor, with their contacts and
stage history, into the store (for the report). Each batch and its cursor commit in one
transaction, like the contact pull; a CRM adapter without a pipeline (or a mapping without
a `pipeline:` section) pulls nothing."""

from __future__ import annotations

from dataclasses import dataclass

from connector.engine.context import EngineContext
from connector.ports import PipelinePort
from connector.store import cursors
from connector.store import pipeline as pipeline_store


@dataclass
class PipelineReport:
    batches: int = 0
    opportunities: int = 0


def cursor_name(ctx: EngineContext) -> str:
    return f"pipeline:{ctx.settings.crm}"


def run(ctx: EngineContext) -> PipelineReport:
    report = PipelineReport()
    crm = ctx.crm
    if ctx.mapping.pipeline is None or not isinstance(crm, PipelinePort):
        return report
    name = cursor_name(ctx)
    with ctx.store.begin() as conn:
        since = cursors.get(conn, name)
    for batch in crm.pull_pipeline(since):
        with ctx.store.begin() as conn:
            now = ctx.clock.now()
            report.opportunities += pipeline_store.apply(conn, batch, now)
            if batch.cursor is not None:
                cursors.set_(conn, name, batch.cursor, now)
        report.batches += 1
    return report

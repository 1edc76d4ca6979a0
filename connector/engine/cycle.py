"""One full cycle: pull → timed triggers → reps' texts from the CRM → send → reconcile
poll → ingest → writeback → sweep.

`smsync sync --once` runs it; `--dry-run` runs the same steps inside one database
transaction that is rolled back at the end (every step's own transaction becomes a
savepoint of it), skipping the four that talk outward (rep_send, send, reconcile, writeback). What
the outboxes hold just before the rollback is exactly what a real cycle would have sent
and written: it is reported, and nothing leaves the process. Reads (the CRM pull, the
CRM's phone lookups) still happen; they change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, is_dataclass, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from connector.engine import ingest, pipeline_pull, pull, rep_send, send, sweep, timed
from connector.engine.context import EngineContext
from connector.engine.writeback import Writeback, WritebackPolicy
from connector.logs import mask_phone
from connector.store import SqlStore
from connector.store.tables import crm_outbox, sms_outbox


class RollbackStore(SqlStore):
    """A store whose transactions are savepoints of one outer transaction that is never
    committed: what a dry run does is visible to its later steps, then undone."""

    def __init__(self, base: SqlStore) -> None:
        super().__init__(base.engine)
        self._conn = base.engine.connect()
        self._outer = self._conn.begin()

    @contextmanager
    def begin(self) -> Iterator[sa.Connection]:
        with self._conn.begin_nested():
            yield self._conn

    def close(self) -> None:
        self._outer.rollback()
        self._conn.close()


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


@dataclass
class CycleReport:
    dry_run: bool = False
    pull: dict[str, Any] = field(default_factory=dict)
    pipeline: dict[str, Any] = field(default_factory=dict)
    send: dict[str, Any] | None = None
    reconcile: dict[str, Any] | None = None
    ingest: dict[str, Any] = field(default_factory=dict)
    writeback: dict[str, Any] | None = None
    sweep: dict[str, Any] = field(default_factory=dict)
    timed: dict[str, Any] = field(default_factory=dict)
    rep_send: dict[str, Any] | None = None
    would_write: list[dict[str, Any]] = field(default_factory=list)
    would_send: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = _plain(self)
        return out


def _send_step(ctx: EngineContext, report: CycleReport) -> None:
    report.send = _plain(send.run(ctx, dry_run=False))


def _reconcile_step(ctx: EngineContext, report: CycleReport) -> None:
    if ctx.reconcile is None:
        report.notes.append("reconcile: no Twilio client configured")
        return
    report.reconcile = _plain(ctx.reconcile())


def _pending(ctx: EngineContext) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    with ctx.store.begin() as conn:
        writes = conn.execute(
            sa.select(crm_outbox).where(crm_outbox.c.state == "pending").order_by(crm_outbox.c.id)
        ).all()
        sends = conn.execute(
            sa.select(sms_outbox)
            .where(sms_outbox.c.state == "pending", sms_outbox.c.send_at <= ctx.clock.now())
            .order_by(sms_outbox.c.id)
        ).all()
    return (
        [
            {
                "external_id": r.external_id,
                "kind": r.kind,
                "target": f"{r.target_type}/{r.target_id}",
                "fields": _plain(dict(r.fields)),
                "owner_id": r.owner_id,
                "due": _plain(r.due),
            }
            for r in writes
        ],
        [
            {
                "idempotency_key": r.idempotency_key,
                "to": mask_phone(r.to_number),
                "play": r.play,
                "body": r.body,
            }
            for r in sends
        ],
    )


def run_cycle(ctx: EngineContext, *, dry_run: bool = False) -> CycleReport:
    """One full cycle; with `dry_run`, no CRM write, no send, and no state kept."""
    if dry_run:
        return _dry(ctx)
    report = CycleReport()
    report.pull = _plain(pull.run(ctx))
    report.pipeline = _plain(pipeline_pull.run(ctx))
    report.timed = _plain(timed.run(ctx))
    report.rep_send = _plain(rep_send.run(ctx))
    _send_step(ctx, report)
    _reconcile_step(ctx, report)
    report.ingest = _plain(ingest.run(ctx))
    report.writeback = _plain(_writeback(ctx).drain())
    report.sweep = _plain(sweep.run(ctx))
    if report.sweep.get("crm_writes"):
        report.writeback = _plain(_writeback(ctx).drain())
    return report


def _writeback(ctx: EngineContext) -> Writeback:
    policy = WritebackPolicy.from_settings(ctx.settings)
    return Writeback(ctx.store, ctx.crm, ctx.clock, ctx.settings.crm, ctx.worker_id, policy)


def _dry(ctx: EngineContext) -> CycleReport:
    store = RollbackStore(ctx.store)
    dry = replace(ctx, store=store, on_enqueue=lambda _step: None)
    report = CycleReport(dry_run=True)
    try:
        report.pull = _plain(pull.run(dry))
        report.timed = _plain(timed.run(dry))
        report.ingest = _plain(ingest.run(dry))
        report.sweep = _plain(sweep.run(dry))
        report.would_write, report.would_send = _pending(dry)
    finally:
        store.close()
    report.notes.append(
        "dry run: rep_send, send, reconcile and writeback skipped; all state rolled back"
    )
    return report

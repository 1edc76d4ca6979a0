"""What one ingest run did (`IngestReport`), and `queue`, which puts a CRM write in the
outbox and counts it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from connector.domain.model import CrmWrite
from connector.engine import outbox
from connector.ports import Connection


@dataclass
class IngestReport:
    claimed: int = 0
    processed: int = 0
    failed: int = 0
    dead: int = 0  # dead-lettered (included in `failed` when it happened to a claimed item)
    stopped: str | None = None  # why the run stopped early (a fatal error), if it did
    inbound: int = 0
    statuses: int = 0
    crm_writes: int = 0
    tasks: int = 0
    reviews: int = 0
    consent_changes: int = 0
    auto_replies: int = 0  # HELP answers and opt-out confirmations queued
    clicks: int = 0  # counted link clicks turned into CRM writes (engine/clicks.py)
    sends_planned: int = 0  # texts queued by plays a click triggered (link_clicked)
    dispositions: Counter[str] = field(default_factory=Counter)


def queue(conn: Connection, write: CrmWrite, now: datetime, report: IngestReport) -> None:
    report.crm_writes += int(outbox.put(conn, write, now))

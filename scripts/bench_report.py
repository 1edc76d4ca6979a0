"""Benchmark: `smsync report` over N message rows on SQLite (acceptance: 1M rows < 10 s).

Rows are generated with executemany in chunks (timed apart: ``generate_s``), then the whole
report (by play, with outcomes and holdout lift) is built once and timed (``report_s``, the
figure the acceptance bar applies to). Prints one JSON object; exits 1 over the limit."""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from connector.domain.plays import FieldPredicate, Outcome, PredicateOp
from connector.report.model import PipelineDefs
from connector.report.queries import GroupBy, Scope, build_report
from connector.store import SqlStore
from connector.store import tables as tb
from connector.store.migrate import upgrade

START = datetime(2024, 1, 1, tzinfo=UTC)
PLAYS = ("speed_to_lead", "meeting_confirm", "reengage", "renewal")
OUTCOMES = {
    "speed_to_lead": Outcome(
        condition=FieldPredicate("lifecycle_stage", PredicateOp.EQUALS, ("working",))
    ),
    "meeting_confirm": Outcome(disposition="confirmed"),
}
CHUNK = 50_000
PIPELINE = PipelineDefs(
    meeting_held=("Discovery",), opportunity=("Proposal",), won=("Closed Won",),
    lost=("Closed Lost",),
)  # fmt: skip


def _ts(at: datetime) -> str:
    return at.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _chunks(rows: Iterator[tuple[object, ...]]) -> Iterator[list[tuple[object, ...]]]:
    chunk: list[tuple[object, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def generate(store: SqlStore, rows: int, contacts: int, seed: int) -> None:
    rng = random.Random(seed)
    raw = store.engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("BEGIN")
        cur.executemany(
            "INSERT INTO contact_state (crm_object_type, crm_id, phone, owner_id, owner_team,"
            " lifecycle_stage, disposition, consent, segments, deleted, crm_modstamp,"
            " updated_at) VALUES ('Lead', ?, ?, ?, ?, ?, ?, 'opted_in', ?, 0, ?, ?)",
            [
                (
                    f"L{i}",
                    f"+1555{i:07d}",
                    f"owner{i % 40}",
                    ("sdr", "ae", "cs")[i % 3],
                    "working" if rng.random() < 0.2 else "new",
                    rng.choice((None, None, "confirmed", "not_interested", "meeting_booked")),
                    json.dumps({"industry": ("retail", "health", "tech")[i % 3]}),
                    _ts(START + timedelta(days=rng.random() * 60)),
                    _ts(START),
                )
                for i in range(contacts)
            ],
        )
        statuses = ("delivered", "delivered", "delivered", "sent", "failed", "undelivered")

        def messages() -> Iterator[tuple[object, ...]]:
            for n in range(rows):
                c = rng.randrange(contacts)
                inbound = rng.random() < 0.2
                at = _ts(START + timedelta(seconds=rng.randrange(60 * 86400)))
                phone = f"+1555{c:07d}"
                yield (
                    f"SM{n:010d}",
                    "inbound" if inbound else "outbound",
                    phone if inbound else "+15550000000",
                    "+15550000000" if inbound else phone,
                    "received" if inbound else rng.choice(statuses),
                    None if inbound else PLAYS[c % len(PLAYS)],
                    f"L{c}",
                    at,
                    at,
                )

        for chunk in _chunks(messages()):
            cur.executemany(
                "INSERT INTO messages (sid, direction, from_number, to_number, body, status,"
                " play, num_segments, contact_type, contact_id, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, 'hi', ?, ?, 1, 'Lead', ?, ?, ?)",
                chunk,
            )
        cur.executemany(
            "INSERT INTO decision_log (contact_type, contact_id, verdict, reasons, play, at)"
            " VALUES ('Lead', ?, ?, ?, ?, ?)",
            [
                (
                    f"L{i}",
                    "block" if i % 10 == 0 else "send",
                    '["holdout"]' if i % 10 == 0 else '["holdout_treated"]',
                    PLAYS[i % len(PLAYS)],
                    _ts(START + timedelta(days=1)),
                )
                for i in range(contacts)
            ],
        )
        cur.executemany(
            "INSERT INTO sla_timers (contact_type, contact_id, kind, started, due, met)"
            " VALUES ('Lead', ?, 'first_response', ?, ?, ?)",
            [
                (
                    f"L{i}",
                    _ts(START + timedelta(hours=i % 1000)),
                    _ts(START + timedelta(hours=i % 1000, minutes=15)),
                    _ts(START + timedelta(hours=i % 1000, seconds=rng.randrange(3600))),
                )
                for i in range(0, contacts, 5)
            ],
        )
        _opt_outs_and_pipeline(cur, rng, contacts)
        cur.execute("COMMIT")
        cur.execute("ANALYZE")
    finally:
        raw.close()


STAGES = ("Discovery", "Proposal", "Closed Won", "Closed Lost")


def _opt_outs_and_pipeline(cur: Any, rng: random.Random, contacts: int) -> None:
    """Opt-outs (2% of the contacts by STOP, 1% read from the CRM before anything), manual
    answers to a fifth of the SLA timers, and an opportunity for a tenth of the contacts
    with its contact role and a stage history of up to three rows."""
    cur.executemany(
        "INSERT INTO consent_ledger (phone, status, scope, source, at, recorded_at)"
        " VALUES (?, 'opted_out', 'all', ?, ?, ?)",
        [
            (f"+1555{i:07d}", source, at, at)
            for i in range(contacts)
            for source, at in (
                ("keyword", _ts(START + timedelta(seconds=rng.randrange(60 * 86400)))),
                ("crm", _ts(START - timedelta(days=1))),
            )
            if (source == "keyword" and i % 50 == 7) or (source == "crm" and i % 100 == 3)
        ],
    )
    cur.executemany(
        "INSERT INTO sms_outbox (idempotency_key, contact_type, contact_id, to_number, body,"
        " play, send_at, state, attempts, created_at, done_at)"
        " VALUES (?, 'Lead', ?, ?, 'on it', 'speed_to_lead', ?, 'sent', 1, ?, ?)",
        [
            (f"manual:speed_to_lead:Lead/L{i}:{i}", f"L{i}", f"+1555{i:07d}", at, at, at)
            for i in range(0, contacts, 25)
            for at in (_ts(START + timedelta(hours=i % 1000, minutes=30)),)
        ],
    )
    opps, links, stages = [], [], []
    for i in range(0, contacts, 10):
        created = START + timedelta(days=rng.random() * 60)
        reached = STAGES[: rng.randrange(1, 3)]
        if rng.random() < 0.4:
            reached = (*reached, rng.choice(STAGES[2:]))
        last = reached[-1]
        opps.append(
            (f"O{i}", last, rng.randrange(1000, 50000), f"owner{i % 40}", _ts(created),
             int(last.startswith("Closed")), int(last == "Closed Won"), _ts(created))
        )  # fmt: skip
        links.append((f"O{i}", f"L{i}"))
        stages += [
            (f"O{i}", st, _ts(created + timedelta(days=3 * k))) for k, st in enumerate(reached)
        ]
    cur.executemany(
        "INSERT INTO opportunities (crm_object_type, crm_id, stage, amount, owner_id,"
        " created_at, is_closed, is_won, deleted, updated_at)"
        " VALUES ('Opportunity', ?, ?, ?, ?, ?, ?, ?, 0, ?)",
        opps,
    )
    cur.executemany(
        "INSERT INTO opportunity_contacts (opportunity_id, contact_type, contact_id)"
        " VALUES (?, 'Lead', ?)",
        links,
    )
    cur.executemany(
        "INSERT INTO opportunity_stages (opportunity_id, stage, at) VALUES (?, ?, ?)", stages
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="(the output is always JSON)")
    parser.add_argument("--limit-s", type=float, default=10.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        store = SqlStore.from_url(url)
        try:
            t0 = time.perf_counter()
            generate(store, args.rows, args.contacts, args.seed)
            generated = time.perf_counter() - t0
            scope = Scope(START, START + timedelta(days=61), GroupBy.PLAY, pipeline=PIPELINE)
            t1 = time.perf_counter()
            with store.begin() as conn:
                report = build_report(conn, scope, OUTCOMES)
            report_s = time.perf_counter() - t1
            with store.begin() as conn:
                stored = conn.execute(sa.select(sa.func.count()).select_from(tb.messages))
                count = int(stored.scalar_one())
        finally:
            store.close()
    result = {
        "rows": count,
        "contacts": args.contacts,
        "generate_s": round(generated, 2),
        "report_s": round(report_s, 3),
        "limit_s": args.limit_s,
        "ok": report_s < args.limit_s,
        "attempted": report.total.attempted,
        "plays": len(report.plays),
        "opted_out": report.total.opted_out,
        "inbound_only_opt_outs": report.inbound_only_opt_outs,
        "opportunities": report.total.opportunities,
        "amount_influenced": round(report.total.amount_influenced),
        "response_p50_s": report.total.response_p50_s,
        "response_business_p50_s": report.total.response_business_p50_s,
    }
    sys.stdout.write(json.dumps(result) + "\n")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

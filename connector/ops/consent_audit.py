"""The consent audit trail: one number's whole ledger with what was sent after each change
(`show`), the ledger for a period as CSV or JSON lines with a closing digest (`export`),
and the hash chain checked end to end (`verify`, in connector/store/consent_chain.py).

`show` masks the number and scrubs message bodies: it is read on screens and pasted into
tickets. `export` is the auditor's evidence, so it carries whole numbers; it streams the
rows (a server-side cursor on Postgres) and never holds the ledger in memory."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa

from connector.logs import mask_phone, scrub_text
from connector.store import consent_chain
from connector.store.coltypes import UtcDateTime
from connector.store.tables import consent_ledger, decision_log, messages

Format = Literal["csv", "jsonl"]


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def _decision(conn: sa.Connection, phone: str, play: str | None, sent: datetime) -> Any:
    """The chokepoint's `allow` for this number and play that the text was queued under:
    the latest at or before the text."""
    d = decision_log.c
    stmt = sa.select(decision_log).where(d.phone == phone, d.verdict == "allow", d.at <= sent)
    stmt = stmt.where(d.play.is_(None) if play is None else d.play == play)
    row = conn.execute(stmt.order_by(d.at.desc(), d.id.desc()).limit(1)).first()
    if row is None:
        return None
    return {"id": row.id, "verdict": row.verdict, "reasons": list(row.reasons), "at": _iso(row.at)}


def _texts(
    conn: sa.Connection, phone: str, start: datetime | None, end: datetime | None
) -> list[dict[str, Any]]:
    m = messages.c
    stmt = sa.select(messages).where(m.to_number == phone, m.direction == "outbound")
    if start is not None:
        stmt = stmt.where(m.created_at >= start)
    if end is not None:
        stmt = stmt.where(m.created_at < end)
    return [
        {
            "sid": row.sid,
            "at": _iso(row.created_at),
            "play": row.play,
            "status": row.status,
            "body": scrub_text(row.body),
            "allowed_by": _decision(conn, phone, row.play, row.created_at),
        }
        for row in conn.execute(stmt.order_by(m.created_at, m.id))
    ]


def show(conn: sa.Connection, phone: str) -> dict[str, Any]:
    """Every ledger row of `phone` (E.164), oldest first, each with the texts sent after it
    and before the next change; the status now per purpose (or overall)."""
    c = consent_ledger.c
    rows = conn.execute(
        sa.select(consent_ledger).where(c.phone == phone).order_by(c.at, c.id)
    ).all()
    changes: list[dict[str, Any]] = []
    current: dict[str, str] = {}
    for i, row in enumerate(rows):
        fields = row._asdict()
        purpose = fields.get("purpose") or "overall"
        current[str(purpose)] = row.status
        nxt = rows[i + 1].at if i + 1 < len(rows) else None
        change = {
            "id": row.id,
            "status": row.status,
            "scope": row.scope,
            "source": row.source,
            "evidence_text": None if row.evidence_text is None else scrub_text(row.evidence_text),
            "message_id": row.evidence_sid,
            "at": _iso(row.at),
            "recorded_at": _iso(row.recorded_at),
            "texts_after": _texts(conn, phone, row.at, nxt),
        }
        if fields.get("purpose") is not None:  # no purpose: the change holds for every one
            change["purpose"] = fields["purpose"]
        changes.append(change)
    first = rows[0].at if rows else None
    before = _texts(conn, phone, None, first) if rows else _texts(conn, phone, None, None)
    return {
        "phone": mask_phone(phone),
        "status": current or {"overall": "unknown"},
        "changes": changes,
        "texts_before_any_change": before,
    }


def show_lines(found: dict[str, Any]) -> list[str]:
    out = [
        f"consent of {found['phone']}: " + ", ".join(f"{k} {v}" for k, v in found["status"].items())
    ]

    def texts(items: list[dict[str, Any]]) -> Iterator[str]:
        for t in items:
            allowed = t["allowed_by"]
            why = (
                f"allowed by decision {allowed['id']} at {allowed['at']}"
                f" ({', '.join(allowed['reasons']) or 'no reasons'})"
                if allowed
                else "no allow decision found"
            )
            yield f"    text {t['sid']} {t['at']} play {t['play'] or '-'} {t['status']}: {why}"

    if found["texts_before_any_change"]:
        out.append("  before any consent record:")
        out += texts(found["texts_before_any_change"])
    for ch in found["changes"]:
        purpose = f" [{ch['purpose']}]" if ch.get("purpose") else ""
        out.append(
            f"  #{ch['id']} {ch['at']} {ch['status']}{purpose} via {ch['source']} ({ch['scope']})"
            f" message {ch['message_id'] or '-'}: {ch['evidence_text'] or '-'}"
        )
        out += list(texts(ch["texts_after"])) or ["    no text sent after it"]
    return out


def _columns(conn: sa.Connection) -> list[Any]:
    """The ledger's columns as exported. Times are UTC ISO with microseconds; SQLite keeps
    them as that text already, so they are read raw and only reshaped (1M rows: parsing
    and formatting two datetimes a row was most of the export's time)."""
    if conn.dialect.name != "sqlite":
        return list(consent_ledger.columns)
    return [
        sa.type_coerce(col, sa.String).label(col.name) if isinstance(col.type, UtcDateTime) else col
        for col in consent_ledger.columns
    ]


def _time_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    text = str(value).replace(" ", "T", 1)  # SQLite's naive UTC text
    return (text if "." in text else text + ".000000") + "+00:00"


def export(
    conn: sa.Connection, fmt: Format, since: datetime | None, until: datetime | None
) -> Iterator[str]:
    """The ledger rows whose event time is in [since, until), in chain (id) order, one line
    each, then a digest line: the sha256 of every line before it, the row count, and the
    chain hashes of the first and last row, so an auditor can check the file is whole and
    each row's `row_hash` against `smsync consent verify`."""
    c = consent_ledger.c
    stmt = sa.select(*_columns(conn)).order_by(c.id)
    if since is not None:
        stmt = stmt.where(c.at >= since)
    if until is not None:
        stmt = stmt.where(c.at < until)
    names = [col.name for col in consent_ledger.columns]
    times = [i for i, col in enumerate(consent_ledger.columns) if isinstance(col.type, UtcDateTime)]
    prev_at, hash_at = names.index("prev_hash"), names.index("row_hash")
    order = sorted(range(len(names)), key=names.__getitem__)  # JSON keys, sorted once
    keys = [names[i] for i in order]
    encode = json.JSONEncoder(ensure_ascii=True).encode
    digest = hashlib.sha256()
    rows = 0
    first: str | None = None
    last: str | None = None
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if fmt == "csv":
        writer.writerow(names)
        header = buffer.getvalue()
        digest.update(header.encode())
        yield header
    for raw in conn.execution_options(yield_per=5000).execute(stmt):
        values = list(raw)
        for i in times:
            values[i] = _time_text(values[i])
        if fmt == "csv":
            buffer.seek(0)
            buffer.truncate()
            writer.writerow(values)
            line = buffer.getvalue()
        else:
            line = encode(dict(zip(keys, [values[i] for i in order], strict=True))) + "\n"
        rows += 1
        if first is None:
            first = values[prev_at]
        last = values[hash_at]
        digest.update(line.encode())
        yield line
    summary = {
        "rows": rows,
        "sha256": digest.hexdigest(),
        "chain_from": first,
        "chain_to": last,
        "since": _iso(since),
        "until": _iso(until),
    }
    if fmt == "csv":
        yield "#digest " + json.dumps(summary, sort_keys=True) + "\n"
    else:
        yield json.dumps({"digest": summary}, sort_keys=True) + "\n"


def verify(conn: sa.Connection) -> consent_chain.Verdict:
    return consent_chain.verify(conn, consent_ledger)

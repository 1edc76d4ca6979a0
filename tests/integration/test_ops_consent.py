"""The consent audit trail: `show` and `export` exact on a known ledger, the hash chain
verified, a changed or removed row named by `verify`, existing rows chained by migration
0009, and the export streamed in bounded memory (a small run of the benchmark)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from connector.domain.model import (
    ConsentRecord,
    ConsentScope,
    ConsentSource,
    ConsentStatus,
    Decision,
    Verdict,
)
from connector.ops.consent_audit import export, show
from connector.store import SqlStore, consent, decisions
from connector.store.consent_chain import GENESIS, row_hash, verify
from connector.store.tables import consent_ledger, messages
from tests.cli_kit import ROOT, smsync
from tests.migrated import upgrade

PHONE = "+14155550123"
OTHER = "+14155550199"
T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def record(
    status: ConsentStatus,
    source: ConsentSource,
    at: datetime,
    *,
    sid: str | None = None,
    note: str | None = None,
    phone: str = PHONE,
) -> ConsentRecord:
    return ConsentRecord(phone, status, ConsentScope.SENDER, source, at, sid, note)


def text(conn: sa.Connection, sid: str, at: datetime, play: str | None, to: str = PHONE) -> None:
    conn.execute(
        sa.insert(messages).values(
            sid=sid,
            direction="outbound",
            from_number="+15550000000",
            to_number=to,
            body=f"hello, reply to {to}",
            status="delivered",
            play=play,
            num_segments=1,
            contact_type="Lead",
            contact_id="L1",
            created_at=at,
            updated_at=at,
        )
    )


def known_ledger(store: SqlStore) -> None:
    with store.begin() as conn:
        consent.append(
            conn,
            record(
                ConsentStatus.OPTED_IN, ConsentSource.WEB_FORM, T0, note="signed up on /pricing"
            ),
            T0,
        )
        allow = decisions.append(
            conn,
            Decision(Verdict.ALLOW, ("consented",)),
            T0 + timedelta(hours=1),
            phone=PHONE,
            play="welcome",
        )
        assert allow > 0
        text(conn, "SM1", T0 + timedelta(hours=1, minutes=1), "welcome")
        consent.append(
            conn,
            record(
                ConsentStatus.OPTED_OUT,
                ConsentSource.KEYWORD,
                T0 + timedelta(days=1),
                sid="SMstop",
                note="STOP",
            ),
            T0 + timedelta(days=1),
        )
        consent.append(
            conn,
            record(ConsentStatus.OPTED_IN, ConsentSource.WEB_FORM, T0, note="other", phone=OTHER),
            T0 + timedelta(days=1),
        )
        consent.append(
            conn,
            record(
                ConsentStatus.OPTED_IN,
                ConsentSource.KEYWORD,
                T0 + timedelta(days=2),
                sid="SMstart",
                note="START",
            ),
            T0 + timedelta(days=2),
        )
        text(conn, "SM2", T0 + timedelta(days=2, hours=3), None)


def test_show_is_exact_and_masks_the_number(store: SqlStore) -> None:
    known_ledger(store)
    with store.begin() as conn:
        found = show(conn, PHONE)
    masked = "+1415***0123"
    assert found == {
        "phone": masked,
        "status": {"overall": "opted_in"},
        "texts_before_any_change": [],
        "changes": [
            {
                "id": 1,
                "status": "opted_in",
                "scope": "sender",
                "source": "web_form",
                "evidence_text": "signed up on /pricing",
                "message_id": None,
                "at": "2026-11-01T09:00:00+00:00",
                "recorded_at": "2026-11-01T09:00:00+00:00",
                "texts_after": [
                    {
                        "sid": "SM1",
                        "at": "2026-11-01T10:01:00+00:00",
                        "play": "welcome",
                        "status": "delivered",
                        "body": f"hello, reply to {masked}",
                        "allowed_by": {
                            "id": 1,
                            "verdict": "allow",
                            "reasons": ["consented"],
                            "at": "2026-11-01T10:00:00+00:00",
                        },
                    }
                ],
            },
            {
                "id": 2,
                "status": "opted_out",
                "scope": "sender",
                "source": "keyword",
                "evidence_text": "STOP",
                "message_id": "SMstop",
                "at": "2026-11-02T09:00:00+00:00",
                "recorded_at": "2026-11-02T09:00:00+00:00",
                "texts_after": [],
            },
            {
                "id": 4,
                "status": "opted_in",
                "scope": "sender",
                "source": "keyword",
                "evidence_text": "START",
                "message_id": "SMstart",
                "at": "2026-11-03T09:00:00+00:00",
                "recorded_at": "2026-11-03T09:00:00+00:00",
                "texts_after": [
                    {
                        "sid": "SM2",
                        "at": "2026-11-03T12:00:00+00:00",
                        "play": None,
                        "status": "delivered",
                        "body": f"hello, reply to {masked}",
                        "allowed_by": None,
                    }
                ],
            },
        ],
    }


def test_export_is_exact_streamed_and_its_digest_covers_every_line(store: SqlStore) -> None:
    known_ledger(store)
    with store.begin() as conn:
        lines = list(export(conn, "jsonl", T0 + timedelta(hours=1), T0 + timedelta(days=3)))
        rows = conn.execute(sa.select(consent_ledger).order_by(consent_ledger.c.id)).all()
        csv_lines = list(export(conn, "csv", None, None))
    body, last = lines[:-1], json.loads(lines[-1])["digest"]
    assert [json.loads(line)["id"] for line in body] == [2, 4]
    assert json.loads(body[0]) == {
        "id": 2,
        "phone": PHONE,
        "status": "opted_out",
        "scope": "sender",
        "source": "keyword",
        "evidence_sid": "SMstop",
        "evidence_text": "STOP",
        "at": "2026-11-02T09:00:00.000000+00:00",
        "recorded_at": "2026-11-02T09:00:00.000000+00:00",
        "purpose": None,  # the entry holds for every purpose
        "prev_hash": rows[0].row_hash,
        "row_hash": rows[1].row_hash,
    }
    assert last == {
        "rows": 2,
        "sha256": hashlib.sha256("".join(body).encode()).hexdigest(),
        "chain_from": rows[0].row_hash,
        "chain_to": rows[3].row_hash,
        "since": "2026-11-01T10:00:00+00:00",
        "until": "2026-11-04T09:00:00+00:00",
    }
    assert csv_lines[0] == (
        "id,phone,status,scope,source,evidence_sid,evidence_text,at,recorded_at,purpose,prev_hash,"
        "row_hash\n"
    )
    assert len(csv_lines) == 1 + 4 + 1
    csv_digest = json.loads(csv_lines[-1].removeprefix("#digest "))
    assert csv_digest["rows"] == 4
    assert csv_digest["chain_from"] == GENESIS
    assert csv_digest["sha256"] == hashlib.sha256("".join(csv_lines[:-1]).encode()).hexdigest()


def _tamper(url: str, sql: str) -> None:
    """What someone with write access to the database could do around the store."""
    engine = sa.create_engine(url.replace("sqlite:", "sqlite+pysqlite:", 1))
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("ALTER TABLE consent_ledger DISABLE TRIGGER USER")
            else:
                conn.exec_driver_sql("DROP TRIGGER IF EXISTS consent_ledger_no_update")
                conn.exec_driver_sql("DROP TRIGGER IF EXISTS consent_ledger_no_delete")
            conn.exec_driver_sql(sql)
    finally:
        engine.dispose()


def test_verify_names_the_changed_row_then_the_row_after_a_removed_one(
    store: SqlStore, migrated_url: str
) -> None:
    known_ledger(store)
    env = {"SMSYNC_DATABASE_URL": migrated_url}
    ok = smsync("consent", "verify", env=env)
    assert ok.returncode == 0, ok.stderr
    assert "intact: 4 rows" in ok.stdout
    _tamper(migrated_url, "UPDATE consent_ledger SET status = 'opted_in' WHERE id = 2")
    bad = smsync("consent", "verify", env=env)
    assert bad.returncode == 1
    assert "TAMPERED at row id 2: its contents were changed" in bad.stderr
    _tamper(migrated_url, "UPDATE consent_ledger SET status = 'opted_out' WHERE id = 2")
    assert smsync("consent", "verify", env=env).returncode == 0  # put back: whole again
    _tamper(migrated_url, "DELETE FROM consent_ledger WHERE id = 3")
    gone = smsync("consent", "verify", env=env)
    assert gone.returncode == 1
    assert "TAMPERED at row id 4: a row before it was removed" in gone.stderr


def test_the_cli_shows_and_exports(store: SqlStore, migrated_url: str, tmp_path: Path) -> None:
    known_ledger(store)
    env = {"SMSYNC_DATABASE_URL": migrated_url}
    shown = smsync("consent", "show", "(415) 555-0123", env=env)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[0] == "consent of +1415***0123: overall opted_in"
    assert "allowed by decision 1" in shown.stdout
    assert PHONE not in shown.stdout
    out = tmp_path / "audit.csv"
    done = smsync(
        "consent", "export", "--format", "csv", "--out", str(out), "--since", "2026-11-02", env=env
    )
    assert done.returncode == 0, done.stderr
    assert out.read_text().count("\n") == 1 + 2 + 1  # header, rows 2 and 4, digest
    for args, says in (
        (("consent", "show", "12"), "not a valid number"),
        (("consent", "export", "--format", "xml"), "csv or jsonl"),
        (("consent", "export", "--since", "2026-12-01", "--until", "2026-11-01"), "before"),
    ):
        result = smsync(*args, env=env)
        assert result.returncode == 2, (args, result.stderr)
        assert says in result.stderr


def test_migration_0009_chains_the_rows_already_there(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0008")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for i in range(2500):  # more than one backfill batch
            conn.exec_driver_sql(
                "INSERT INTO consent_ledger (phone, status, scope, source, evidence_sid, at,"
                " recorded_at) VALUES (?, 'opted_out', 'sender', 'keyword', ?,"
                " '2026-10-01 00:00:00.000000', '2026-10-01 00:00:00.000000')",
                (f"+1415555{i:04d}", f"SM{i}"),
            )
    engine.dispose()
    assert upgrade(url, "0009") == ["0009"]
    store = SqlStore.from_url(url)
    try:
        with store.begin() as conn:
            consent.append(
                conn, record(ConsentStatus.OPTED_IN, ConsentSource.WEB_FORM, T0, note="new"), T0
            )
        with store.begin() as conn:
            verdict = verify(conn, consent_ledger)
            first = conn.execute(sa.select(consent_ledger).where(consent_ledger.c.id == 1)).one()
        assert (verdict.rows, verdict.broken) == (2501, None)
        assert first.prev_hash == GENESIS
        assert first.row_hash == row_hash(GENESIS, first._asdict())
    finally:
        store.close()


def test_bench_consent_export_small() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/bench_consent_export.py", "--rows", "20000", "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["rows"] == 20000
    assert found["exported_rows"] == 20000
    assert found["verified"] is True
    assert 0 < found["peak_rss_mb"] < 200
    assert found["export_s"] > 0

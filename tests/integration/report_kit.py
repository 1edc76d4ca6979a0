"""A store dataset with known ground truth for the report tests (see test_report_figures)."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from connector.domain.plays import FieldPredicate, Outcome, PredicateOp
from connector.domain.sla import BusinessCalendar
from connector.report.model import PipelineDefs
from connector.store import tables as tb

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
SINCE = datetime(2024, 3, 1, tzinfo=UTC)
UNTIL = datetime(2024, 3, 8, tzinfo=UTC)
OUTCOMES = {
    "speed": Outcome(condition=FieldPredicate("lifecycle_stage", PredicateOp.EQUALS, ("working",))),
    "confirm": Outcome(disposition="confirmed"),
}


def phone(name: str) -> str:
    return f"+1555{zlib.crc32(name.encode()) % 10_000_000:07d}"


class Builder:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self.sids = 0

    def contact(self, cid: str, team: str, **extra: Any) -> None:
        values: dict[str, Any] = {
            "crm_object_type": "Lead",
            "crm_id": cid,
            "phone": phone(cid),
            "owner_id": f"owner-{team}",
            "owner_team": team,
            "consent": "opted_in",
            "segments": {"industry": extra.pop("industry", "retail"), **extra.pop("names", {})},
            "deleted": False,
            "updated_at": T0,
        }
        self.conn.execute(sa.insert(tb.contact_state).values(**values, **extra))

    def message(
        self, cid: str, direction: str, at: datetime, status: str, play: str | None = None
    ) -> None:
        self.sids += 1
        ours, theirs = "+15550000000", phone(cid)
        self.conn.execute(
            sa.insert(tb.messages).values(
                sid=f"SM{self.sids:08d}",
                direction=direction,
                from_number=ours if direction == "outbound" else theirs,
                to_number=theirs if direction == "outbound" else ours,
                body="hi",
                status=status,
                play=play,
                num_segments=1,
                contact_type="Lead",
                contact_id=cid,
                created_at=at,
                updated_at=at,
            )
        )

    def timer(self, cid: str, started: datetime, **closed: datetime) -> None:
        self.conn.execute(
            sa.insert(tb.sla_timers).values(
                contact_type="Lead",
                contact_id=cid,
                kind="first_response",
                started=started,
                due=started + timedelta(seconds=900),
                **closed,
            )
        )

    def manual_send(self, cid: str, at: datetime, key: str | None = None) -> None:
        """A rep's text through smsync (`smsync send`), sent at `at`."""
        self.conn.execute(
            sa.insert(tb.sms_outbox).values(
                idempotency_key=key or f"manual:speed:Lead/{cid}:{at.isoformat()}",
                contact_type="Lead",
                contact_id=cid,
                to_number=phone(cid),
                body="on it",
                send_at=at,
                state="sent",
                attempts=1,
                created_at=at,
                done_at=at,
            )
        )

    def rep_send(self, cid: str, at: datetime) -> None:
        """A rep's text from the CRM (the outbox key `rep:<object>/<id>:<record id>`)."""
        self.manual_send(cid, at, key=f"rep:Lead/{cid}:a0X{self.sids:05d}")

    def opportunity(
        self,
        oid: str,
        contacts: list[str],
        created: datetime,
        history: list[tuple[str, float]],  # (stage, days after creation), oldest first
        amount: float,
    ) -> None:
        stage = history[-1][0]
        self.conn.execute(
            sa.insert(tb.opportunities).values(
                crm_object_type="Opportunity",
                crm_id=oid,
                stage=stage,
                amount=amount,
                owner_id="owner-sdr",
                created_at=created,
                is_closed=stage.startswith("Closed"),
                is_won=stage == "Closed Won",
                crm_modstamp=created,
                deleted=False,
                updated_at=created,
            )
        )
        for cid in contacts:
            self.conn.execute(
                sa.insert(tb.opportunity_contacts).values(
                    opportunity_id=oid, contact_type="Lead", contact_id=cid
                )
            )
        for name, days in history:
            self.conn.execute(
                sa.insert(tb.opportunity_stages).values(
                    opportunity_id=oid, stage=name, at=created + timedelta(days=days)
                )
            )

    def decision(self, cid: str, verdict: str, reasons: list[str], play: str | None) -> None:
        self.conn.execute(
            sa.insert(tb.decision_log).values(
                contact_type="Lead",
                contact_id=cid,
                phone=phone(cid),
                verdict=verdict,
                reasons=reasons,
                play=play,
                at=T0,
            )
        )

    def opt_out(self, cid: str, at: datetime, source: str = "keyword") -> None:
        self.sids += 1
        self.conn.execute(
            sa.insert(tb.consent_ledger).values(
                phone=phone(cid),
                status="opted_out",
                scope="all",
                source=source,
                evidence_sid=f"SMstop{cid}{self.sids}",
                at=at,
                recorded_at=at,
            )
        )

    def disposition_write(self, cid: str, disposition: str, at: datetime) -> None:
        self.conn.execute(
            sa.insert(tb.crm_outbox).values(
                external_id=f"fields-{cid}-{disposition}",
                kind="field_update",
                target_type="Lead",
                target_id=cid,
                fields={"disposition": disposition},
                state="done",
                attempts=1,
                created_at=at,
            )
        )


PIPELINE = PipelineDefs(
    meeting_held=("Discovery",), opportunity=("Proposal",), won=("Closed Won",),
    lost=("Closed Lost",), window_days=30,
)  # fmt: skip
# SLA hours for the business-time figures: Mon-Fri 09:00-15:10 UTC (2024-03-01 is a Friday)
HOURS = BusinessCalendar.from_names(
    "UTC", ("mon", "tue", "wed", "thu", "fri"), time(9), time(15, 10)
)


def build(conn: sa.Connection) -> None:
    """sdr: c0..c9 on play `speed`, h0..h4 held out; ae: a0..a3 on play `confirm`."""
    b = Builder(conn)
    h = timedelta(hours=1)
    first = {f"c{i}": T0 + timedelta(minutes=i) for i in range(10)}
    for i in range(10):
        cid = f"c{i}"
        extra: dict[str, Any] = {}
        if i < 3:  # the play's outcome, reached 100 s, 1 h and 2 h after the first text
            extra["lifecycle_stage"] = "working"
            extra["crm_modstamp"] = first[cid] + timedelta(seconds=(100, 3600, 7200)[i])
        extra["disposition"] = {0: "confirmed", 1: "meeting_booked", 2: "not_interested"}.get(i)
        industry = "retail" if i < 5 else "health"
        b.contact(cid, "sdr", industry=industry, names={"owner_name": "Sam Diaz"}, **extra)
        b.message(cid, "outbound", first[cid], "delivered", "speed")
        b.message(cid, "outbound", first[cid] + 24 * h, "delivered" if i < 6 else "failed", "speed")
        b.decision(cid, "send", ["holdout_treated"], "speed")
    b.message("c0", "outbound", T0 - 48 * h, "delivered", "speed")  # before the period
    for i in range(4):  # replies after the first text
        b.message(f"c{i}", "inbound", first[f"c{i}"] + h, "received")
    b.message("c9", "inbound", first["c9"] - h, "received")  # before any text: no reply
    b.opt_out("c4", first["c4"] + 2 * h)
    b.opt_out("c5", T0 - 72 * h, source="crm")  # read from the CRM at the first sync
    b.opt_out("stranger", T0 + 5 * h)  # a STOP from a number that is no contact
    b.opt_out("h1", T0 + 3 * h)  # a held-out contact, never texted
    for i in range(5):
        state = {"lifecycle_stage": "working", "crm_modstamp": T0 + h} if i == 0 else {}
        b.contact(f"h{i}", "sdr", **{"lifecycle_stage": "new", **state})
        b.decision(f"h{i}", "block", ["holdout"], "speed")
    b.decision("c5", "block", ["quiet_hours"], "speed")
    b.decision("c6", "block", ["quiet_hours", "caps"], "speed")
    for i, secs in enumerate((60, 120, 600)):
        start = T0 + (i + 2) * h
        b.timer(f"c{i}", start, met=start + timedelta(seconds=secs))
    late = T0 + 6 * h
    b.timer("c3", late, met=late + timedelta(seconds=1200))  # met, but after due
    b.timer("c4", T0 + 7 * h, breached=T0 + 7 * h + timedelta(seconds=900))
    b.manual_send("c4", T0 + 7 * h + timedelta(seconds=1800))  # answered, after the breach
    b.timer("c5", T0 + 8 * h)  # still open
    b.manual_send("c5", T0 + 7 * h)  # before c5's reply: no answer to it
    b.timer("c6", T0 - 30 * h, met=T0 - 29 * h)  # before the period
    for i in range(4):
        cid = f"a{i}"
        # a1's meeting was booked before its text: not a meeting after the text
        b.contact(cid, "ae", disposition="confirmed" if i < 2 else None, crm_modstamp=T0)
        b.message(cid, "outbound", T0 + 2 * h, "failed" if i == 3 else "delivered", "confirm")
    b.message("a0", "inbound", T0 + 3 * h, "received")
    day = timedelta(days=1)
    d0 = [("Discovery", 0.0)]
    b.opportunity(
        "O1", ["c0"], first["c0"] + 2 * day, [*d0, ("Proposal", 3), ("Closed Won", 10)], 1000
    )
    b.opportunity("O2", ["c1", "c2"], first["c1"] + day, [*d0, ("Proposal", 5)], 500)
    b.opportunity("O3", ["c3"], first["c3"] + day, d0, 200)  # a meeting held, no opportunity
    b.opportunity("O4", ["c4"], first["c4"] - day, [("Proposal", 0)], 9999)  # before the text
    b.opportunity("O5", ["c5"], first["c5"] + 40 * day, [("Proposal", 0)], 9999)  # too late
    b.opportunity("O6", ["h0"], T0 + day, [*d0, ("Proposal", 2), ("Closed Lost", 4)], 300)
    b.opportunity("O7", ["a0"], T0 + 2 * h + day, [*d0, ("Closed Lost", 1)], 700)
    b.disposition_write("a0", "confirmed", T0 + 2 * h + timedelta(seconds=1800))

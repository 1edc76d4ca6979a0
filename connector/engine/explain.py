"""`smsync explain`: a contact's decision log, newest first, for people and as JSON.

The log keeps reason codes; each is printed with what it means, the play, and when the
text was (or will be) sent. Phone numbers are masked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from connector.domain.model import CrmRef
from connector.engine.decisions import HOLDOUT_TREATED
from connector.logs import mask_phone
from connector.store import decisions
from connector.store import tables as tb
from connector.store.records import DecisionEntry

MEANINGS: dict[str, str] = {
    "opted_out": "the number opted out; nothing but the one confirmation goes to it",
    "consent_required": "the contact's region requires opt-in, and there is none",
    "not_opted_out": "an opt-out confirmation without an opt-out",
    "already_confirmed": "the opt-out was already confirmed once",
    "invalid_number": "the number is not valid (numbering plan or provider)",
    "landline": "the number is a landline or not mobile",
    "missing_data": "a required template value is empty",
    "expired": "the play's window closed before it could send",
    "unknown_zone": "the recipient's time zone is unknown and the policy holds such sends",
    "quiet_hours": "outside the quiet-hours window in the recipient's local time",
    "delay": "the play waits its configured delay",
    "daily_cap": "the contact's daily cap across plays is reached",
    "weekly_cap": "the contact's weekly cap across plays is reached",
    "play_cap": "the play's own cap for the contact is reached",
    "play_cooldown": "the play was sent to the contact within its cooldown",
    "active_conversation": "the contact texted recently; automated plays pause",
    "open_task": "an open follow-up task for the contact",
    "rep_engaged": "the rep was active on the record recently",
    "higher_priority_play": "a higher-priority play is in motion",
    "cooldown": "the contact replied 'not now' recently",
    "segment_excluded": "the contact matches an exclusion",
    "holdout": "the contact is in the play's holdout (control) group",
    HOLDOUT_TREATED: "the contact is in the play's treated group",
    "provider_opt_out": "the provider refused: the number opted out with the carrier",
    "unknown_play": "the play is no longer in the plays file",
}


@dataclass(frozen=True, slots=True)
class Explanation:
    crm_id: str
    entries: tuple[DecisionEntry, ...]

    def as_json(self) -> dict[str, object]:
        return {
            "contact": self.crm_id,
            "decisions": [
                {
                    "at": e.at.isoformat(),
                    "contact": str(e.contact) if e.contact else None,
                    "phone": mask_phone(e.phone) if e.phone else None,
                    "play": e.play,
                    "verdict": e.decision.verdict.value,
                    "reasons": [
                        {"code": code, "meaning": MEANINGS.get(code, "")}
                        for code in e.decision.reasons
                    ],
                    "send_at": e.decision.send_at.isoformat() if e.decision.send_at else None,
                }
                for e in self.entries
            ],
        }

    def lines(self) -> list[str]:
        if not self.entries:
            return [f"no decisions recorded for {self.crm_id}"]
        out = [f"decisions for {self.crm_id}, newest first:"]
        for e in self.entries:
            when = f" -> send at {_utc(e.decision.send_at)}" if e.decision.send_at else ""
            out.append(f"{_utc(e.at)}  {e.decision.verdict.value:<5}  {e.play or '-'}{when}")
            for code in e.decision.reasons or ("allowed",):
                meaning = MEANINGS.get(code, "")
                out.append(f"    {code}" + (f": {meaning}" if meaning else ""))
        return out


def _utc(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


def explain(conn: sa.Connection, crm_id: str, limit: int = 100) -> Explanation:
    """Every decision about the record with this CRM id, whatever its object type."""
    t = tb.decision_log
    kinds = conn.execute(
        sa.select(t.c.contact_type).where(t.c.contact_id == crm_id).distinct()
    ).scalars()
    entries: list[DecisionEntry] = []
    for kind in kinds:
        if kind is not None:
            entries.extend(decisions.for_contact(conn, CrmRef(kind, crm_id), limit))
    entries.sort(key=lambda e: (e.at, e.id), reverse=True)
    return Explanation(crm_id, tuple(entries[:limit]))

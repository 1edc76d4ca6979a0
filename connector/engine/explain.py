"""`smsync explain`: a contact's decision log, newest first, for people and as JSON.

Each reason is printed with the detail recorded when it was decided (the zone and where
it came from, the state rule that closed it, the cap reached, ...) and what its code
means; then the inputs the decision depended on: every zone the recipient may be in with
each of its sources, the US states and the rules that held. Rows logged before details
were kept (migration 0004) show code and meaning only. Phone numbers are masked."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connector.domain.model import CrmRef
from connector.engine.decisions import HOLDOUT_TREATED
from connector.logs import mask_phone
from connector.ports import Connection
from connector.store import decisions
from connector.store.records import DecisionEntry

MEANINGS: dict[str, str] = {
    "opted_out": "the number opted out (of every purpose, or of the play's); nothing but the"
    " one confirmation goes to it",
    "consent_required": "the contact's region requires opt-in, and there is none",
    "not_opted_out": "an opt-out confirmation without an opt-out",
    "already_confirmed": "the opt-out was already confirmed once",
    "confirmation_late": "an opt-out is confirmed within 5 minutes or not at all (FCC)",
    "provider_answered": "the provider answered this keyword itself (its OptOutType); not twice",
    "provider_answers": "policy.keywords.answered_by is provider: smsync sends no HELP answer"
    " or opt-out confirmation",
    "no_help_text": "a HELP request, but the plays file sets no policy.keywords.help_text",
    "invalid_number": "the number is not valid (numbering plan or provider)",
    "landline": "the number is a landline or not mobile",
    "missing_data": "a required template value is empty",
    "body_too_long": "the text is longer than the provider's 1,600 characters",
    "expired": "the play's window closed before it could send",
    "unknown_zone": "the recipient's time zone is unknown and the policy holds such sends",
    "quiet_hours": "outside the quiet-hours window in the recipient's local time",
    "state_cap": "a state's cap on texts per 24 hours on one subject (the play) is reached",
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
    "trigger_changed": "the date the play was timed against moved or was cleared",
    "preempts": "the cap was full; this play took the place of a queued lower-priority text",
    "preempted": "a higher-priority play took this queued text's place under the cap",
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
                        {"code": code, "detail": detail, "meaning": MEANINGS.get(code, "")}
                        for code, detail in _reasons(e)
                    ],
                    "send_at": e.decision.send_at.isoformat() if e.decision.send_at else None,
                    "inputs": _inputs(e),
                    # the arm of a play with variants (None: no variants, or held out)
                    "variant": _variant(e),
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
            for code, detail in _reasons(e) or [("allowed", None)]:
                out.append(f"    {_reason_line(code, detail)}")
            shown = _describe_inputs(_inputs(e))
            if shown:
                out.append(f"    inputs: {shown}")
        return out


def _reasons(entry: DecisionEntry) -> list[tuple[str, str | None]]:
    """Each logged code with its recorded detail (None for rows that predate details)."""
    recorded = (entry.details or {}).get("reasons")
    found: list[Any] = recorded if isinstance(recorded, list) else []
    out: list[tuple[str, str | None]] = []
    for i, code in enumerate(entry.decision.reasons):
        item = found[i] if i < len(found) else None
        detail = item.get("detail") if isinstance(item, Mapping) else None
        same = isinstance(item, Mapping) and item.get("code") == code
        out.append((code, detail if same and isinstance(detail, str) else None))
    return out


def _inputs(entry: DecisionEntry) -> dict[str, Any] | None:
    found = (entry.details or {}).get("inputs")
    return dict(found) if isinstance(found, Mapping) else None


def _variant(entry: DecisionEntry) -> str | None:
    found = (_inputs(entry) or {}).get("variant")
    name = found.get("name") if isinstance(found, Mapping) else None
    return name if isinstance(name, str) else None


def _reason_line(code: str, detail: str | None) -> str:
    """`code: detail (meaning)`, or `code: meaning` when no detail was recorded."""
    meaning = MEANINGS.get(code, "")
    if detail and meaning:
        return f"{code}: {detail} ({meaning})"
    if detail or meaning:
        return f"{code}: {detail or meaning}"
    return code


def _describe_inputs(found: Mapping[str, Any] | None) -> str:
    if not found:
        return ""
    parts: list[str] = []
    zones = found.get("zones")
    if zones and found.get("zone_source"):
        parts.append(_zones_line(found))
    elif zones is not None:
        parts.append("zone unknown")
    states = found.get("states")
    if isinstance(states, list) and states:
        sources: dict[str, list[str]] = {}
        for item in states:
            sources.setdefault(str(item.get("state")), []).append(str(item.get("from")))
        shown = ", ".join(f"{code} (from {', '.join(how)})" for code, how in sources.items())
        parts.append(f"state {shown}")
    rules = found.get("state_rules")
    if isinstance(rules, list) and rules:
        parts.append(f"state rules {' | '.join(str(r) for r in rules)}")
    for key, label in (
        ("purpose", "purpose"),
        ("consent", "consent"),
        ("region", "region"),
        ("kind", "kind"),
    ):
        if found.get(key) is not None:
            parts.append(f"{label} {found[key]}")
    if found.get("triggered_at"):
        parts.append(f"triggered {found['triggered_at']}")
    if found.get("prior_sends") is not None:
        parts.append(f"prior sends {found['prior_sends']}")
    if found.get("trigger"):
        parts.append(f"answers {found['trigger']}")
    parts.extend(_arm_parts(found))
    return "; ".join(parts)


def _arm_parts(found: Mapping[str, Any]) -> list[str]:
    """The holdout arm, the variant and the template's language."""
    parts: list[str] = []
    holdout = found.get("holdout")
    if isinstance(holdout, Mapping):
        arm = "held out" if holdout.get("held_out") else "treated"
        bucket = holdout.get("bucket")
        at = f" bucket {bucket:.4f}" if isinstance(bucket, int | float) else ""
        parts.append(f"holdout {holdout.get('percent')}%{at} {arm}")
    variant = found.get("variant")
    if isinstance(variant, Mapping):
        bucket = variant.get("bucket")
        at = f" (bucket {bucket:.4f})" if isinstance(bucket, int | float) else ""
        parts.append(f"variant {variant.get('name')}{at}")
    if found.get("language"):
        parts.append(f"template language {found['language']}")
    return parts


def _zones_line(found: Mapping[str, Any]) -> str:
    """'zone America/New_York (from crm_field)', or for several zones and sources
    'zones Europe/London (from crm_field), America/Denver (from area_code, state)'."""
    by_zone = found.get("zone_sources")
    if not isinstance(by_zone, list) or not by_zone:  # rows logged before zone_sources
        return f"zone {', '.join(found['zones'])} (from {found['zone_source']})"
    each = [f"{z.get('zone')} (from {', '.join(z.get('sources') or [])})" for z in by_zone]
    return f"{'zone' if len(each) == 1 else 'zones'} {', '.join(each)}"


def _utc(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


def explain(conn: Connection, crm_id: str, limit: int = 100) -> Explanation:
    """Every decision about the record with this CRM id, whatever its object type."""
    entries: list[DecisionEntry] = []
    for kind in decisions.contact_types(conn, crm_id):
        entries.extend(decisions.for_contact(conn, CrmRef(kind, crm_id), limit))
    entries.sort(key=lambda e: (e.at, e.id), reverse=True)
    return Explanation(crm_id, tuple(entries[:limit]))

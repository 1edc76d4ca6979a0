"""Idempotency keys of `sms_outbox` rows, and what kind of send each key names.

The key is the row's identity (a replayed plan enqueues nothing twice) and says which
checks the chokepoint applies at send time, so every producer of texts uses these:

    play:<play>:<object>/<id>:<trigger time>     an automated play
    manual:<play>:<object>/<id>:<request id>     a person's send (CLI or API)
    rep:<object>/<id>:<CRM record id>            a rep's text from the CRM (`rep_send:`),
                                                 checked as a manual send
    help:<inbound sid>                           the answer to HELP
    opt_out_confirmation:<inbound sid>           the one STOP confirmation

A key with any other prefix is checked as a manual send: consent, number and quiet hours,
the strictest set that any person-initiated text gets."""

from __future__ import annotations

from datetime import datetime

from connector.domain.caps import SendKind
from connector.domain.model import CrmRef

_PREFIX: dict[str, SendKind] = {
    "play": SendKind.PLAY,
    "manual": SendKind.MANUAL,
    "rep": SendKind.MANUAL,
    "help": SendKind.HELP_REPLY,
    "opt_out_confirmation": SendKind.OPT_OUT_CONFIRMATION,
}


def play_key(play: str, contact: CrmRef, fired_at: datetime) -> str:
    return f"play:{play}:{contact}:{fired_at.isoformat()}"


def manual_key(play: str, contact: CrmRef, request_id: str) -> str:
    return f"manual:{play}:{contact}:{request_id}"


def rep_key(contact: CrmRef, record_id: str) -> str:
    """One CRM send record, one text: the record's id makes a second pass a no-op."""
    return f"rep:{contact}:{record_id}"


def help_key(inbound_sid: str) -> str:
    return f"help:{inbound_sid}"


def opt_out_confirmation_key(inbound_sid: str) -> str:
    return f"opt_out_confirmation:{inbound_sid}"


def kind_of(key: str) -> SendKind:
    return _PREFIX.get(key.split(":", 1)[0], SendKind.MANUAL)


# a person's answer (the SLA sweep and the report count these as a human's reply)
HUMAN_PREFIXES = ("manual:", "rep:")


def fired_at(key: str) -> datetime | None:
    """The trigger time a play key carries (its last field), or None."""
    if kind_of(key) is not SendKind.PLAY:
        return None
    # the ref may hold ':' in theory, the ISO time always does: split on the play part
    rest = key.split(":", 2)[2]
    for cut in range(len(rest)):
        if rest[cut] == ":":
            try:
                found = datetime.fromisoformat(rest[cut + 1 :])
            except ValueError:
                continue
            return found if found.tzinfo is not None else None
    return None


def correlation_id(key: str) -> str | None:
    """The provider MessageSid behind an inbox id (`SM…`, `SM…:delivered`) or a CRM
    external id (`sms:SM…`, `task:SM…:follow_up`): the id that ties a log line from webhook
    intake to the CRM write it caused. None for keys no message caused."""
    for part in key.split(":"):
        if part.startswith(("SM", "MM")) and len(part) == 34:
            return part
    return None

"""Compliance keywords of a Twilio inbound message: its `OptOutType` (set when Twilio's
Advanced Opt-Out matched, and already acted on by Twilio) first, then our own rules
(`connector.domain.keywords`) on the body, with the sid and time as evidence."""

from __future__ import annotations

from connector.domain.keywords import DEFAULT_RULES, KeywordMatch, KeywordRules, classify
from connector.sms.twilio.webhooks import InboundEvent


def classify_inbound(
    event: InboundEvent, rules: KeywordRules = DEFAULT_RULES
) -> KeywordMatch | None:
    return classify(
        event.body, opt_out_type=event.opt_out_type, sid=event.sid, at=event.at, rules=rules
    )

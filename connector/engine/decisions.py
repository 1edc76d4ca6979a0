"""Every governance evaluation goes to the decision log (`smsync explain`) and the
decision counter, through `record`.

The log keeps reason codes (counted per reason by reports); the holdout arm of a play
with a holdout is kept beside them so outcomes can be measured against the control group:
held-out contacts carry the blocking reason `holdout`, treated ones the note
`holdout_treated`."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import sqlalchemy as sa

from connector.domain.governance import Evaluation
from connector.domain.model import CrmRef, Verdict
from connector.metrics import SMS_DECISIONS
from connector.store import decisions

HOLDOUT_TREATED = "holdout_treated"


def record(
    conn: sa.Connection,
    evaluation: Evaluation,
    at: datetime,
    *,
    contact: CrmRef | None,
    phone: str | None,
    play: str | None,
) -> int:
    decision = evaluation.decision
    holdout = evaluation.holdout
    if (
        holdout is not None
        and holdout.percent > 0
        and not holdout.held_out
        and decision.verdict is not Verdict.BLOCK
    ):
        decision = replace(decision, reasons=(*decision.reasons, HOLDOUT_TREATED))
    for code in decision.reasons or ("none",):
        SMS_DECISIONS.labels(verdict=decision.verdict.value, reason=code).inc()
    return decisions.append(conn, decision, at, contact=contact, phone=phone, play=play)

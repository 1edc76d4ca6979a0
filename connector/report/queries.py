"""The report's figures, each one read-only SQL aggregate over the store: the queries are
the store's (`connector/store/report_*.py`), this module assembles their rows.

Nothing here loops over data rows in Python: every query returns one row per group (or per
group and reason, disposition or day), and Python only arranges those rows (the answered
SLA timers aside, whose business hours are a Python calendar).

Definitions (a period is ``since`` inclusive to ``until`` exclusive, both optional; README,
"Measuring outcomes", says the same for readers):

- **texted contacts** (``contacts``): contacts (the message's CRM ref) with an outbound
  message in the period; their *first* outbound anchors the rates below, and every contact
  rate is a share of them (so none exceeds 100%).
- **attempted / delivered / delivery rate**: outbound messages created in the period;
  delivered are those whose status is ``delivered`` or ``read``.
- **contact rate**: texted contacts with a delivered text of the group (``reached``).
- **reply rate**: texted contacts with an inbound message after the first outbound and
  before the period ends.
- **meeting rate**: texted contacts with a meeting booked or held after the first
  outbound: their current disposition is a meeting one and was set after it (smsync's
  write of it then, or the record's CRM modstamp then), or a linked opportunity entered a
  mapped stage at or past meeting held after it (within the pipeline window), or was
  created in that window and is at such a stage or counts as an opportunity. The funnel,
  the arms' meeting lift and the default play outcome use the same condition, so
  texted >= meeting >= opportunity >= won.
- **opt-out rate**: texted contacts whose texted number has an ``opted_out`` ledger entry
  within 7 days after one of the group's texts (the play's, by play). Entries from before
  any text (a CRM opt-out read at the first sync) are out by construction; numbers that
  opted out without a text in the 7 days before (strangers, people never texted; CRM
  entries aside) are ``inbound_only_opt_outs``, reported apart.
- **disposition mix**: texted contacts by their current disposition (``(none)`` if unset).
- **rep first response**: SLA timers *started* in the period (a reply that needed a
  person); the answer is the timer's met time (a person's text, or the follow-up task
  done) or, after a breach, the first person's text (outbox key ``manual:`` through smsync
  or ``rep:`` from the CRM); p50/p90 nearest-rank
  (rank ceil(p/100 * n)) in wall-clock seconds and in business seconds of the contact's
  team calendar. **SLA met %**: timers met by their due time over timers closed.
- **play conversion**: contacts whose state meets the play's outcome (its field condition
  or disposition, the record having changed after the anchor; a meeting as above without
  one); over the play's treated arm when it has a holdout, else its texted contacts.
  **Time to outcome**: from the first text of the play to the first CRM write of the
  outcome disposition after it, or to the record's CRM modstamp (field outcomes: an upper
  bound); a meeting's is the earlier of its disposition's first write and the pipeline's
  first meeting stage.
- **holdout lift**: per play, contacts with a decision in the period carrying ``holdout``
  (control) or ``holdout_treated`` (treated), anchored at their first such decision;
  conversion, reply and meeting rates of each arm; lift and its interval from
  `connector.report.lift`.
- **blocked-send reasons**: blocked decisions in the period, counted once per reason.
- **opt-out trend**: texted contacts by the UTC day of their first text, and of them those
  that opted out as above.

Grouping (``by``): ``play`` uses the message's or decision's play; a contact-level figure
(SLA timers) counts for every play the contact was messaged with in the period. ``team``,
``owner`` and ``segment`` (one segment key) use the contact's current ``contact_state``.
Rows without a value group under ``(none)``; groups may overlap for plays."""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from connector.domain.plays import Outcome
from connector.domain.sla import business_time_between
from connector.engine.owners import OWNER_NAME
from connector.ports import Connection
from connector.report.model import (
    ALL_KEY,
    GroupBy,
    GroupMetrics,
    Report,
    Scope,
    StageVelocity,
    TrendPoint,
)
from connector.report.play_outcomes import play_outcomes
from connector.report.variants import variant_section
from connector.store.report_figures import (
    answered_timers,
    blocked_reasons,
    contact_figures,
    disposition_mix,
    group_names,
    inbound_only_opt_outs,
    opt_out_trend,
    response_histogram,
    sends,
    sla_figures,
)
from connector.store.report_first_texts import first_outbound, first_outbound_by_group
from connector.store.report_pipeline import (
    MILESTONES,
    contact_pipeline,
    milestones,
    opportunity_figures,
)

__all__ = ["GroupBy", "Report", "Scope", "build_report"]


def _group(key: str, parts: dict[str, Any]) -> GroupMetrics:
    attempted, delivered = parts["sends"].get(key, (0, 0))
    contacts, reached, replied, meetings, opted = parts["contacts"].get(key, (0, 0, 0, 0, 0))
    closed, met = parts["sla"].get(key, (0, 0))
    pct = parts["pct"].get(key, {})
    biz = parts["biz"].get(key, {})
    opp, won, held = parts["pipeline"].get(key, (0, 0, 0))
    n_opps, n_won, n_closed, amount = parts["opps"].get(key, (0, 0, 0, 0.0))
    return GroupMetrics(
        key=key,
        name=parts["names"].get(key),
        attempted=attempted,
        delivered=delivered,
        contacts=contacts,
        reached=reached,
        replied=replied,
        meetings=meetings,
        opted_out=opted,
        sla_closed=closed,
        sla_met=met,
        response_p50_s=pct.get(50),
        response_p90_s=pct.get(90),
        response_business_p50_s=biz.get(50),
        response_business_p90_s=biz.get(90),
        opportunities=opp,
        won=won,
        meetings_held=held,
        opps_influenced=n_opps,
        opps_won=n_won,
        opps_closed=n_closed,
        amount_influenced=amount,
        dispositions=parts["mix"].get(key, {}),
        blocked=parts["blocked"].get(key, {}),
    )


def nearest_rank(values: Sequence[int], ps: Sequence[int] = (50, 90)) -> dict[int, int]:
    """The nearest-rank percentiles the store ranks in SQL, over values in Python."""
    ranked = sorted(values)
    n = len(ranked)
    return {p: ranked[(n * p + 99) // 100 - 1] for p in ps} if n else {}


# (team, started, answered) -> business seconds: one report reads each answered timer once
# per grouping (the totals, then the groups), so it computes each calendar span once
SpentCache = dict[tuple[str | None, datetime, datetime], int]


def business_percentiles(
    conn: Connection, scope: Scope, spent: SpentCache | None = None
) -> dict[str, dict[int, int]]:
    """Answered timers' response in business seconds of the contact's team calendar."""
    spent = {} if spent is None else spent
    values: dict[str, list[int]] = {}
    for group, team, started, answered in answered_timers(conn, scope):
        key = (team, started, answered)
        if key not in spent:
            took = business_time_between(started, answered, scope.calendar(team))
            spent[key] = int(took.total_seconds())
        values.setdefault(group, []).append(spent[key])
    return {k: nearest_rank(v) for k, v in values.items()}


def stage_velocity(conn: Connection, scope: Scope) -> list[StageVelocity]:
    """Median days from one mapped milestone to the next (created, meeting held,
    opportunity, won), over the influenced opportunities that reached both."""
    entered = milestones(conn, scope, first_outbound_by_group(replace(scope, by=None)))
    out = []
    for a, b in itertools.pairwise(MILESTONES):
        days = [
            (e[b] - e[a]).total_seconds() / 86400
            for e in entered
            if a in e and b in e and e[b] >= e[a]
        ]
        out.append(StageVelocity(a, b, statistics.median(days) if days else None, len(days)))
    return out


def _groups(conn: Connection, scope: Scope, spent: SpentCache) -> list[GroupMetrics]:
    counts, pct = sla_figures(conn, scope)
    parts: dict[str, Any] = {
        "sends": sends(conn, scope),
        "contacts": contact_figures(conn, scope),
        "sla": counts,
        "pct": pct,
        "biz": business_percentiles(conn, scope, spent),
        "mix": disposition_mix(conn, scope),
        "blocked": blocked_reasons(conn, scope),
        "names": group_names(conn, scope, OWNER_NAME),
        "pipeline": contact_pipeline(conn, scope, first_outbound_by_group(scope)),
        "opps": opportunity_figures(conn, scope, first_outbound_by_group(scope)),
    }
    keys: set[str] = set()
    for name in ("sends", "contacts", "sla", "pct", "mix", "blocked"):
        keys |= parts[name].keys()
    return [_group(k, parts) for k in sorted(keys)]


def build_report(
    conn: Connection, scope: Scope, outcomes: Mapping[str, Outcome] | None = None
) -> Report:
    """Every figure of the report, for one period and grouping."""
    outcomes = outcomes or {}
    with first_outbound(conn, scope):
        spent: SpentCache = {}
        totals = _groups(conn, replace(scope, by=None), spent)
        total = totals[0] if totals else GroupMetrics(key=ALL_KEY)
        return Report(
            scope=scope,
            total=total,
            groups=_groups(conn, scope, spent) if scope.by is not None else [],
            plays=play_outcomes(conn, scope, outcomes),
            opt_out_trend=[TrendPoint(*point) for point in opt_out_trend(conn, scope)],
            response_histogram=response_histogram(conn, scope),
            inbound_only_opt_outs=inbound_only_opt_outs(conn, scope),
            stage_velocity=stage_velocity(conn, scope),
            variants=variant_section(conn, scope),
        )

"""The report's figures, each one SQL aggregate over the store (SQLAlchemy Core).

Nothing here loops over data rows in Python: every query returns one row per group (or per
group and reason, disposition or day), and Python only arranges those rows.

Definitions (a period is ``since`` inclusive to ``until`` exclusive, both optional):

- **attempted / delivered / contact rate**: outbound messages created in the period;
  delivered are those whose status is ``delivered`` or ``read``; contact rate =
  delivered / attempted.
- **messaged contacts**: contacts (the message's CRM ref) with at least one outbound
  message in the period; their *first* outbound in the period anchors the rates below.
- **reply rate**: messaged contacts with an inbound message (tied to the same contact)
  after that first outbound and before the period ends, over messaged contacts.
- **disposition mix**: messaged contacts by their current disposition (``(none)`` if unset).
- **meeting rate**: messaged contacts whose current disposition is a meeting disposition
  (``confirmed`` or ``meeting_booked`` by default), over messaged contacts.
- **opt-out rate**: messaged contacts whose texted number has an ``opted_out`` consent
  ledger entry at or after their first outbound and before the period ends, over messaged
  contacts.
- **time to first response**: from the SLA timers, which the engine opens when an inbound
  text needs a person and meets on the first reply to it. Timers *started* in the period;
  response time = ``met - started`` in whole seconds, over met timers; p50 and p90 are
  nearest-rank percentiles (the value at rank ceil(p/100 * n)). **SLA met %** = timers met
  no later than their due time, over timers closed (met or breached); open ones are left out.
- **outcome conversion of a play**: contacts messaged with the play in the period whose
  current state meets the play's outcome (its field condition on the contact's canonical
  fields or segments, or its disposition), over those contacts. A play without a known
  outcome uses the meeting dispositions. **Time to outcome**: from the first outbound of the
  play to the first CRM write of the outcome disposition after it (disposition outcomes), or
  to the record's CRM modstamp (field outcomes: the connector keeps no field history, so
  this is the time of the last change, an upper bound); p50 and p90 as above.
- **holdout lift**: per play, contacts with a decision in the period carrying ``holdout``
  (the control arm) or ``holdout_treated`` (the exposed arm); outcome rate of each arm as
  above; lift and its interval from `connector.report.lift`.
- **blocked-send reasons**: blocked decisions in the period, counted once per reason.
- **opt-out trend**: per UTC day, ``opted_out`` ledger entries (distinct numbers) and
  outbound messages created; rate = opt-outs / messages.

Grouping (``by``): ``play`` uses the message's or decision's play; a contact-level figure
(SLA timers) counts for every play the contact was messaged with in the period. ``team``,
``owner`` and ``segment`` (one segment key) use the contact's current ``contact_state``.
Rows without a value group under ``(none)``; groups may overlap for plays."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import sqlalchemy as sa

from connector.domain.plays import Outcome
from connector.report.figures import (
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
from connector.report.model import ALL_KEY, GroupBy, GroupMetrics, Report, Scope
from connector.report.play_outcomes import play_outcomes
from connector.report.sql import first_outbound

__all__ = ["GroupBy", "Report", "Scope", "build_report"]


def _group(key: str, parts: dict[str, Any]) -> GroupMetrics:
    attempted, delivered = parts["sends"].get(key, (0, 0))
    contacts, reached, replied, meetings, opted = parts["contacts"].get(key, (0, 0, 0, 0, 0))
    closed, met = parts["sla"].get(key, (0, 0))
    pct = parts["pct"].get(key, {})
    biz = parts["biz"].get(key, {})
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
        dispositions=parts["mix"].get(key, {}),
        blocked=parts["blocked"].get(key, {}),
    )


def _groups(conn: sa.Connection, scope: Scope) -> list[GroupMetrics]:
    counts, pct, biz = sla_figures(conn, scope)
    parts: dict[str, Any] = {
        "sends": sends(conn, scope),
        "contacts": contact_figures(conn, scope),
        "sla": counts,
        "pct": pct,
        "biz": biz,
        "mix": disposition_mix(conn, scope),
        "blocked": blocked_reasons(conn, scope),
        "names": group_names(conn, scope),
    }
    keys: set[str] = set()
    for name in ("sends", "contacts", "sla", "pct", "mix", "blocked"):
        keys |= parts[name].keys()
    return [_group(k, parts) for k in sorted(keys)]


def build_report(
    conn: sa.Connection, scope: Scope, outcomes: Mapping[str, Outcome] | None = None
) -> Report:
    """Every figure of the report, for one period and grouping."""
    outcomes = outcomes or {}
    with first_outbound(conn, scope):
        totals = _groups(conn, replace(scope, by=None))
        total = totals[0] if totals else GroupMetrics(key=ALL_KEY)
        return Report(
            scope=scope,
            total=total,
            groups=_groups(conn, scope) if scope.by is not None else [],
            plays=play_outcomes(conn, scope, outcomes),
            opt_out_trend=opt_out_trend(conn, scope),
            response_histogram=response_histogram(conn, scope),
            inbound_only_opt_outs=inbound_only_opt_outs(conn, scope),
        )

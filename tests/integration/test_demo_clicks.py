"""Issue 20 part 5, the clicks half: in the demo's day, texted prospects open the pricing
link through the sidecar's real `GET /l/{token}`, a link previewer fetches one and is not
counted, and each person's click becomes its activity and (the link is high intent) the
owner's follow-up task in the CRM."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from connector.demo.runner import run_demo
from connector.store import SqlStore, links
from connector.store import tables as tb


def test_the_demo_day_has_counted_clicks_a_previewer_and_click_tasks(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    summary = run_demo("hubspot", 60, keep_db=db)
    store = SqlStore.from_url(f"sqlite:///{db}")
    try:
        with store.begin() as conn:
            counts = links.counts(conn)
            t = tb.crm_outbox
            written = conn.execute(
                sa.select(t.c.kind, t.c.external_id).where(
                    t.c.external_id.like("%click:%"), t.c.state == "done"
                )
            ).all()
    finally:
        store.close()
    assert summary.link_clicks == counts["counted"] > 0
    assert counts["previewer"] == 1
    activities = sorted(e for k, e in written if k == "activity")
    tasks = sorted(e for k, e in written if k == "task" and e.endswith(":follow_up"))
    assert len(activities) == summary.link_clicks
    assert tasks == [f"task:{a}:follow_up" for a in activities]
    # nobody plays a rep in the demo: a click's task breaches its SLA like a reply's
    escalated = [e for k, e in written if e.endswith(":sla_escalation")]
    assert set(escalated) <= {f"task:{a}:sla_escalation" for a in activities}
    assert summary.duplicate_crm_records == 0
    assert summary.missing_crm_records == 0

"""The HubSpot adapter pulls the pipeline from the sandbox over HTTP: every seeded deal
with its v4 contact associations and `dealstage` history (propertiesWithHistory) into the
store; a resume from the cursor brings only deals changed since."""

from __future__ import annotations

import sqlalchemy as sa
from hubspot.crm.deals import SimplePublicObjectInput

from connector.ports import Cursor
from connector.sandbox.seed import generate
from connector.sandbox.server import Sandbox
from connector.store import SqlStore
from connector.store import pipeline as pipeline_store
from connector.store import tables as tb
from tests.integration.hubspot_kit import fresh_account, sb
from tests.integration.sandbox.hubspot_fixtures import client

__all__ = ["sb"]  # pytest fixtures


def _pull(store: SqlStore, crm: object, since: Cursor | None) -> tuple[int, Cursor | None]:
    n, cursor = 0, since
    for batch in crm.pull_pipeline(since):  # type: ignore[attr-defined]
        with store.begin() as conn:
            n += pipeline_store.apply(conn, batch, batch.opportunities[0].modstamp)
        cursor = batch.cursor
    return n, cursor


def test_pull_stores_deals_contacts_and_stage_history(sb: Sandbox, store: SqlStore) -> None:
    account = fresh_account(sb, contacts=0)
    data = generate(120, seed=5, deal_share=0.5)
    account.emulator.seed(data)
    assert len(data.deals) >= 20
    crm = account.adapter()
    n, cursor = _pull(store, crm, None)
    assert n == len(data.deals)
    with store.begin() as conn:
        stored = conn.execute(sa.select(tb.opportunities)).all()
        links = conn.execute(sa.select(tb.opportunity_contacts)).all()
        stages = conn.execute(sa.select(tb.opportunity_stages)).all()
    assert {o.crm_object_type for o in stored} == {"deals"}
    assert len(links) == sum(len(d.contacts) for d in data.deals)
    assert {link.contact_type for link in links} == {"contacts"}
    assert len(stages) == sum(len(d.stages) for d in data.deals)
    won = [o for o in stored if o.stage == "closedwon"]
    assert all(o.is_won and o.is_closed for o in won)
    # nothing changed: nothing comes back; a deal moved on comes back alone
    sb.state.clock.advance(60)
    assert _pull(store, crm, cursor)[0] == 0
    moved = next(o.crm_id for o in stored if not o.is_closed)
    client(sb).crm.deals.basic_api.update(
        moved, SimplePublicObjectInput(properties={"dealstage": "closedwon"})
    )
    again, _ = _pull(store, crm, cursor)
    assert again == 1
    with store.begin() as conn:
        entered = set(
            conn.execute(
                sa.select(tb.opportunity_stages.c.stage).where(
                    tb.opportunity_stages.c.opportunity_id == moved
                )
            ).scalars()
        )
    assert "closedwon" in entered

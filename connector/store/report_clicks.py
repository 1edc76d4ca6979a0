"""Clicks for `smsync report`, read from the store: per play, the texts sent in the period
that carried a tracked link, the contacts they went to, the contacts who clicked one of
them (a counted click, before the period ends: previewers and clicks within a second of
delivery are stored flagged and never count), and the fetches that were not counted.
`connector/report/` assembles and shows these; nothing here formats them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from connector.store.report_scope import Scope
from connector.store.tables import link_clicks as c
from connector.store.tables import tracked_links as t

COUNTED = "counted"


@dataclass(frozen=True, slots=True)
class PlayClicks:
    play: str
    texts_with_links: int  # texts sent in the period carrying at least one tracked link
    contacts_with_links: int  # the contacts those texts went to
    contacts_clicked: int  # of those, contacts with a counted click on one of them
    not_counted: int  # previewer and too-fast fetches, one per link and kind

    @property
    def click_rate(self) -> float | None:
        """Contacts who clicked over texted contacts with a link; None when none had one."""
        return (
            self.contacts_clicked / self.contacts_with_links if self.contacts_with_links else None
        )


def counted_click(scope: Scope, link: Any) -> Any:
    """A counted click on tracked link `link` before the period ends."""
    return (
        sa.exists()
        .where(c.c.link_id == link.c.id, c.c.flag == COUNTED, *scope.before_end(c.c.at))
        .correlate(link)
    )


def clicks_by_play(conn: sa.Connection, scope: Scope) -> dict[str, PlayClicks]:
    """Per play, for links made (texts sent) in the period."""
    made = [*scope.clip(t.c.created_at), t.c.play.is_not(None), t.c.contact_id.is_not(None)]
    clicked = counted_click(scope, t)
    per_contact = (
        sa.select(
            t.c.play,
            sa.func.count(sa.distinct(t.c.outbox_id)).label("texts"),
            sa.func.max(sa.case((clicked, 1), else_=0)).label("clicked"),
        )
        .where(*made)
        .group_by(t.c.play, t.c.contact_type, t.c.contact_id)
        .subquery("per_contact")
    )
    p = per_contact
    rows = conn.execute(
        sa.select(
            p.c.play,
            sa.func.sum(p.c.texts),
            sa.func.count(),
            sa.func.sum(p.c.clicked),
        ).group_by(p.c.play)
    ).all()
    other: dict[str, int] = {
        str(play): int(n)
        for play, n in conn.execute(
            sa.select(t.c.play, sa.func.count())
            .select_from(t.join(c, c.c.link_id == t.c.id))
            .where(*made, c.c.flag != COUNTED, *scope.before_end(c.c.at))
            .group_by(t.c.play)
        )
    }
    return {
        str(play): PlayClicks(str(play), int(texts), int(people), int(hit), other.get(str(play), 0))
        for play, texts, people, hit in rows
    }

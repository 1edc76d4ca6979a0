"""Clicks for `smsync report`, read from the store: per play, the texts that carried a
tracked link, how many of them a person clicked (counted clicks only), the people who
clicked, and the fetches that were not counted (previewers, clicks within a second of
delivery). `connector/report/` may show these; nothing here formats them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from connector.store.tables import link_clicks as c
from connector.store.tables import tracked_links as t

COUNTED = "counted"


@dataclass(frozen=True, slots=True)
class PlayClicks:
    play: str
    texts_with_links: int  # texts sent in the period carrying at least one tracked link
    texts_clicked: int  # of those, texts a person clicked (any of its links)
    people_clicked: int  # distinct records with a counted click
    not_counted: int  # previewer and too-fast fetches, one per link and kind

    @property
    def click_rate(self) -> float | None:
        """Clicked texts over texts with links; None when no text carried a link."""
        return self.texts_clicked / self.texts_with_links if self.texts_with_links else None


def clicks_by_play(conn: sa.Connection, since: datetime, until: datetime) -> list[PlayClicks]:
    """Per play, for links made (texts sent) in [since, until), by play name."""
    in_period = sa.and_(t.c.created_at >= since, t.c.created_at < until, t.c.play.is_not(None))
    texts: dict[str, int] = {
        str(play): int(n)
        for play, n in conn.execute(
            sa.select(t.c.play, sa.func.count(sa.distinct(t.c.outbox_id)))
            .where(in_period)
            .group_by(t.c.play)
        )
    }
    joined = t.join(c, c.c.link_id == t.c.id)
    counted = {
        row.play: (int(row.texts), int(row.people))
        for row in conn.execute(
            sa.select(
                t.c.play,
                sa.func.count(sa.distinct(t.c.outbox_id)).label("texts"),
                sa.func.count(sa.distinct(t.c.contact_type + "/" + t.c.contact_id)).label("people"),
            )
            .select_from(joined)
            .where(in_period, c.c.flag == COUNTED)
            .group_by(t.c.play)
        )
    }
    other: dict[str, int] = {
        str(play): int(n)
        for play, n in conn.execute(
            sa.select(t.c.play, sa.func.count())
            .select_from(joined)
            .where(in_period, c.c.flag != COUNTED)
            .group_by(t.c.play)
        )
    }
    return [
        PlayClicks(
            play=play,
            texts_with_links=n,
            texts_clicked=counted.get(play, (0, 0))[0],
            people_clicked=counted.get(play, (0, 0))[1],
            not_counted=other.get(play, 0),
        )
        for play, n in sorted(texts.items())
    ]

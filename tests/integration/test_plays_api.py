"""`POST /api/send` in-process: the bearer token, and the same chokepoint as the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import anyio.from_thread
import httpx
import pytest
from starlette.types import ASGIApp

from connector.config import load_plays, to_policy
from connector.store import SqlStore
from connector.store import tables as tb
from tests.integration.api_kit import GONE, LEAD, ROOT, TOKEN, Fixed, api_app, count, seed


class Client:
    """A synchronous face on httpx's in-process ASGI transport."""

    def __init__(self, app: ASGIApp, portal: anyio.from_thread.BlockingPortal) -> None:
        self.portal = portal
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        )

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        reply: httpx.Response = self.portal.call(partial(self.http.post, path, **kwargs))
        return reply


@contextmanager
def _client(store: SqlStore, token: str | None) -> Iterator[Client]:
    app = api_app(store, api_token=token) if token else api_app(store)
    with anyio.from_thread.start_blocking_portal() as portal:
        client = Client(app, portal)
        try:
            yield client
        finally:
            portal.call(client.http.aclose)


@pytest.fixture
def people(store: SqlStore) -> SqlStore:
    return seed(store)


def _rows(store: SqlStore) -> int:
    return count(store, tb.sms_outbox)


REQUEST = {"contact": LEAD.id, "play": "meeting_confirmation", "idempotency_key": "r-1"}


def test_no_token_wrong_token_or_none_configured_is_401(people: SqlStore) -> None:
    with _client(people, TOKEN) as client:
        assert client.post("/api/send", json=REQUEST).status_code == 401
        wrong = client.post("/api/send", json=REQUEST, headers={"Authorization": "Bearer no"})
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"].startswith("Bearer")
    with _client(people, None) as client:
        unset = client.post("/api/send", json=REQUEST, headers={"Authorization": f"Bearer {TOKEN}"})
    assert unset.status_code == 401
    assert _rows(people) == 0


def test_an_allowed_send_is_queued_once_per_idempotency_key(people: SqlStore) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with _client(people, TOKEN) as client:
        first = client.post("/api/send", json=REQUEST, headers=auth)
        again = client.post("/api/send", json=REQUEST, headers=auth)
    assert first.status_code == 200, first.text
    assert first.json()["verdict"] == "allow"
    assert first.json()["queued"] is True
    # a repeat of the key is answered the first request's answer, not a second decision
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert _rows(people) == 1


def test_an_opted_out_contact_is_blocked_by_the_chokepoint(people: SqlStore) -> None:
    with _client(people, TOKEN) as client:
        r = client.post(
            "/api/send",
            json={"contact": GONE.id, "play": "meeting_confirmation", "body": "hello"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    assert r.status_code == 409
    assert [x["code"] for x in r.json()["reasons"]] == ["opted_out"]
    assert _rows(people) == 0


def test_bad_requests_are_400_and_unknown_contacts_404(people: SqlStore) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with _client(people, TOKEN) as client:
        assert client.post("/api/send", content=b"{", headers=auth).status_code == 400
        assert client.post("/api/send", json={"play": "x"}, headers=auth).status_code == 400
        unknown = client.post("/api/send", json={**REQUEST, "play": "nope"}, headers=auth)
        missing = client.post("/api/send", json={**REQUEST, "contact": "00Q404"}, headers=auth)
    assert unknown.status_code == 400
    assert missing.status_code == 404
    assert _rows(people) == 0


def test_a_manual_text_over_the_limit_is_blocked_and_explained(people: SqlStore) -> None:
    """`smsync send --body` with 15,000 characters: blocked at the chokepoint with the
    limit in the reason, nothing queued, and `smsync explain` shows why."""
    from connector.engine.explain import explain
    from connector.engine.manual import manual_send

    policy = to_policy(load_plays(ROOT / "tests" / "data" / "plays" / "scenario.yaml"))
    result = manual_send(
        people,
        None,
        Fixed(),
        policy,
        contact_id=LEAD.id,
        play="meeting_confirmation",
        body="x" * 15_000,
    )
    assert result.verdict.value == "block"
    assert [r.code for r in result.reasons] == ["body_too_long"]
    assert _rows(people) == 0
    with people.begin() as conn:
        shown = explain(conn, LEAD.id)
    [reason] = shown.as_json()["decisions"][0]["reasons"]  # type: ignore[index]
    assert reason["code"] == "body_too_long"
    assert reason["detail"] == "15,000 characters; the limit is 1,600"
    assert "1,600" in reason["meaning"]
    assert any("body_too_long: 15,000 characters" in line for line in shown.lines())

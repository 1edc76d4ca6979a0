"""The sidecar's app behind a real uvicorn, on SQLite and Postgres: a signed webhook with
a number no column can hold is a 400 (it was a 500 with a raw traceback, and on Postgres
the next request on the connection was reset), and a database error inside a request is
a 500 with an error id that leaves uvicorn silent and the next request on the same
keep-alive connection, and the database connection, working."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
import requests
import sqlalchemy as sa
from structlog.testing import capture_logs
from twilio.request_validator import RequestValidator

from connector import logs
from connector.config import Settings
from connector.runtime.app import build_app
from connector.runtime.readiness import Readiness
from connector.runtime.webhooks import webhook_routes
from connector.store import SqlStore
from tests.serve_kit import Served

TOKEN = secrets.token_hex(16)
PUBLIC = "https://sms.example.com"
INBOUND = "/webhooks/twilio/inbound"
STATUS = "/webhooks/twilio/status"
PHONE = "+14155552671"
TEXT = "call me about the quote"


def signed(path: str, params: dict[str, str]) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(PUBLIC + path, params)}


@pytest.fixture
def served(store: SqlStore) -> Iterator[tuple[str, requests.Session]]:
    cfg = Settings(TWILIO_AUTH_TOKEN=TOKEN, public_base_url=PUBLIC)
    app = build_app(Readiness({}), webhooks=webhook_routes(cfg, store))
    with Served(app) as server:
        session = requests.Session()  # one keep-alive connection for the whole test
        session.trust_env = False
        yield server.url, session
        session.close()


def inbound(sid: str) -> dict[str, str]:
    return {"MessageSid": sid, "From": PHONE, "To": "+15005550006", "Body": TEXT}


def _post(served: tuple[str, requests.Session], path: str, params: dict[str, str]) -> int:
    base, session = served
    return session.post(
        base + path, data=params, headers=signed(path, params), timeout=10
    ).status_code


@pytest.mark.parametrize("code", ["1" * 30, str(2**40)])
def test_an_error_code_no_column_holds_is_400_and_the_connection_lives_on(
    served: tuple[str, requests.Session], capfd: pytest.CaptureFixture[str], code: str
) -> None:
    base, session = served
    params = {"MessageSid": "SM" + secrets.token_hex(16), "MessageStatus": "failed"}
    params["ErrorCode"] = code
    params["To"] = PHONE
    reply = session.post(base + STATUS, data=params, headers=signed(STATUS, params), timeout=10)
    assert reply.status_code == 400
    assert "ErrorCode" in reply.text
    assert _post(served, INBOUND, inbound("SM" + secrets.token_hex(16))) == 200
    err = capfd.readouterr().err
    assert "Traceback" not in err
    assert PHONE not in err


def test_a_database_error_is_a_500_with_an_error_id_and_poisons_nothing(
    served: tuple[str, requests.Session],
    store: SqlStore,
    capfd: pytest.CaptureFixture[str],
) -> None:
    base, session = served
    with store.begin() as conn:
        conn.execute(sa.text("ALTER TABLE inbox RENAME TO inbox_away"))
    params = inbound("SM" + secrets.token_hex(16))
    try:
        with capture_logs(processors=[logs.redact]) as events:
            reply = session.post(
                base + INBOUND, data=params, headers=signed(INBOUND, params), timeout=10
            )
    finally:
        with store.begin() as conn:
            conn.execute(sa.text("ALTER TABLE inbox_away RENAME TO inbox"))
    assert reply.status_code == 500
    error_id = reply.json()["error_id"]
    [event] = [e for e in events if e["event"] == "http.unhandled"]
    assert event["error_id"] == error_id
    assert event["error"] == "ProgrammingError" or event["error"] == "OperationalError"
    flat = repr(events) + reply.text
    assert PHONE not in flat
    assert TEXT not in flat
    err = capfd.readouterr().err
    assert "Traceback" not in err
    assert "Exception in ASGI application" not in err
    # the same HTTP connection, the same pool: the next delivery of it is stored
    assert _post(served, INBOUND, params) == 200
    with store.begin() as conn:
        stored = conn.execute(sa.text("SELECT provider_id FROM inbox")).scalars().all()
    assert stored == [params["MessageSid"]]

"""`GET /admin` over real HTTP on the sidecar's app: off without SMSYNC_ADMIN_TOKEN, 401
and nothing rendered without the token, the pages with it (bearer or the login form's
session cookie), a retry button that requeues a failure (with its CSRF token), no whole
phone number in any page, and the pages rendered by headless Chromium with the network
blocked."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from connector.config import Settings
from connector.domain.model import (
    ConsentRecord,
    ConsentScope,
    ConsentSource,
    ConsentStatus,
    CrmRef,
    CrmWrite,
    Decision,
    Verdict,
)
from connector.ops.admin import admin_routes
from connector.runtime.app import build_app
from connector.runtime.readiness import Readiness
from connector.store import SqlStore, consent, crm_outbox, decisions, failure_ledger
from connector.store.tables import ops_actions
from tests.serve_kit import Served

TOKEN = "admin-token-0123456789"
PHONE = "+14155550123"
CHROMIUM = Path("/usr/bin/chromium")
T0 = datetime.now(UTC) - timedelta(hours=1)


def seeded(store: SqlStore) -> None:
    with store.begin() as conn:
        w = CrmWrite("activity", "sms:SMdead", CrmRef("Contact", "003A"), {"body": f"call {PHONE}"})
        crm_outbox.enqueue(conn, w, T0)
        row = crm_outbox.get(conn, "sms:SMdead")
        assert row is not None
        crm_outbox.bury(conn, row.id, "refused", T0)
        failure_ledger.record_failure(
            conn, "crm", "sms:SMdead", reason_code="INVALID_FIELD", message=f"bad {PHONE}", now=T0
        )
        consent.append(
            conn,
            ConsentRecord(
                PHONE,
                ConsentStatus.OPTED_OUT,
                ConsentScope.SENDER,
                ConsentSource.KEYWORD,
                T0,
                "SMstop",
                f"STOP from {PHONE}",
            ),
            T0,
        )
        decisions.append(conn, Decision(Verdict.BLOCK, ("opted_out",)), T0, phone=PHONE, play="p1")


@pytest.fixture
def served(store: SqlStore) -> Iterator[Served]:
    seeded(store)
    settings = Settings.model_validate({"admin_token": TOKEN})
    app = build_app(Readiness({}), webhooks=admin_routes(settings, store))
    with Served(app) as s:
        yield s


def assert_no_number(page: str) -> None:
    assert PHONE not in page
    assert not re.search(r"415\D?555\D?0123", page)


def test_off_by_default(store: SqlStore) -> None:
    assert admin_routes(Settings(), store) == []
    with Served(build_app(Readiness({}), webhooks=admin_routes(Settings(), store))) as s:
        assert requests.get(f"{s.url}/admin", timeout=10).status_code == 404


def test_without_the_token_401_and_nothing_rendered(served: Served) -> None:
    for headers, cookies in (
        ({}, {}),
        ({"Authorization": "Bearer wrong"}, {}),
        ({}, {"smsync_admin": "1.forged"}),
    ):
        reply = requests.get(f"{served.url}/admin", headers=headers, cookies=cookies, timeout=10)
        assert reply.status_code == 401
        assert "<" not in reply.text
        assert "INVALID_FIELD" not in reply.text
    post = requests.post(f"{served.url}/admin/failures/retry", data={"id": "crm-1"}, timeout=10)
    assert post.status_code == 401
    wrong = requests.post(f"{served.url}/admin/login", data={"token": "nope"}, timeout=10)
    assert wrong.status_code == 401
    assert "smsync_admin" not in wrong.cookies


def test_login_then_a_retry_button_requeues_the_failure(served: Served, store: SqlStore) -> None:
    browser = requests.Session()
    login = browser.post(f"{served.url}/admin/login", data={"token": TOKEN}, timeout=10)
    assert login.status_code == 200  # followed the 303 to /admin
    page = login.text
    assert "INVALID_FIELD" in page
    assert "Content-Security-Policy" in login.headers
    assert_no_number(page)
    form = re.search(
        r'<form class="inline" method="post" action="/admin/failures/retry">'
        r'<input type="hidden" name="csrf" value="([0-9a-f]+)">'
        r'<input type="hidden" name="id" value="(crm-\d+)">',
        page,
    )
    assert form is not None
    csrf, failure = form.groups()
    forged = browser.post(
        f"{served.url}/admin/failures/retry", data={"id": failure, "csrf": "0" * 64}, timeout=10
    )
    assert forged.status_code == 403
    with store.begin() as conn:
        row = crm_outbox.get(conn, "sms:SMdead")
        assert row is not None
        assert row.state == "dead"
    done = browser.post(
        f"{served.url}/admin/failures/retry", data={"id": failure, "csrf": csrf}, timeout=10
    )
    assert done.status_code == 200
    with store.begin() as conn:
        row = crm_outbox.get(conn, "sms:SMdead")
        assert row is not None
        assert (row.state, row.attempts) == ("pending", 0)
    contact = browser.get(f"{served.url}/admin/contact", params={"phone": PHONE}, timeout=10)
    assert contact.status_code == 200
    assert "opted_out" in contact.text
    assert "SMstop" in contact.text
    assert "+1415***0123" in contact.text
    assert_no_number(contact.text)


def _chromium(url_or_file: str, shot: Path) -> str:
    browser = shutil.which(str(CHROMIUM)) or str(CHROMIUM)
    blocked = ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
    common = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    result = subprocess.run(
        [
            browser,
            *common,
            *blocked,
            "--window-size=1200,1400",
            f"--screenshot={shot}",
            url_or_file,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    dom = subprocess.run(
        [browser, *common, *blocked, "--dump-dom", url_or_file],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert dom.returncode == 0, dom.stderr
    return dom.stdout


def test_the_pages_render_in_headless_chromium_with_the_network_blocked(
    served: Served, tmp_path: Path
) -> None:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI; apt-get install chromium")
        pytest.skip("no /usr/bin/chromium (apt-get install chromium)")
    # the login form straight from the sidecar; the authenticated pages as the browser
    # receives them with the bearer (Chromium has no flag to send a header)
    login_dom = _chromium(f"{served.url}/admin/login", tmp_path / "login.png")
    assert 'name="token"' in login_dom
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    for name, path in (("home", "/admin"), ("contact", "/admin/contact?phone=%2B14155550123")):
        reply = requests.get(f"{served.url}{path}", headers=bearer, timeout=10)
        assert reply.status_code == 200
        page = tmp_path / f"{name}.html"
        page.write_text(reply.text, encoding="utf-8")
        dom = _chromium(page.as_uri(), tmp_path / f"{name}.png")
        assert "smsync admin" in dom
        assert "<script" not in reply.text
        assert not re.search(r"\b(src|href)\s*=", reply.text)
        assert_no_number(dom)
    assert (tmp_path / "home.png").stat().st_size > 10_000  # a page was drawn


def test_the_admin_acts_on_the_sidecars_clock(store: SqlStore) -> None:
    """A retry from the page is recorded at the sidecar's time (the sandbox's when it
    follows one), as `smsync failures retry` is: the audit agrees with the store."""
    seeded(store)
    at = T0 + timedelta(minutes=5)
    settings = Settings.model_validate({"admin_token": TOKEN})
    app = build_app(Readiness({}), webhooks=admin_routes(settings, store, clock=Fixed(at)))
    with Served(app) as served:
        browser = requests.Session()
        page = browser.post(f"{served.url}/admin/login", data={"token": TOKEN}, timeout=10).text
        form = re.search(r'name="csrf" value="([0-9a-f]+)">.*?name="id" value="(crm-\d+)"', page)
        assert form is not None
        csrf, failure = form.groups()
        done = browser.post(
            f"{served.url}/admin/failures/retry", data={"id": failure, "csrf": csrf}, timeout=10
        )
        assert done.status_code == 200
    with store.begin() as conn:
        recorded = conn.execute(sa.select(ops_actions.c.at)).scalar_one()
    assert recorded == at


class Fixed:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

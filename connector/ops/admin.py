"""`GET /admin` on the sidecar: status, failures with retry buttons, a contact's decisions
and consent history. Off unless SMSYNC_ADMIN_TOKEN is set (the routes do not exist).

Access is the token as a bearer (`Authorization: Bearer ...`) or a session cookie set by
the login form (`/admin/login`): HttpOnly, SameSite=Strict, an HMAC of its issue time under
the token, valid for `SESSION_S`. Without either, 401 and nothing rendered. A retry is a
POST carrying a CSRF token (an HMAC of the session under the token); bearer callers are not
a browser, so they need none. Retries are recorded like `smsync failures retry`."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import anyio
import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from connector.config import Settings
from connector.domain.phones import InvalidPhoneNumber, to_e164
from connector.ops import admin_html as view
from connector.ops.consent_audit import show
from connector.ops.failure_actions import ActionError, retry
from connector.ops.failures import FailureIdError, list_failures, parse_id
from connector.ops.status import Thresholds, build
from connector.ports import Clock, Store
from connector.store.tables import decision_log

COOKIE = "smsync_admin"
SESSION_S = 8 * 3600
_HEADERS = {"Content-Security-Policy": view.CSP, "Cache-Control": "no-store"}


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form (the only kind these pages post), without python-multipart."""
    fields = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=20)
    return {k: v[0] for k, v in fields.items()}


def _sign(token: str, message: str) -> str:
    return hmac.new(token.encode(), message.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Admin:
    settings: Settings
    store: Store
    token: str
    now: Callable[[], float] = time.time  # sessions: wall seconds
    clock: Clock | None = None  # the store's times (the sandbox's with its clock URL)

    def _at(self) -> datetime:
        return self.clock.now() if self.clock is not None else datetime.now(UTC)

    # -- who is asking ------------------------------------------------------------------
    def session(self) -> str:
        issued = str(int(self.now()))
        return f"{issued}.{_sign(self.token, 'session:' + issued)}"

    def _valid_session(self, value: str | None) -> bool:
        issued, _, mac = (value or "").partition(".")
        if not issued.isdigit() or not hmac.compare_digest(
            mac, _sign(self.token, "session:" + issued)
        ):
            return False
        return 0 <= self.now() - int(issued) <= SESSION_S

    def _bearer(self, request: Request) -> bool:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), self.token)

    def csrf(self, request: Request) -> str:
        return _sign(self.token, "csrf:" + (request.cookies.get(COOKIE) or "bearer"))

    def allowed(self, request: Request) -> bool:
        return self._bearer(request) or self._valid_session(request.cookies.get(COOKIE))

    # -- pages -----------------------------------------------------------------------------
    def _home(self, csrf: str) -> str:
        s = self.settings
        thresholds = Thresholds(
            s.alert_writeback_lag_s, s.alert_job_failures, s.alert_api_budget_pct
        )
        with self.store.begin() as conn:
            status = build(conn, self._at(), thresholds)
            failures = [f.as_json() for f in list_failures(conn)]
        return view.page(
            "smsync admin",
            view.status_html(status) + view.failures_html(failures, csrf) + view.contact_form(),
        )

    def _contact(self, phone: str) -> str:
        d = decision_log.c
        with self.store.begin() as conn:
            consent = show(conn, phone)
            rows = conn.execute(
                sa.select(decision_log).where(d.phone == phone).order_by(d.at.desc(), d.id.desc())
            ).all()
        decisions: list[dict[str, Any]] = [
            {"at": r.at.isoformat(), "verdict": r.verdict, "reasons": r.reasons, "play": r.play}
            for r in rows
        ]
        return view.page(
            "smsync admin: contact", view.contact_form() + view.contact_html(consent, decisions)
        )

    # -- endpoints ------------------------------------------------------------------------
    def guard(
        self, handler: Callable[[Request], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def guarded(request: Request) -> Response:
            if not self.allowed(request):
                return PlainTextResponse(
                    "401 unauthorized: log in at /admin/login or send the admin bearer token",
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="smsync-admin"', **_HEADERS},
                )
            return await handler(request)

        return guarded

    async def home(self, request: Request) -> Response:
        body = await anyio.to_thread.run_sync(self._home, self.csrf(request))
        return HTMLResponse(body, headers=_HEADERS)

    async def contact(self, request: Request) -> Response:
        raw = request.query_params.get("phone", "")
        try:
            phone = to_e164(raw)
        except InvalidPhoneNumber as exc:
            page = view.page("smsync admin: contact", view.contact_form(str(exc)))
            return HTMLResponse(page, status_code=400, headers=_HEADERS)
        return HTMLResponse(await anyio.to_thread.run_sync(self._contact, phone), headers=_HEADERS)

    async def retry_failure(self, request: Request) -> Response:
        form = await _form(request)
        given = form.get("csrf", "")
        if not self._bearer(request) and not hmac.compare_digest(given, self.csrf(request)):
            return PlainTextResponse(
                "403 bad or missing CSRF token", status_code=403, headers=_HEADERS
            )
        try:
            target = parse_id(form.get("id", ""))
        except FailureIdError as exc:
            return PlainTextResponse(f"400 {exc}", status_code=400, headers=_HEADERS)

        def act() -> None:
            with self.store.begin() as conn:
                retry(conn, [target], "admin-page", self._at())

        try:
            await anyio.to_thread.run_sync(act)
        except ActionError as exc:
            return PlainTextResponse(f"409 {exc}", status_code=409, headers=_HEADERS)
        return RedirectResponse("/admin", status_code=303, headers=_HEADERS)

    async def login_form(self, _request: Request) -> Response:
        return HTMLResponse(view.login_html(), headers=_HEADERS)

    async def login(self, request: Request) -> Response:
        form = await _form(request)
        if not hmac.compare_digest(form.get("token", ""), self.token):
            return HTMLResponse(view.login_html("wrong token"), status_code=401, headers=_HEADERS)
        reply = RedirectResponse("/admin", status_code=303, headers=_HEADERS)
        reply.set_cookie(
            COOKIE,
            self.session(),
            max_age=SESSION_S,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/admin",
        )
        return reply

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/admin", self.guard(self.home), methods=["GET"]),
            Route("/admin/contact", self.guard(self.contact), methods=["GET"]),
            Route("/admin/failures/retry", self.guard(self.retry_failure), methods=["POST"]),
            Route("/admin/login", self.login_form, methods=["GET"]),
            Route("/admin/login", self.login, methods=["POST"]),
        ]


def admin_routes(
    settings: Settings, store: Store, *, clock: Clock | None = None
) -> list[BaseRoute]:
    """The admin routes when SMSYNC_ADMIN_TOKEN is set; none otherwise (off by default)."""
    if settings.admin_token is None:
        return []
    token = settings.admin_token.get_secret_value()
    return Admin(settings, store, token, clock=clock).routes()

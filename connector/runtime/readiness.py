"""Readiness: can this replica do its work right now? The database answers, and the CRM and
Twilio accept our credentials.

Each check is a plain callable that raises when the answer is no. `Readiness` runs them,
remembers each answer for a few seconds (`SMSYNC_READY_CACHE_S`) so a busy prober cannot
spend the CRM's API budget, and reports which check failed and why, scrubbed of secrets.
A check that has not answered within `deadline_s` (5 s) counts as failed, so `/readyz`
answers in bounded time however slow a vendor is; its late answer still counts when it
comes. When a check passes again after failing, `on_recover(name)` runs: the jobs that
wait on that vendor resume at once (`registry.on_recover`).

The CRM and Twilio checks make one cheap authenticated read each (Salesforce `limits`,
HubSpot one contact, Twilio one message), with no retries: a probe must answer quickly,
and the prober itself retries. `smsync run` makes the same calls once before it migrates
or serves (`connector.runtime.startup`), so their errors name the variables to fix:
AuthError for a refusal, RetriableError for a vendor that is busy or down, ConfigError for
any other 4xx (a wrong base URL, say)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
import structlog

from connector.config import Settings, require
from connector.crm.salesforce.auth import SessionManager, credentials_hint
from connector.errors import AuthError, ConfigError, RetriableError
from connector.logs import register_secret, scrub_text
from connector.metrics import READY
from connector.ports import Clock, Store
from connector.retry import RetryPolicy
from connector.store import database

if TYPE_CHECKING:
    from connector.crm.hubspot.auth import TokenSource

log = structlog.get_logger(__name__)
Check = Callable[[], None]
TIMEOUT = (3.0, 5.0)
DEADLINE_S = 5.0  # the longest one check may hold up /readyz


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    ok: bool
    detail: str = ""


class _Run:
    """One check running on its own daemon thread (a hung vendor never holds up exit)."""

    def __init__(self, target: Callable[[], CheckResult]) -> None:
        self.result: CheckResult | None = None
        self.done = threading.Event()
        self._target = target
        threading.Thread(target=self._main, name="readiness-check", daemon=True).start()

    def _main(self) -> None:
        try:
            self.result = self._target()
        finally:
            self.done.set()


class Readiness:
    """Runs the injected checks; each answer is reused for `cache_s` seconds, and none
    is waited for longer than `deadline_s`."""

    def __init__(
        self,
        checks: Mapping[str, Check],
        *,
        cache_s: float = 5.0,
        deadline_s: float = DEADLINE_S,
        on_recover: Callable[[str], object] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.checks = dict(checks)
        self.cache_s = cache_s
        self.deadline_s = deadline_s
        self.on_recover = on_recover
        self._now = monotonic
        self._cache: dict[str, tuple[float, CheckResult]] = {}
        self._locks = {name: threading.Lock() for name in self.checks}
        self._record_lock = threading.Lock()
        self._running: dict[str, _Run] = {}

    def _one(self, name: str) -> CheckResult:
        with self._locks[name]:  # concurrent probes wait for one answer, not N calls
            cached = self._cache.get(name)
            if cached is not None and self._now() - cached[0] < self.cache_s:
                return cached[1]
            run = self._running.get(name)
            if run is None or run.done.is_set():  # else: the slow one is still out, wait on it
                run = _Run(lambda: self._call(name))
                self._running[name] = run
            if run.done.wait(self.deadline_s) and run.result is not None:
                return run.result
            late = CheckResult(
                name, ok=False, detail=f"TimeoutError: no answer within {self.deadline_s:g} s"
            )
            return self._record(name, late, unless_done=run)

    def _call(self, name: str) -> CheckResult:
        try:
            self.checks[name]()
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready", said why
            detail = scrub_text(str(exc).splitlines()[0] if str(exc) else "")
            result = CheckResult(name, ok=False, detail=f"{type(exc).__name__}: {detail}")
        else:
            result = CheckResult(name, ok=True)
        return self._record(name, result)

    def _record(
        self, name: str, result: CheckResult, unless_done: _Run | None = None
    ) -> CheckResult:
        """Cache the answer; a pass right after a failure fires `on_recover`."""
        with self._record_lock:
            answered = unless_done.result if unless_done and unless_done.done.is_set() else None
            if answered is not None:
                return answered  # it answered just now, after all
            before = self._cache.get(name)
            self._cache[name] = (self._now(), result)
        READY.labels(name).set(int(result.ok))
        if result.ok and before is not None and not before[1].ok and self.on_recover is not None:
            try:
                self.on_recover(name)
            except Exception:  # a failed hook must not fail the probe
                log.exception("readiness.recover_hook_failed", check=name)
        return result

    def run(self) -> list[CheckResult]:
        return [self._one(name) for name in self.checks]


def database_check(store: Store) -> Check:
    def check() -> None:
        with store.begin() as conn:
            database.ping(conn)

    return check


def _session(settings: Settings) -> requests.Session:
    http = requests.Session()
    http.trust_env = False  # a CA bundle from the environment must not override ours
    http.verify = str(settings.ca_file) if settings.ca_file else True
    return http


def _answer(vendor: str, response: requests.Response, fix: str) -> None:
    code = response.status_code
    if code in (401, 403):
        raise AuthError(f"{vendor} refused our credentials (HTTP {code}); {fix}")
    if code == 429 or code >= 500:
        raise RetriableError(f"{vendor} answered HTTP {code}: busy or down, try again later")
    if code >= 400:
        host = urlsplit(response.url).netloc
        raise ConfigError(f"{vendor} answered HTTP {code} at {host}; check its base URL")


def salesforce_check(settings: Settings, clock: Clock | None = None) -> Check:
    """A login (reused until refused) and one `limits` read with its token."""
    verify: str | bool = str(settings.ca_file) if settings.ca_file else True
    sessions = SessionManager(
        settings, verify=verify, policy=RetryPolicy(attempts=1, max_total_s=10.0), clock=clock
    )
    http = _session(settings)
    fix = credentials_hint(settings)

    def get(token: str, instance: str) -> requests.Response:
        url = f"{instance}/services/data/v{settings.sf_api_version}/limits"
        return http.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT)

    def check() -> None:
        login = sessions.current()
        response = get(login.access_token, login.instance_url)
        if response.status_code == 401:
            login = sessions.refresh(login)
            response = get(login.access_token, login.instance_url)
        _answer("Salesforce", response, fix)

    return check


def hubspot_check(settings: Settings, tokens: TokenSource | None = None) -> Check:
    """One contact read with the adapter's own token source (`tokens_from_settings`): a
    private-app token, or OAuth alone, refreshed once when HubSpot says it expired. Pass
    the adapter's instance, so a rotating refresh token is refreshed in one place."""
    from connector.crm.hubspot.client import HUBSPOT_AUTH, tokens_from_settings
    from connector.crm.hubspot.errors import classify, parse_body
    from connector.vendor_errors import Action

    source = tokens if tokens is not None else tokens_from_settings(settings)
    http = _session(settings)
    url = f"{settings.hubspot_base_url}/crm/v3/objects/contacts"

    def get(token: str) -> requests.Response:
        register_secret(token)
        headers = {"Authorization": f"Bearer {token}"}
        return http.get(url, params={"limit": 1}, headers=headers, timeout=TIMEOUT)

    def check() -> None:
        token = source.token()
        response = get(token)
        if response.status_code == 401:
            verdict = classify(401, parse_body(response.text), dict(response.headers))
            if verdict.action is Action.REFRESH_AUTH:
                response = get(source.refresh(token))
        _answer("HubSpot", response, f"check the token: {HUBSPOT_AUTH}")

    return check


def twilio_check(settings: Settings) -> Check:
    require(settings, "twilio_account_sid", "twilio_auth_token")
    sid, token = settings.twilio_account_sid, settings.twilio_auth_token
    assert sid is not None
    assert token is not None
    register_secret(token.get_secret_value())
    http = _session(settings)
    http.auth = (sid, token.get_secret_value())
    url = f"{settings.twilio_base_url}/2010-04-01/Accounts/{sid}/Messages.json"

    def check() -> None:
        _answer(
            "Twilio",
            http.get(url, params={"PageSize": 1}, timeout=TIMEOUT),
            "check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN",
        )

    return check


def vendor_checks(
    settings: Settings, *, hubspot_tokens: TokenSource | None = None, clock: Clock | None = None
) -> dict[str, Check]:
    """crm and sms: what `/readyz` and the start-up checks call."""
    crm = (
        salesforce_check(settings, clock)
        if settings.crm == "salesforce"
        else hubspot_check(settings, hubspot_tokens)
    )
    return {"crm": crm, "sms": twilio_check(settings)}


def standard_checks(
    settings: Settings,
    store: Store,
    *,
    hubspot_tokens: TokenSource | None = None,
    clock: Clock | None = None,
) -> dict[str, Check]:
    """database, crm and sms, as `/readyz` reports them."""
    return {
        "database": database_check(store),
        **vendor_checks(settings, hubspot_tokens=hubspot_tokens, clock=clock),
    }


def as_json(results: list[CheckResult]) -> dict[str, Any]:
    ok = all(r.ok for r in results)
    return {
        "status": "ok" if ok else "unavailable",
        "checks": {r.name: ("ok" if r.ok else r.detail) for r in results},
    }

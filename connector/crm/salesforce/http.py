"""Every REST call of the adapter goes through `SalesforceApi.call`: the session, the one
refresh on INVALID_SESSION_ID, bounded retries (from `connector.retry`), the error table
and the API-call metric live here and nowhere else."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any, TypeVar

import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceError

from connector.crm.salesforce.auth import TIMEOUT, Login, SessionManager
from connector.crm.salesforce.errors import connection_error, to_smsync_error
from connector.crm.salesforce.limits import ApiUsage
from connector.errors import AuthError, FatalError, RateLimitedError, SessionExpiredError
from connector.metrics import CRM_API_CALLS, CRM_RATE_LIMITED
from connector.retry import RetryPolicy, retrying

T = TypeVar("T")
CRM = "salesforce"


class SalesforceApi:
    """simple-salesforce clients bound to the current session, and the call discipline."""

    def __init__(
        self,
        sessions: SessionManager,
        http: requests.Session,
        usage: ApiUsage,
        *,
        version: str,
        verify: str | bool,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], Any] | None = None,
    ) -> None:
        self.sessions = sessions
        self.http = http
        self.usage = usage
        self.version = version
        self.verify = verify
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self._lock = threading.Lock()
        self._clients: dict[int, tuple[Login, Salesforce]] = {}

    def _client(self, login: Login) -> Salesforce:
        with self._lock:
            cached = self._clients.get(login.generation)
            if cached is not None and cached[0] == login:
                return cached[1]
            client = Salesforce(
                instance_url=login.instance_url,
                session_id=login.access_token,
                session=self.http,
                version=self.version,
            )
            self._clients = {login.generation: (login, client)}
            return client

    # the discipline ----------------------------------------------------------------------
    def call(
        self, operation: str, fn: Callable[[Salesforce], T], *, policy: RetryPolicy | None = None
    ) -> T:
        """`fn(client)` with bounded retries of transient failures; raises SmsyncError."""
        kwargs: dict[str, Any] = {"sleep": self.sleep} if self.sleep is not None else {}
        result: T = retrying(f"salesforce.{operation}", policy or self.policy, **kwargs)(
            self._with_session, operation, fn
        )
        return result

    def _with_session(self, operation: str, fn: Callable[[Salesforce], T]) -> T:
        login = self.sessions.current()
        try:
            return self._invoke(operation, fn, login)
        except SessionExpiredError:
            fresh = self.sessions.refresh(login)
        try:
            return self._invoke(operation, fn, fresh)
        except SessionExpiredError:
            raise AuthError(
                "Salesforce refused a session it had just issued (INVALID_SESSION_ID right after"
                " login); check the integration user's profile allows API access and the"
                " connected app's IP relaxation, then restart smsync"
            ) from None

    def _invoke(self, operation: str, fn: Callable[[Salesforce], T], login: Login) -> T:
        client = self._client(login)
        CRM_API_CALLS.labels(CRM).inc()
        error: Exception
        try:
            return fn(client)
        except SalesforceError as exc:
            error = to_smsync_error(exc, operation)
            if isinstance(error, RateLimitedError):  # the org shedding load, not the daily cap
                CRM_RATE_LIMITED.labels(CRM).inc()
        except requests.RequestException as exc:
            error = connection_error(exc, operation)
        # raised outside the handler: no __context__ pins the response (and its connection)
        raise error

    def _kw(self, headers: dict[str, str] | None = None) -> dict[str, Any]:
        # verify per request: REQUESTS_CA_BUNDLE would otherwise override the session's
        kw: dict[str, Any] = {"timeout": TIMEOUT, "verify": self.verify}
        if headers:
            kw["headers"] = headers
        return kw

    # calls -------------------------------------------------------------------------------
    def restful(
        self,
        operation: str,
        path: str,
        *,
        method: str = "GET",
        params: dict[str, Any] | None = None,
        json: Any = None,
        policy: RetryPolicy | None = None,
    ) -> Any:
        kw = self._kw()
        if json is not None:
            kw["json"] = json
        return self.call(
            operation,
            lambda sf: sf.restful(path, params=params, method=method, **kw),
            policy=policy,
        )

    def count(self, soql: str) -> int:
        """A `SELECT COUNT() ...` query's `totalSize`: one call, no rows."""
        kw = self._kw()
        page: dict[str, Any] = self.call("count", lambda sf: sf.query(soql, **kw))
        return int(page.get("totalSize") or 0)

    def query_pages(self, soql: str, *, batch_size: int = 2000) -> Iterator[list[dict[str, Any]]]:
        """Each page of a query as it arrives, so nothing holds the whole result."""
        kw = self._kw({"Sforce-Query-Options": f"batchSize={batch_size}"})
        page: dict[str, Any] = self.call("query", lambda sf: sf.query(soql, **kw))
        seen: set[str] = set()
        while True:
            yield list(page.get("records") or [])
            next_url = page.get("nextRecordsUrl")
            if page.get("done", True) or not next_url:
                return
            if next_url in seen:  # docs/style.md, rule 12: a repeating token loops forever
                raise FatalError(f"Salesforce repeated the query page {next_url}")
            seen.add(next_url)
            page = self.call("query_more", partial(_more, url=str(next_url), kw=kw))


def _more(sf: Salesforce, *, url: str, kw: dict[str, Any]) -> Any:
    return sf.query_more(url, identifier_is_url=True, **kw)

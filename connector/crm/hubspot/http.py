"""Every HubSpot call goes through `HubSpotApi.call`: token, limiter slot, one SDK call,
headers read back, failures classified by `errors.TABLE`, retries from `connector.retry`.

The SDK's own urllib3 retry is switched off (`Retry(total=False)`): by default it does not
retry POST, and two retry layers would multiply attempts. Bodies go in as plain dicts and
replies come back as the SDK's models."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
import urllib3
from hubspot import HubSpot
from urllib3.util.retry import Retry

from connector.crm.hubspot.auth import TokenSource
from connector.crm.hubspot.errors import NoResponseError, is_sdk_error, to_error, verdict_of
from connector.crm.hubspot.limiter import RateLimiter
from connector.errors import RateLimitedError, RetriableError, SessionExpiredError
from connector.metrics import CRM_API_CALLS, CRM_API_USAGE, CRM_RATE_LIMITED
from connector.retry import RetryPolicy, retrying
from connector.vendor_errors import Action

log = structlog.get_logger(__name__)
CRM = "hubspot"


@dataclass(frozen=True, slots=True)
class Reply:
    data: Any
    status: int
    headers: Mapping[str, str]


class HubSpotApi:
    """The SDK's API objects, built once (each property access would build a new pool)."""

    def __init__(
        self,
        base_url: str,
        tokens: TokenSource,
        limiter: RateLimiter,
        *,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], object] | None = None,
        ca_file: Path | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self.tokens = tokens
        self.limiter = limiter
        self.policy = policy or RetryPolicy(attempts=6, max_total_s=300.0)
        self.sleep = sleep or limiter._sleep  # noqa: SLF001 - one sleep for both
        self.timeout_s = timeout_s
        extra: dict[str, Any] = {"ssl_ca_cert": str(ca_file)} if ca_file else {}
        client = HubSpot(  # the token is set per call (`_once`): it may not exist yet
            access_token=None,
            host=base_url.rstrip("/"),
            retry=Retry(total=False),
            **extra,
        )
        crm = client.crm
        self.contacts_basic = crm.contacts.basic_api
        self.contacts_search = crm.contacts.search_api
        self.contacts_batch = crm.contacts.batch_api
        self.tasks_batch = crm.objects.tasks.batch_api
        self.tasks_search = crm.objects.tasks.search_api
        self.communications_batch = crm.objects.communications.batch_api
        self.communications_search = crm.objects.communications.search_api
        self.properties = crm.properties.core_api
        self.owners = crm.owners.owners_api
        self.deals_search = crm.deals.search_api  # the pipeline (connector/crm/hubspot/pipeline.py)
        self.deals_batch = crm.deals.batch_api
        self.associations_v4 = crm.associations.v4.batch_api
        self.calls = 0

    def call(
        self,
        operation: str,
        fn: Callable[..., Any],
        *,
        search: bool = False,
        idempotent: bool = True,
        body: dict[str, Any] | None = None,
        raw: bool = False,
        daily: bool = True,
        policy: RetryPolicy | None = None,
        **kwargs: Any,
    ) -> Reply:
        """One SDK `*_with_http_info` call with retries (`raw`: the reply as plain JSON;
        `daily=False`: past the daily budget stop, for a probe; `policy`: other retries).

        A non-idempotent call (a create without a unique key) is not retried after
        `NoResponseError`; the caller reconciles."""

        if body:
            kwargs.update(body)
        if raw:  # plain JSON: the SDK's model deserialisation costs ~1 ms per record
            kwargs["_preload_content"] = False

        def retry_on(exc: BaseException) -> bool:
            return idempotent or not isinstance(exc, NoResponseError)

        for attempt in retrying(
            f"hubspot {operation}", policy or self.policy, retry_on=retry_on, sleep=self.sleep
        ):
            with attempt:
                return self._once(operation, fn, search, daily, kwargs)
        raise AssertionError("unreachable: retrying re-raises")  # pragma: no cover

    def _once(
        self,
        operation: str,
        fn: Callable[..., Any],
        search: bool,
        daily: bool,
        kwargs: dict[str, Any],
    ) -> Reply:
        token = self.tokens.token()
        config = getattr(fn, "__self__").api_client.configuration  # noqa: B009 - bound SDK method
        if config.access_token != token:
            config.access_token = token
        self.limiter.acquire(search=search, daily=daily)
        self.calls += 1
        CRM_API_CALLS.labels(CRM).inc()
        try:
            answer = fn(**kwargs, _request_timeout=self.timeout_s)
            if kwargs.get("_preload_content", True):
                data, status, headers = answer
            else:
                data, status, headers = (
                    json.loads(answer.data or b"{}"),
                    answer.status,
                    answer.headers,
                )
        except Exception as exc:
            if not (is_sdk_error(exc) or isinstance(exc, urllib3.exceptions.HTTPError | OSError)):
                self.limiter.release()
                raise
            raise self._failed(operation, exc, token) from None
        headers = dict(headers or {})
        self.limiter.release(headers)
        self._usage()
        return Reply(data, int(status), headers)

    def _failed(self, operation: str, exc: Exception, token: str) -> Exception:
        verdict = verdict_of(exc)
        headers = dict(getattr(exc, "headers", None) or {}) if is_sdk_error(exc) else {}
        if verdict.action is Action.RATE_LIMITED:
            self.limiter.throttled_by_server(verdict.retry_after, headers)
            CRM_RATE_LIMITED.labels(CRM).inc()
            log.warning(
                "hubspot.throttled",
                operation=operation,
                policy=verdict.code,
                retry_after=verdict.retry_after,
            )
            # the limiter now holds every caller back; the retry itself need not wait
            return RateLimitedError(str(to_error(verdict, operation)), retry_after=0.0)
        self.limiter.release(headers)
        if verdict.status == 0:
            return NoResponseError(f"HubSpot {operation}: no response ({verdict.message})")
        if verdict.action is Action.REFRESH_AUTH:
            self.tokens.refresh(token)  # AuthError when the token cannot be refreshed
            return SessionExpiredError(f"HubSpot {operation}: access token expired; refreshed")
        error = to_error(verdict, operation)
        if isinstance(error, RetriableError):
            log.warning("hubspot.transient", operation=operation, status=verdict.status)
        return error

    def _usage(self) -> None:
        left, maximum = self.limiter.daily_remaining, self.limiter.daily_max
        if left is not None and maximum:
            CRM_API_USAGE.labels(CRM).set(1.0 - left / maximum)

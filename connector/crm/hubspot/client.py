"""`HubSpotCrm`: the `CrmPort` for HubSpot, on hubspot-api-client 12.

It wires the parts: `api` (SDK calls, limiter, retries, the error table), `pull` (contacts
within the search cap), `writer` (batched idempotent writes) and `mapping`."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from connector.config import MappingConfig, Settings, require
from connector.crm.hubspot.auth import (
    OAuthTokens,
    PrivateAppToken,
    TokenSource,
    oauth_exchange,
)
from connector.crm.hubspot.engagements import chunks_for_search
from connector.crm.hubspot.http import HubSpotApi
from connector.crm.hubspot.limiter import TIERS, RateLimiter, Tier
from connector.crm.hubspot.mapping import CONTACTS, ContactMapper, parse_stamp
from connector.crm.hubspot.owners import OwnerDirectory
from connector.crm.hubspot.pipeline import DealPuller
from connector.crm.hubspot.pull import ContactPuller
from connector.crm.hubspot.rep_sends import RepSends
from connector.crm.hubspot.writer import Writer
from connector.crm.links import record_link
from connector.domain.model import CrmRef, CrmWrite, WriteResult
from connector.domain.phones import try_e164
from connector.errors import ConfigError
from connector.logs import get_logger
from connector.ports import (
    CrmPort,
    Cursor,
    IdMap,
    Owner,
    PipelineBatch,
    PullBatch,
    RepSendOutcome,
    RepSendRecord,
    TokenPair,
    TokenVault,
)
from connector.retry import RetryPolicy

DEFAULT_LOOKBACK_S = 30.0
TOKEN_PATH = "/oauth/v1/token"  # noqa: S105 - a URL path, not a secret
TASK_COMPLETED_AT = "hs_task_completion_date"  # read-only; HubSpot sets it when a task closes
PROBE_POLICY = RetryPolicy(attempts=2, max_total_s=10.0)  # a failed probe waits for the next

HUBSPOT_AUTH = (
    "HubSpot needs a private-app token (HUBSPOT_ACCESS_TOKEN) or OAuth (HUBSPOT_CLIENT_ID,"
    " HUBSPOT_CLIENT_SECRET and HUBSPOT_REFRESH_TOKEN)"
)

log = get_logger(__name__)


def tokens_from_settings(settings: Settings, vault: TokenVault | None = None) -> TokenSource:
    """OAuth when HUBSPOT_REFRESH_TOKEN is set (client id and secret then required; the
    access token optional, else fetched on first use), otherwise the private-app token."""
    if settings.hubspot_refresh_token is None:
        require(settings, "hubspot_access_token", hint=HUBSPOT_AUTH)
        secret = settings.hubspot_access_token
        assert secret is not None
        return PrivateAppToken(secret.get_secret_value())
    require(
        settings,
        "hubspot_client_id",
        "hubspot_client_secret",
        "hubspot_refresh_token",
        hint=HUBSPOT_AUTH,
    )
    client_id, client_secret = settings.hubspot_client_id, settings.hubspot_client_secret
    assert client_id is not None
    assert client_secret is not None
    access = settings.hubspot_access_token
    initial = TokenPair(
        access.get_secret_value() if access is not None else "",
        settings.hubspot_refresh_token.get_secret_value(),
    )
    if vault is None:
        log.warning(
            "hubspot.oauth_unpersisted",
            hint="rotated refresh tokens are kept in memory only and lost on restart",
        )
    exchange = oauth_exchange(
        settings.hubspot_base_url + TOKEN_PATH,
        client_id,
        client_secret.get_secret_value(),
        ca_file=settings.ca_file,
    )
    return OAuthTokens(initial, exchange, vault)


class HubSpotCrm:
    def __init__(
        self,
        api: HubSpotApi,
        mapping: MappingConfig,
        *,
        id_map: IdMap | None = None,
        lookback_s: float = DEFAULT_LOOKBACK_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if mapping.crm != "hubspot":
            raise ConfigError(f"the mapping is for {mapping.crm}, not hubspot")
        if CONTACTS not in mapping.object_names:
            raise ConfigError("a HubSpot mapping must list the contacts object")
        self.api = api
        self.mapping = mapping
        self.mapper = ContactMapper(mapping, CONTACTS)
        self.puller = ContactPuller(api, self.mapper, lookback_s=lookback_s)
        self.writer = Writer(
            api, self.mapper, mapping.idempotency_mode or "unique_property", id_map
        )
        self.owner_directory = OwnerDirectory(api, clock=clock)
        found = mapping.pipeline
        self.deals = DealPuller(api, found.pipeline_id) if found is not None else None
        sends = mapping.rep_send
        self.sends = RepSends(api, sends) if sends is not None else None

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        mapping: MappingConfig,
        *,
        id_map: IdMap | None = None,
        tokens: TokenSource | None = None,
        token_vault: TokenVault | None = None,
        tier: Tier | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], object] | None = None,
        policy: RetryPolicy | None = None,
        lookback_s: float = DEFAULT_LOOKBACK_S,
    ) -> HubSpotCrm:
        """The adapter for these settings (see `tokens_from_settings`; `tokens` overrides
        it, `token_vault` persists rotated OAuth pairs); `clock`/`sleep` let tests run the
        limiter and the owner cache's expiry on the sandbox's clock."""
        if tokens is None:
            tokens = tokens_from_settings(settings, token_vault)
        limiter = RateLimiter(
            tier or TIERS["starter"],
            daily_share=settings.api_usage_stop_share,
            clock=clock or time.monotonic,
            sleep=sleep or time.sleep,
        )
        api = HubSpotApi(
            settings.hubspot_base_url,
            tokens,
            limiter,
            policy=policy,
            ca_file=settings.ca_file,
        )
        return cls(
            api, mapping, id_map=id_map, lookback_s=lookback_s, clock=clock or time.monotonic
        )

    # CrmPort -------------------------------------------------------------------------------

    def pull(self, since: Cursor | None) -> Iterator[PullBatch]:
        return self.puller.pull(since)

    def pull_pipeline(self, since: Cursor | None) -> Iterator[PipelineBatch]:
        """Deals changed after `since` with their contacts and dealstage history; nothing
        when the mapping has no pipeline section."""
        return iter(()) if self.deals is None else self.deals.pull(since)

    def find_by_phone(self, phone_e164: str) -> list[CrmRef]:
        """Every contact whose mapped phone properties hold this number, however typed.

        HubSpot stores what people typed, so the search is a token match on the last four
        digits (every common spelling ends in them) and the hits are compared as E.164."""
        wanted = try_e164(phone_e164)
        if wanted is None:
            return []
        digits = wanted[-4:]
        groups = [
            {"filters": [{"propertyName": p, "operator": "CONTAINS_TOKEN", "value": f"*{digits}"}]}
            for p in self.mapper.phone_fields
        ]
        body: dict[str, object] = {
            "filterGroups": groups,
            "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            "properties": list(self.mapper.phone_fields),
            "limit": 200,
        }
        refs: dict[str, CrmRef] = {}
        search = self.api.contacts_search.do_search_with_http_info
        for obj in self._search("search contacts by phone", search, body):
            props = obj.properties or {}
            if any(try_e164(props.get(p)) == wanted for p in self.mapper.phone_fields):
                refs.setdefault(str(obj.id), CrmRef(CONTACTS, str(obj.id)))
        return list(refs.values())

    def _search(
        self, what: str, search: Callable[..., Any], body: dict[str, object]
    ) -> Iterator[Any]:
        """Every result of a CRM search, page by page (a repeated cursor ends it)."""
        after: str | None = None
        seen: set[str] = set()
        while True:
            paged = {**body, "after": after} if after else body
            page = self.api.call(what, search, search=True, public_object_search_request=paged).data
            yield from page.results or []
            nxt = page.paging.next.after if page.paging and page.paging.next else None
            if not nxt or nxt in seen:
                return
            seen.add(nxt)
            after = nxt

    def write(self, writes: Sequence[CrmWrite]) -> list[WriteResult]:
        return self.writer.write(writes)

    def completed_tasks(self, external_ids: Sequence[str]) -> dict[str, datetime | None]:
        """One search per IN list (at most 100 values, within the body-size cap), with
        HubSpot's completion time of each task (the SLA was met then, not at the sweep)."""
        wanted = list(dict.fromkeys(i for i in external_ids if i))
        cfg = self.mapping.tasks
        ext_field = cfg.external_id_field
        done: dict[str, datetime | None] = {}
        for chunk in chunks_for_search(wanted):
            body: dict[str, object] = {
                "filterGroups": [
                    {
                        "filters": [
                            {"propertyName": ext_field, "operator": "IN", "values": chunk},
                            {
                                "propertyName": "hs_task_status",
                                "operator": "EQ",
                                "value": cfg.status.done,
                            },
                        ]
                    }
                ],
                "properties": [ext_field, TASK_COMPLETED_AT],
                "limit": 200,
            }
            search = self.api.tasks_search.do_search_with_http_info
            for obj in self._search("search completed tasks", search, body):
                props = obj.properties or {}
                ext = props.get(ext_field)
                if ext:
                    at = parse_stamp(props.get(TASK_COMPLETED_AT))
                    done[str(ext)] = at.astimezone(UTC) if at is not None else None
        asked = set(wanted)
        return {ext: at for ext, at in done.items() if ext in asked}

    def rep_sends(self, limit: int) -> list[RepSendRecord]:
        """Tasks a rep asked to send (the mapping's `rep_send:`): one tasks search, and
        one association read when it finds any."""
        return self.sends.pending(limit) if self.sends is not None else []

    def settle_rep_sends(self, outcomes: Sequence[RepSendOutcome]) -> set[str]:
        if self.sends is None or not outcomes:
            return set()
        return self.sends.settle(outcomes)

    def record_url(self, ref: CrmRef) -> str | None:
        """The mapping's `tasks.record_url` (it names the portal); None without one."""
        template = self.mapping.tasks.record_url
        return record_link(template, ref) if template else None

    def owners(self, ids: Sequence[str]) -> dict[str, Owner]:
        """From the owner directory, read whole (paged) at most every few minutes."""
        return self.owner_directory.lookup(ids)

    def probe(self) -> None:
        """One contact read, let out past the daily budget stop so that its rate-limit
        headers refresh the limiter's view of the day (after a stop nothing else would
        go out to tell it the day rolled over); then the budget check."""
        self.api.call(
            "probe",
            self.api.contacts_basic.get_page_with_http_info,
            raw=True,
            daily=False,
            policy=PROBE_POLICY,
            limit=1,
            archived=False,
        )
        self.api.limiter.check_daily()


def _conforms(crm: HubSpotCrm) -> CrmPort:
    return crm  # mypy checks HubSpotCrm against the port here

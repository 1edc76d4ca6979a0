"""`SalesforceCrm`: the Salesforce implementation of `connector.ports.CrmPort`.

It wires the parts: our own OAuth (auth), the call discipline (http), the usage
tracker (limits), the pull, the phone lookup and the composite writer."""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import phonenumbers
import requests
import structlog

from connector.config import MappingConfig, Settings
from connector.crm.links import record_link
from connector.crm.salesforce.auth import SessionManager, token_form
from connector.crm.salesforce.http import SalesforceApi
from connector.crm.salesforce.limits import ApiUsage
from connector.crm.salesforce.mapping import SalesforceMapping, parse_datetime
from connector.crm.salesforce.pipeline import PipelinePuller
from connector.crm.salesforce.pull import Puller
from connector.crm.salesforce.queries import (
    COMPLETED_AT,
    done_tasks_query,
    phone_query,
    users_query,
)
from connector.crm.salesforce.rep_sends import RepSends
from connector.crm.salesforce.writer import Writer
from connector.domain.model import CrmRef, CrmWrite, WriteResult
from connector.domain.phones import try_e164
from connector.errors import SmsyncError
from connector.logs import mask_phone
from connector.ports import (
    Clock,
    Cursor,
    Owner,
    PipelineBatch,
    PullBatch,
    RepSendOutcome,
    RepSendRecord,
)
from connector.retry import RetryPolicy

log = structlog.get_logger(__name__)
PHONE_DIGITS_MATCHED = 7  # national digits matched in order: selective, spelling-agnostic
DONE_TASKS_CHUNK = 200  # external ids per SOQL IN list: one page, a short query string
OWNERS_CHUNK = 200  # user ids per SOQL IN list: ~4 KB of URL, one page of answers
_RECORD_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")  # 15- or 18-char form
PROBE_POLICY = RetryPolicy(attempts=2, max_total_s=10.0)  # a failed probe waits for the next


def spellings(e164: str) -> list[str]:
    """How people type one number: E.164, national, international, digits, dots, dashes."""
    parsed = phonenumbers.parse(e164)
    fmt = phonenumbers.PhoneNumberFormat
    national = phonenumbers.format_number(parsed, fmt.NATIONAL)
    digits = str(parsed.national_number)
    out = [
        e164,
        national,
        phonenumbers.format_number(parsed, fmt.INTERNATIONAL),
        digits,
        e164[1:],
    ]
    if len(digits) == 10 and parsed.country_code == 1:
        a, b, c = digits[:3], digits[3:6], digits[6:]
        out += [f"{a}-{b}-{c}", f"{a}.{b}.{c}", f"{a} {b} {c}", f"1-{a}-{b}-{c}", f"({a}){b}-{c}"]
    return list(dict.fromkeys(out))


def digits_pattern(e164: str) -> str:
    """`%5%5%5%0%1%2%3%`: the last national digits in order, any separators between."""
    digits = str(phonenumbers.parse(e164).national_number)[-PHONE_DIGITS_MATCHED:]
    return "%" + "%".join(digits) + "%"


class SalesforceCrm:
    """Pull, resolve and write Salesforce records for smsync."""

    def __init__(
        self,
        api: SalesforceApi,
        mapping: SalesforceMapping,
        *,
        batch_size: int = 2000,
        lookback: timedelta = timedelta(minutes=5),
        bulk_threshold: int = 0,
    ) -> None:
        self.api = api
        self.mapping = mapping
        self.puller = Puller(
            api, mapping, batch_size=batch_size, lookback=lookback, bulk_threshold=bulk_threshold
        )
        self.writer = Writer(api, mapping, api.usage)
        found = mapping.config.pipeline
        self.pipeline = (
            PipelinePuller(api, found.stage_history, batch_size=batch_size) if found else None
        )
        sends = mapping.config.rep_send
        self.sends = RepSends(api, sends) if sends is not None else None
        # idle keep-alive connections close with the adapter, even when nobody calls close()
        self._finalizer = weakref.finalize(self, api.http.close)

    def close(self) -> None:
        self._finalizer()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        mapping: MappingConfig,
        *,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], Any] | None = None,
        clock: Clock | None = None,
    ) -> SalesforceCrm:
        """Nothing is called yet: the first pull, lookup or write logs in. An incomplete
        login flow is a ConfigError now, offline, rather than at the first pull."""
        token_form(settings)
        verify: str | bool = str(settings.ca_file) if settings.ca_file else True
        http = requests.Session()
        http.verify = verify
        usage = ApiUsage(settings.api_usage_stop_share)
        http.hooks["response"].append(usage.hook)
        sessions = SessionManager.shared(settings, verify=verify, sleep=sleep, clock=clock)
        api = SalesforceApi(
            sessions,
            http,
            usage,
            version=settings.sf_api_version,
            verify=verify,
            policy=policy,
            sleep=sleep,
        )
        return cls(
            api,
            SalesforceMapping(mapping),
            batch_size=settings.sf_query_batch_size,
            lookback=timedelta(seconds=settings.pull_lookback_s),
            bulk_threshold=settings.sf_bulk_threshold,
        )

    # CrmPort -----------------------------------------------------------------------------
    def pull(self, since: Cursor | None) -> Iterator[PullBatch]:
        try:
            yield from self.puller.pull(since)
        finally:
            self._idle()

    def pull_pipeline(self, since: Cursor | None) -> Iterator[PipelineBatch]:
        """Opportunities changed after `since` with their contact roles and stage history;
        nothing when the mapping has no pipeline section."""
        if self.pipeline is None:
            return
        try:
            yield from self.pipeline.pull(since)
        finally:
            self._idle()

    def _idle(self) -> None:
        """Drop idle keep-alive connections between operations: Salesforce closes idle ones
        anyway, and a TLS peer left holding one cannot shut down promptly."""
        self.api.http.close()

    def find_by_phone(self, phone_e164: str) -> list[CrmRef]:
        target = try_e164(phone_e164)
        if target is None:
            log.info("salesforce.find_by_phone_invalid", phone=mask_phone(phone_e164 or ""))
            return []
        try:
            return self._find(target)
        finally:
            self._idle()

    def _find(self, target: str) -> list[CrmRef]:
        refs: list[CrmRef] = []
        for obj in self.mapping.objects.values():
            soql = phone_query(
                obj.name,
                ["Id", *obj.phone_fields],
                obj.phone_fields,
                spellings(target),
                digits_pattern(target),
            )
            for page in self.api.query_pages(soql):
                for row in page:
                    numbers = {try_e164(row.get(f)) for f in obj.phone_fields}
                    if target in numbers:
                        refs.append(CrmRef(obj.name, str(row["Id"])))
        return list(dict.fromkeys(refs))

    def write(self, writes: Sequence[CrmWrite]) -> list[WriteResult]:
        if not writes:
            return []
        try:
            return self.writer.write(writes)
        finally:
            self._idle()

    def completed_tasks(self, external_ids: Sequence[str]) -> dict[str, datetime | None]:
        wanted = list(dict.fromkeys(i for i in external_ids if i))
        if not wanted:
            return {}
        cfg = self.mapping.config.tasks
        done: dict[str, datetime | None] = {}
        try:
            for start in range(0, len(wanted), DONE_TASKS_CHUNK):
                chunk = wanted[start : start + DONE_TASKS_CHUNK]
                soql = done_tasks_query(cfg.object, cfg.external_id_field, chunk, cfg.status.done)
                for page in self.api.query_pages(soql):
                    for row in page:
                        done[str(row[cfg.external_id_field])] = parse_datetime(
                            row.get(COMPLETED_AT)
                        )
        finally:
            self._idle()
        asked = set(wanted)
        return {ext: at for ext, at in done.items() if ext in asked}

    def rep_sends(self, limit: int) -> list[RepSendRecord]:
        """Tasks a rep asked to send (the mapping's `rep_send:`): one SOQL query."""
        if self.sends is None:
            return []
        try:
            return self.sends.pending(limit)
        finally:
            self._idle()

    def settle_rep_sends(self, outcomes: Sequence[RepSendOutcome]) -> set[str]:
        if self.sends is None or not outcomes:
            return set()
        try:
            return self.sends.settle(outcomes)
        finally:
            self._idle()

    def record_url(self, ref: CrmRef) -> str | None:
        """The mapping's `tasks.record_url`, else the record's Lightning page."""
        template = self.mapping.config.tasks.record_url
        if template:
            return record_link(template, ref)
        try:
            base = self.api.sessions.current().instance_url
        except SmsyncError:
            return None
        return f"{base.rstrip('/')}/lightning/r/{ref.object_type}/{ref.id}/view"

    def owners(self, ids: Sequence[str]) -> dict[str, Owner]:
        """Users by id, in IN-list chunks. Salesforce answers with 18-char ids while a
        mapping or an admin may hold the 15-char form, so answers match on the
        case-sensitive 15-char stem and are keyed by the id asked for. Malformed ids
        cannot be users and are never sent: one would fail its whole chunk."""
        by_stem: dict[str, list[str]] = {}
        for owner_id in dict.fromkeys(i for i in ids if i and _RECORD_ID.fullmatch(i)):
            by_stem.setdefault(owner_id[:15], []).append(owner_id)
        if not by_stem:
            return {}
        asked = [same[0] for same in by_stem.values()]
        found: dict[str, Owner] = {}
        try:
            for start in range(0, len(asked), OWNERS_CHUNK):
                for page in self.api.query_pages(users_query(asked[start : start + OWNERS_CHUNK])):
                    for row in page:
                        first, last = _text(row.get("FirstName")), _text(row.get("LastName"))
                        for owner_id in by_stem.get(str(row["Id"])[:15], ()):
                            found[owner_id] = Owner(
                                owner_id, first, last, _text(row.get("TimeZoneSidKey"))
                            )
        finally:
            self._idle()
        return found

    def probe(self) -> None:
        """One `limits` read: its `Sforce-Limit-Info` (seen by the usage hook, like every
        answer) is the org's usage now; then the stop-share check."""
        try:
            self.api.restful("probe", "limits", policy=PROBE_POLICY)
        finally:
            self._idle()
        self.api.usage.check()


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None

"""`SmsPort` for Twilio Programmable Messaging, over `requests`.

A send is one POST. Retries go through `connector.retry` and only where they are safe:
a 429/20429 or a 5xx means Twilio created nothing. A request whose outcome is ambiguous
(read timeout, connection reset once the request was written, 504 from a gateway) is
never re-POSTed: the recipient's messages are listed first (`find_send`), and a match on
To + body + time window is the send. When nothing matches yet, `AmbiguousSendError` goes
up, so the outbox keeps the row as ambiguous and reconciles again before any re-send.

The idempotency key cannot ride on the message itself (Twilio has no such field and does
not echo the StatusCallback URL in its resource), so it rides on the StatusCallback URL:
every status callback of the send carries it back to the connector, and the webhook
intake records it with the event."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import requests
import structlog
from tenacity import sleep as default_sleep

from connector.config import Settings, require
from connector.domain.model import Direction, Message
from connector.errors import AmbiguousSendError, ConfigError, FatalError, RetriableError
from connector.logs import mask_phone, register_secret
from connector.ports import Cursor, OutboundSms, Reconciliation
from connector.retry import RetryPolicy, parse_retry_after, retrying
from connector.sms.twilio.errors import TwilioFailure, TwilioServerError, to_exception
from connector.sms.twilio.resources import event_of, parse_date, to_message

log = structlog.get_logger(__name__)

API_VERSION = "2010-04-01"
STATUS_PATH = "/webhooks/twilio/status"
INBOUND_PATH = "/webhooks/twilio/inbound"
MAX_PAGE_SIZE = 1000
MAX_PAGES = 1000  # a pagination guard: no listing is ever this long
RECONCILE_MARGIN = timedelta(
    minutes=10
)  # local clock skew tolerated (docs/reliability.md, fault 12)
TWILIO_AUTH = (
    "Twilio needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, and TWILIO_FROM or"
    " TWILIO_MESSAGING_SERVICE_SID"
)


def _not_sent(exc: requests.ConnectionError) -> bool:
    """True when the connection failed before the request could have been written."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    text = repr(exc.args[0] if exc.args else exc)
    return any(
        marker in text
        for marker in ("NewConnectionError", "ConnectTimeoutError", "NameResolutionError")
    )


class TwilioSms:
    """One Twilio account (or Messaging Service) as an `SmsPort`."""

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        base_url: str = "https://api.twilio.com",
        from_: str | None = None,
        messaging_service_sid: str | None = None,
        public_base_url: str | None = None,
        shorten_urls: bool = False,
        ca_file: str | None = None,
        timeout: tuple[float, float] = (5.0, 15.0),
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], Any] = default_sleep,
        session: requests.Session | None = None,
    ) -> None:
        if not from_ and not messaging_service_sid:
            raise ConfigError("set TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID to send texts")
        if shorten_urls and not messaging_service_sid:
            raise ConfigError(
                "SMSYNC_LINK_TRACKING=twilio needs TWILIO_MESSAGING_SERVICE_SID: Twilio"
                " shortens links only on Messaging Service sends"
            )
        register_secret(auth_token)
        self.account_sid = account_sid
        self.from_ = from_
        self.messaging_service_sid = messaging_service_sid
        self.shorten_urls = shorten_urls
        self.public_base_url = public_base_url.rstrip("/") if public_base_url else None
        self.base_url = base_url.rstrip("/")
        self.messages_url = f"{self.base_url}/{API_VERSION}/Accounts/{account_sid}/Messages.json"
        self.timeout = timeout
        self.policy = policy or RetryPolicy(attempts=4, max_total_s=60.0)
        self.sleep = sleep
        self.http = session or requests.Session()
        self.http.auth = (account_sid, auth_token)
        self.http.headers["User-Agent"] = "smsync"
        if ca_file:
            self.http.verify = ca_file

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> TwilioSms:
        require(settings, "twilio_account_sid", "twilio_auth_token", hint=TWILIO_AUTH)
        token = settings.twilio_auth_token
        assert token is not None
        assert settings.twilio_account_sid is not None
        return cls(
            account_sid=settings.twilio_account_sid,
            auth_token=token.get_secret_value(),
            base_url=settings.twilio_base_url,
            from_=settings.twilio_from,
            messaging_service_sid=settings.twilio_messaging_service_sid,
            public_base_url=settings.public_base_url,
            shorten_urls=settings.link_tracking == "twilio",
            ca_file=str(settings.ca_file) if settings.ca_file else None,
            **kwargs,
        )

    # -- send ---------------------------------------------------------------------------

    def status_callback(self, idempotency_key: str) -> str | None:
        """Our status webhook, carrying the send's idempotency key back with every callback."""
        if self.public_base_url is None:
            return None
        return f"{self.public_base_url}{STATUS_PATH}?{urlencode({'k': idempotency_key})}"

    def send(self, sms: OutboundSms) -> Message:
        """POST once; retry only what Twilio certainly did not create; reconcile the rest.

        Raises RecipientOptedOutError (21610), UndeliverableNumberError (21211, 21614),
        TwilioRecordError, AuthError, or RetriableError once retries are spent.
        AmbiguousSendError means the send may exist: reconcile before sending again."""
        started = datetime.now(UTC)
        form = {"To": sms.to, "Body": sms.body}
        if self.messaging_service_sid:
            form["MessagingServiceSid"] = self.messaging_service_sid
            if self.shorten_urls:  # Twilio Link Shortening: it swaps the URLs, we get clicks
                form["ShortenUrls"] = "true"
        else:
            assert self.from_ is not None
            form["From"] = self.from_
        callback = sms.status_callback or self.status_callback(sms.idempotency_key)
        if callback:
            form["StatusCallback"] = callback
        safe = retrying(
            "twilio.send",
            self.policy,
            retry_on=lambda exc: not isinstance(exc, AmbiguousSendError),
            sleep=self.sleep,
        )
        try:
            message: Message = safe(self._post, form)
        except AmbiguousSendError:
            found = self._reconcile_quietly(sms, started - RECONCILE_MARGIN)
            if found is None:
                raise
            log.info("twilio.send_reconciled", sid=found.sid, to=mask_phone(sms.to))
            return found
        log.info("twilio.sent", sid=message.sid, to=mask_phone(sms.to), status=message.status)
        return message

    def _post(self, form: dict[str, str]) -> Message:
        try:
            response = self.http.post(self.messages_url, data=form, timeout=self.timeout)
        except requests.exceptions.SSLError as exc:
            raise FatalError(
                f"TLS verification of {self.base_url} failed ({type(exc).__name__}); "
                "set SMSYNC_CA_FILE to the CA bundle that signs it"
            ) from None
        except requests.ConnectionError as exc:
            if _not_sent(exc):
                raise RetriableError(f"Twilio unreachable: {type(exc).__name__}") from None
            raise AmbiguousSendError(
                f"connection lost after the send was written: {type(exc).__name__}"
            ) from None
        except requests.Timeout as exc:
            raise AmbiguousSendError(f"no answer to the send: {type(exc).__name__}") from None
        if response.status_code in (200, 201):
            return to_message(response.json())
        if response.status_code == 504:  # a gateway gave up; Twilio may have created it
            raise AmbiguousSendError("Twilio 504: the send may have been created")
        raise self._failure(response, form["To"])

    def _failure(self, response: requests.Response, to: str = "") -> Exception:
        try:
            body = response.json()
        except ValueError:
            body = None
        failure = TwilioFailure.parse(response.status_code, body)
        return to_exception(
            failure, to=to, retry_after=parse_retry_after(response.headers.get("Retry-After"))
        )

    # -- reconcile ----------------------------------------------------------------------

    def find_sent(self, to: str, since: datetime) -> list[Message]:
        """Outbound messages to `to` whose DateSent is at or after `since`, oldest first."""
        found = [
            to_message(r)
            for r in self.list_messages(to=to, sent_after=since)
            if r.get("direction") != "inbound"
        ]
        found.reverse()  # the list is newest first; equal seconds keep Twilio's order
        return sorted(found, key=lambda m: m.at)

    def find_send(
        self, sms: OutboundSms, since: datetime, *, exclude_sids: Iterable[str] = ()
    ) -> Message | None:
        """The message an earlier, ambiguous attempt of `sms` created, if Twilio has it.

        Matches To + body, created since `since` (give it the first attempt's time minus a
        skew margin), skipping sids already known to be other sends. A message still
        queued has no DateSent yet, so the newest page by To alone is checked too."""
        skip = set(exclude_sids)

        def pick(candidates: Iterable[Message]) -> Message | None:
            hits = [
                m
                for m in candidates
                if m.direction is Direction.OUTBOUND
                and m.to == sms.to
                and m.body == sms.body
                and m.at >= since
                and m.sid not in skip
            ]
            return min(hits, key=lambda m: m.at) if hits else None

        found = pick(self.find_sent(sms.to, since))
        if found is None:
            newest = self.list_messages(to=sms.to, page_size=50, max_pages=1)
            found = pick(to_message(r) for r in newest)
        return found

    def _reconcile_quietly(self, sms: OutboundSms, since: datetime) -> Message | None:
        """Reconcile right after an ambiguous send; a failure to list stays ambiguous."""
        try:
            return self.find_send(sms, since)
        except RetriableError as exc:
            log.warning("twilio.reconcile_failed", error=type(exc).__name__)
            return None

    def reconcile(self, since: datetime) -> Reconciliation:
        """Every message of this account (its number or Messaging Service) sent since
        `since`, oldest first, as the webhook events it would have caused: what a receiver
        that was down, or a network that lost both of Twilio's tries, never got. `newest`
        is the newest DateSent listed and its sid: a server value, never the local clock."""
        listed = [r for r in self.list_messages(sent_after=since) if self._ours(r)]
        listed.reverse()  # oldest first, so the inbox keeps arrival order
        newest: Cursor | None = None
        for resource in listed:
            sent = parse_date(resource.get("date_sent"))
            if sent is not None and (
                newest is None or (sent, resource["sid"]) > (newest.modstamp, newest.id)
            ):
                newest = Cursor(modstamp=sent, id=str(resource["sid"]))
        events = [e for e in map(event_of, listed) if e is not None]
        return Reconciliation(events=events, listed=len(listed), newest=newest)

    def _ours(self, resource: dict[str, Any]) -> bool:
        """Sent from, or received at, this account's number or Messaging Service."""
        inbound = resource.get("direction") == "inbound"
        own = resource.get("to") if inbound else resource.get("from")
        service = self.messaging_service_sid
        return (self.from_ is not None and own == self.from_) or (
            service is not None and resource.get("messaging_service_sid") == service
        )

    # -- listing ------------------------------------------------------------------------

    def list_messages(
        self,
        *,
        to: str | None = None,
        from_: str | None = None,
        sent_after: datetime | None = None,
        page_size: int = MAX_PAGE_SIZE,
        max_pages: int = MAX_PAGES,
    ) -> Iterator[dict[str, Any]]:
        """Message resources, newest first, following `next_page_uri` (with a guard)."""
        params: dict[str, str] = {"PageSize": str(min(page_size, MAX_PAGE_SIZE))}
        if to:
            params["To"] = to
        if from_:
            params["From"] = from_
        if sent_after is not None:
            stamp = sent_after.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            params["DateSent>"] = stamp
        url: str | None = self.messages_url
        query: dict[str, str] | None = params
        seen: set[str] = set()
        for _ in range(max_pages):
            if url is None:
                return
            page = self._get_page(url, query)
            yield from page.get("messages") or []
            next_uri = page.get("next_page_uri")
            if not next_uri:
                return
            if next_uri in seen:
                raise FatalError("Twilio repeated a next_page_uri; stopping the listing")
            seen.add(next_uri)
            url, query = self.base_url + str(next_uri), None

    def _get_page(self, url: str, params: dict[str, str] | None) -> dict[str, Any]:
        def once() -> dict[str, Any]:
            try:
                response = self.http.get(url, params=params, timeout=self.timeout)
            except requests.exceptions.SSLError as exc:
                raise FatalError(
                    f"TLS verification of {self.base_url} failed; set SMSYNC_CA_FILE"
                ) from exc
            except (requests.ConnectionError, requests.Timeout) as exc:
                # a GET changes nothing: safe to retry whatever happened
                raise TwilioServerError(f"listing failed: {type(exc).__name__}") from None
            if response.status_code != 200:
                raise self._failure(response)
            data: dict[str, Any] = response.json()
            return data

        result: dict[str, Any] = retrying("twilio.list", self.policy, sleep=self.sleep)(once)
        return result

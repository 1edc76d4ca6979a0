"""What `smsync run` checks before it migrates or serves, so a sidecar that cannot work
never starts looking healthy.

First, offline: every credential it will need is complete (Salesforce: one whole login
flow; HubSpot: a private-app token or the OAuth trio; Twilio: account SID, auth token, and
a sender), all missing ones named together. Then each vendor is reached once with the same
cheap authenticated call `/readyz` makes (`connector.runtime.readiness`), as
`SMSYNC_STARTUP_CHECKS` says:

    strict (default)  a refusal (401/403), another 4xx, or a vendor that cannot be reached
                      (DNS, connection refused, TLS, timeout) stops the start: exit 2,
                      naming the vendor, the host and what to fix, nothing written
    warn              the same problems are logged and the sidecar starts; /readyz
                      reports them until they are fixed
    off               no calls at start (the offline checks still run)

A vendor that answers but is busy or down (429, 5xx) never stops the start: that is not a
configuration mistake, and every job retries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import requests
import structlog
import urllib3

from connector.config import Settings, env_name
from connector.errors import AuthError, ConfigError, RetriableError
from connector.logs import scrub_text
from connector.ports import TokenVault
from connector.runtime.readiness import Check
from connector.sms.twilio.client import TwilioSms

if TYPE_CHECKING:
    from connector.crm.hubspot.auth import TokenSource

log = structlog.get_logger(__name__)

# check name -> (vendor, the settings field of the base URL it calls)
_CRM = {"salesforce": ("Salesforce", "sf_login_url"), "hubspot": ("HubSpot", "hubspot_base_url")}
_SMS = ("Twilio", "twilio_base_url")


def credentials(
    settings: Settings, *, vault: TokenVault | None = None, sms: bool = True
) -> tuple[TwilioSms | None, TokenSource | None]:
    """The SMS adapter (when `sms`) and, for HubSpot, the CRM's token source over `vault`,
    built from complete credentials; else one ConfigError naming every missing or unusable
    setting."""
    problems: list[str] = []
    twilio: TwilioSms | None = None
    tokens: TokenSource | None = None
    if sms:
        try:
            twilio = TwilioSms.from_settings(settings)
        except ConfigError as exc:
            problems.append(str(exc))
    try:
        if settings.crm == "salesforce":
            from connector.crm.salesforce.auth import token_form

            token_form(settings)  # a whole flow, and a JWT key that reads as a key
        else:
            from connector.crm.hubspot.client import tokens_from_settings

            tokens = tokens_from_settings(settings, vault)
    except ConfigError as exc:
        problems.append(str(exc))
    if problems:
        raise ConfigError("\n".join(problems))
    return twilio, tokens


def _network_failure(exc: BaseException) -> BaseException | None:
    """The connection-level error behind `exc` (its cause chain included), if any."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(
            seen, requests.ConnectionError | requests.Timeout | urllib3.exceptions.HTTPError
        ):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _explain(exc: Exception, vendor: str, url_field: str, settings: Settings) -> tuple[bool, str]:
    """(stops a strict start?, what to tell the operator)."""
    url = str(getattr(settings, url_field))
    host = urlsplit(url).netloc or url
    detail = scrub_text(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    if isinstance(exc, AuthError | ConfigError):  # they say which variables to fix
        return True, detail if detail.startswith(vendor) else f"{vendor}: {detail}"
    network = _network_failure(exc)
    if network is not None:
        if isinstance(network, requests.exceptions.SSLError):
            why = (
                "the TLS certificate was not trusted; set SMSYNC_CA_FILE to the CA that signed"
                f" it, or check {env_name(url_field)}"
            )
        elif isinstance(network, requests.Timeout):
            why = f"no answer in time; check {env_name(url_field)}, the network and proxies"
        else:
            why = f"no connection; check {env_name(url_field)}, DNS and the network"
        return True, f"{vendor}: cannot reach {host} ({type(network).__name__}): {why}"
    if isinstance(exc, RetriableError):
        return False, f"{vendor} at {host}: {detail}"
    return True, f"{vendor} at {host}: {type(exc).__name__}: {detail}"


def reach_vendors(settings: Settings, checks: Mapping[str, Check]) -> None:
    """Run the `crm` and `sms` checks once, as `SMSYNC_STARTUP_CHECKS` says."""
    mode = settings.startup_checks
    if mode == "off":
        log.info("startup.vendor_checks_skipped", setting="SMSYNC_STARTUP_CHECKS=off")
        return
    vendors = {"crm": _CRM[settings.crm], "sms": _SMS}
    failures: list[str] = []
    for name, check in checks.items():
        vendor, url_field = vendors.get(name, (name, "public_base_url"))
        try:
            check()
        except Exception as exc:  # noqa: BLE001 - every failure is explained, none escapes raw
            stops, message = _explain(exc, vendor, url_field, settings)
            if stops and mode == "strict":
                failures.append(message)
            else:
                log.warning("startup.vendor_problem", vendor=vendor, problem=message)
        else:
            log.info("startup.vendor_ok", vendor=vendor)
    if failures:
        raise ConfigError(
            "start-up check failed; nothing was migrated or served:\n  "
            + "\n  ".join(failures)
            + "\n(SMSYNC_STARTUP_CHECKS=warn starts anyway and lets /readyz report it)"
        )

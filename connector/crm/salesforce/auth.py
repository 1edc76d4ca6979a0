"""OAuth 2.0 against SF_LOGIN_URL, done by us, and the one shared session per identity.

simple-salesforce's own login hard-codes `*.salesforce.com`, and a client built from a
session id never refreshes (one built from credentials recurses on 401 without bound). So
we log in ourselves, hand `session_id` and `instance_url` over, and refresh in this layer:
exactly once per expired session, under a lock every worker of the process shares.

Flows, first that is configured wins: JWT bearer (SF_JWT_KEY_FILE), password
(SF_PASSWORD), client credentials (SF_CLIENT_SECRET alone). `FLOWS` lists the variables
that complete each; `token_form` refuses an incomplete one offline, naming what is missing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import jwt
import requests
import structlog

from connector.config import Settings, env_name, is_unset
from connector.errors import AuthError, ConfigError, RetriableError
from connector.ports import Clock
from connector.retry import RetryPolicy, retrying

log = structlog.get_logger(__name__)
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_LIFETIME_S = 180  # Salesforce accepts assertions that expire within 3 minutes
TIMEOUT = (10.0, 60.0)


@dataclass(frozen=True, slots=True)
class Login:
    """One session. `generation` tells a stale session from the one that replaced it."""

    access_token: str
    instance_url: str
    generation: int


# the settings each login flow needs, in the order `grant_of` picks the flow
FLOWS: dict[str, tuple[str, ...]] = {
    "jwt": ("sf_client_id", "sf_username", "sf_jwt_key_file"),
    "password": ("sf_client_id", "sf_client_secret", "sf_username", "sf_password"),
    "client_credentials": ("sf_client_id", "sf_client_secret"),
}
FLOW_NAMES = {
    "jwt": "JWT bearer",
    "password": "password",
    "client_credentials": "client credentials",
}


def grant_of(settings: Settings) -> str:
    if settings.sf_jwt_key_file is not None:
        return "jwt"
    if not is_unset(settings.sf_password):
        return "password"
    return "client_credentials"


def _require_flow(settings: Settings, grant: str) -> None:
    missing = [env_name(f) for f in FLOWS[grant] if is_unset(getattr(settings, f))]
    if missing:
        flows = "; ".join(
            f"{FLOW_NAMES[g]}: {', '.join(env_name(f) for f in fields)}"
            for g, fields in FLOWS.items()
        )
        raise ConfigError(
            f"missing settings: {', '.join(missing)} for the Salesforce {FLOW_NAMES[grant]}"
            f" login. Salesforce needs one complete flow ({flows})"
        )


def token_form(settings: Settings, *, now: float | None = None) -> dict[str, str]:
    """The form of `POST /services/oauth2/token` for the configured flow; a ConfigError,
    before any call, when the flow is incomplete or the JWT key does not read as a key.
    `now` (epoch seconds, the sidecar's clock) dates the JWT when it is later than the
    wall clock: a sidecar on a sandbox clock moved ahead signs assertions the sandbox holds
    current, while Salesforce itself, a clock behind (a test's frozen one) and no clock
    all get the wall clock's."""
    grant = grant_of(settings)
    _require_flow(settings, grant)
    if grant == "jwt":
        path = settings.sf_jwt_key_file
        assert path is not None
        try:
            key = path.read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"SF_JWT_KEY_FILE: cannot read {str(path)!r} ({exc.strerror}); point it at the"
                " PEM private key of the connected app's certificate"
            ) from exc
        claims = {
            "iss": settings.sf_client_id,
            "sub": settings.sf_username,
            "aud": settings.sf_login_url,
            "exp": int(max(time.time(), now or 0.0)) + JWT_LIFETIME_S,
        }
        try:
            assertion = jwt.encode(claims, key, algorithm="RS256")
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise ConfigError(
                "SF_JWT_KEY_FILE does not hold a usable RSA private key (PEM); export the"
                " connected app certificate's key again"
            ) from exc
        return {"grant_type": JWT_BEARER, "assertion": assertion}
    if grant == "password":
        assert settings.sf_client_secret is not None
        assert settings.sf_password is not None
        return {
            "grant_type": "password",
            "client_id": str(settings.sf_client_id),
            "client_secret": settings.sf_client_secret.get_secret_value(),
            "username": str(settings.sf_username),
            "password": settings.sf_password.get_secret_value(),
        }
    assert settings.sf_client_secret is not None
    return {
        "grant_type": "client_credentials",
        "client_id": str(settings.sf_client_id),
        "client_secret": settings.sf_client_secret.get_secret_value(),
    }


_HINTS = {
    "jwt": "check SF_CLIENT_ID, SF_USERNAME and that the connected app holds the certificate"
    " of SF_JWT_KEY_FILE and is pre-authorised for the user",
    "password": "check SF_USERNAME, SF_PASSWORD (with the security token appended if the org"
    " needs one), SF_CLIENT_ID and SF_CLIENT_SECRET",
    "client_credentials": "check SF_CLIENT_ID, SF_CLIENT_SECRET and the connected app's"
    " run-as user",
}


def credentials_hint(settings: Settings) -> str:
    """Which variables to check when Salesforce refuses the configured login."""
    return _HINTS[grant_of(settings)]


def _refused(grant: str, response: requests.Response) -> AuthError:
    try:
        body: Any = response.json()
    except ValueError:
        body = {}
    error = str(body.get("error", "")) if isinstance(body, dict) else ""
    detail = str(body.get("error_description", "")) if isinstance(body, dict) else ""
    return AuthError(
        f"Salesforce refused the {grant} login ({error or response.status_code}: "
        f"{detail or 'no detail'}). The credentials are wrong or were revoked: {_HINTS[grant]};"
        " then restart smsync. Nothing was written meanwhile."
    )


class SessionManager:
    """Logs in, and refreshes a stale session once however many workers saw it expire."""

    _shared: ClassVar[dict[tuple[str, ...], SessionManager]] = {}
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        settings: Settings,
        *,
        verify: str | bool,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], Any] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.verify = verify
        self.policy = policy or RetryPolicy(attempts=4, max_total_s=60)
        self.sleep = sleep
        self.grant = grant_of(settings)
        self.logins = 0
        self._lock = threading.Lock()
        self._current: Login | None = None

    @classmethod
    def shared(
        cls,
        settings: Settings,
        *,
        verify: str | bool,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], Any] | None = None,
        clock: Clock | None = None,
    ) -> SessionManager:
        """One manager (so one lock and one session) per org identity in this process.
        A `clock` given (the sidecar's) dates its logins from then on, whoever made it
        first (the start-up org check makes it without one)."""
        key = (
            settings.sf_login_url,
            str(settings.sf_client_id),
            str(settings.sf_username),
            grant_of(settings),
        )
        with cls._shared_lock:
            found = cls._shared.get(key)
            if found is None:
                found = cls(settings, verify=verify, policy=policy, sleep=sleep, clock=clock)
                cls._shared[key] = found
            elif clock is not None:
                found.clock = clock
            return found

    def current(self) -> Login:
        with self._lock:
            if self._current is None:
                self._current = self._login(0)
            return self._current

    def refresh(self, stale: Login) -> Login:
        """A new session, unless another worker already replaced `stale`: then that one."""
        with self._lock:
            if self._current is not None and self._current.generation != stale.generation:
                return self._current
            log.info("salesforce.session_refresh", generation=stale.generation + 1)
            self._current = self._login(stale.generation + 1)
            return self._current

    def _login(self, generation: int) -> Login:
        url = f"{self.settings.sf_login_url}/services/oauth2/token"
        kwargs: dict[str, Any] = {"sleep": self.sleep} if self.sleep is not None else {}
        body: Any = None
        for attempt in retrying("salesforce.login", self.policy, **kwargs):
            with attempt:
                now = self.clock.now().timestamp() if self.clock is not None else None
                form = token_form(self.settings, now=now)  # a fresh JWT on every attempt
                try:
                    # a short-lived session: logins are rare, and nothing shared stays open
                    with requests.Session() as http:
                        response = http.post(url, data=form, timeout=TIMEOUT, verify=self.verify)
                except requests.RequestException as exc:
                    raise RetriableError(  # the cause tells start-up checks "unreachable"
                        f"Salesforce login: {type(exc).__name__}; will retry"
                    ) from exc
                if response.status_code >= 500:
                    raise RetriableError(f"Salesforce login: HTTP {response.status_code}")
                if response.status_code != 200:
                    raise _refused(self.grant, response)
                body = response.json()
        self.logins += 1
        body = body if isinstance(body, dict) else {}
        token, instance = body.get("access_token"), body.get("instance_url")
        if not token or not instance:
            raise AuthError(
                "Salesforce login answered without access_token or instance_url; check"
                " SF_LOGIN_URL points at a Salesforce login endpoint"
            )
        log.info("salesforce.login", grant=self.grant, instance_url=instance)
        return Login(str(token), str(instance).rstrip("/"), generation)

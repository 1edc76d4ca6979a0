"""Settings from the environment (with `*_FILE` variants for every secret), validated whole
before anything runs, and the loaders for the admin's YAML files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from connector.errors import ConfigError

PREFIX = "SMSYNC_"


def _vendor(name: str) -> Any:
    """Vendor credentials keep their vendors' usual names (no SMSYNC_ prefix)."""
    return Field(default=None, validation_alias=AliasChoices(name))


class Settings(BaseSettings):
    """Every knob of the sidecar. Read-only once loaded."""

    # env_ignore_empty: `TWILIO_AUTH_TOKEN=` is unset (so `require` names it), and an empty
    # SF_JWT_KEY_FILE never becomes Path("."), the current directory
    model_config = SettingsConfigDict(
        env_prefix=PREFIX,
        extra="ignore",
        frozen=True,
        populate_by_name=False,
        env_ignore_empty=True,
    )

    crm: Literal["salesforce", "hubspot"] = "salesforce"
    database_url: str = "sqlite:///var/smsync.db"
    mappings: Path | None = None
    plays: Path | None = None
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    public_base_url: str | None = None
    # a tracked link's short URL (SMSYNC_PUBLIC_BASE_URL/l/<token>) answers 404 after this
    link_ttl_days: float = Field(default=30.0, gt=0, le=3_650)
    # who shortens and counts a play's links: smsync's own `/l/<token>`, or Twilio Link
    # Shortening (a Messaging Service send with ShortenUrls=true; its click callbacks come
    # to POST /webhooks/twilio/click)
    link_tracking: Literal["smsync", "twilio"] = "smsync"
    ca_file: Path | None = None
    # a hand-run sidecar lives on the sandbox's clock (its `/__sandbox/clock` URL), so SLA
    # breaches and quiet hours can be tried by moving it; never set against a real org
    sandbox_clock_url: str | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = "auto"
    api_usage_stop_share: float = Field(default=0.8, gt=0, le=1)
    pull_lookback_s: float = Field(default=300.0, ge=0, le=86_400)
    # `smsync run`: one interval per periodic job (SMSYNC_<JOB>_INTERVAL_S), the grace
    # period on SIGTERM, and how long a readiness answer is reused
    pull_interval_s: float = Field(default=60.0, gt=0, le=86_400)
    send_interval_s: float = Field(default=10.0, gt=0, le=86_400)
    ingest_interval_s: float = Field(default=5.0, gt=0, le=86_400)
    writeback_interval_s: float = Field(default=15.0, gt=0, le=86_400)
    reconcile_interval_s: float = Field(default=300.0, gt=0, le=86_400)
    sweep_interval_s: float = Field(default=60.0, gt=0, le=86_400)
    gauges_interval_s: float = Field(default=15.0, gt=0, le=86_400)
    # reps' texts from the CRM (mapping `rep_send:`): one targeted query per pass
    rep_send_interval_s: float = Field(default=15.0, gt=0, le=86_400)
    shutdown_timeout_s: float = Field(default=25.0, gt=0, le=3_600)
    ready_cache_s: float = Field(default=5.0, ge=0, le=600)
    # How long a claimed inbox or SMS-outbox row (claim_lease_s) or CRM-outbox batch
    # (writeback_lease_s) stays with a worker without a heartbeat. The worker renews it
    # every lease/3 while it works on the rows; after a crash, another replica takes the
    # rows over once the lease has run out (within one lease of the last heartbeat).
    claim_lease_s: float = Field(default=30.0, ge=5, le=3_600)
    writeback_lease_s: float = Field(default=30.0, ge=5, le=3_600)
    # Attempts before an inbox item, a queued text or a CRM write is dead-lettered (left to
    # an operator, never tried again); data the store refuses is dead-lettered at once.
    max_attempts_inbox: int = Field(default=10, ge=1, le=1_000)
    max_attempts_sms: int = Field(default=10, ge=1, le=1_000)
    max_attempts_crm: int = Field(default=8, ge=1, le=1_000)
    # mappings and plays files over this size are refused before they are parsed
    config_max_bytes: int = Field(default=1_048_576, ge=1_024, le=64 * 1_048_576)
    # `smsync run` calls each vendor once before it migrates or serves: strict exits 2 when
    # one refuses the credentials or cannot be reached, warn logs it and starts, off skips
    startup_checks: Literal["strict", "warn", "off"] = "strict"
    # `smsync run` also checks the mapping and plays against the org at start (as `smsync
    # mappings check` does): warn logs each problem and starts, strict exits 2, off skips.
    # Skipped, too, when SMSYNC_STARTUP_CHECKS=off (no vendor is called at start then).
    config_check: Literal["strict", "warn", "off"] = "warn"
    # bearer token for `POST /api/send` (SMSYNC_API_TOKEN or SMSYNC_API_TOKEN_FILE); unset,
    # the API answers 401 to everyone
    api_token: SecretStr | None = None
    # how long `POST /api/send` waits for the provider before answering 202 "in_flight"
    # (the send carries on in the background and is never sent twice)
    api_send_timeout_s: float = Field(default=15.0, gt=0, le=300)
    # Operations (issue 19): `smsync status` and the alerts job call the store unhealthy
    # past these thresholds; alerts go to the webhook (unset: evaluated, logged, not sent),
    # at most one per condition per window. SMSYNC_ADMIN_TOKEN turns `GET /admin` on.
    alert_writeback_lag_s: float = Field(default=900.0, gt=0, le=7 * 86_400)
    alert_job_failures: int = Field(default=3, ge=1, le=1_000)
    alert_rejection_pct: float = Field(default=20.0, gt=0, le=100)
    alert_api_budget_pct: float = Field(default=80.0, gt=0, le=100)
    alert_optout_spike: int = Field(default=10, ge=1, le=1_000_000)
    alert_window_s: float = Field(default=3_600.0, ge=60, le=7 * 86_400)
    alert_webhook_url: SecretStr | None = None
    alert_webhook_format: Literal["slack", "json"] = "json"
    alerts_interval_s: float = Field(default=60.0, gt=0, le=86_400)
    admin_token: SecretStr | None = None

    sf_login_url: str = Field(
        default="https://login.salesforce.com", validation_alias=AliasChoices("SF_LOGIN_URL")
    )
    sf_client_id: str | None = _vendor("SF_CLIENT_ID")
    sf_client_secret: SecretStr | None = _vendor("SF_CLIENT_SECRET")
    sf_username: str | None = _vendor("SF_USERNAME")
    sf_password: SecretStr | None = _vendor("SF_PASSWORD")
    sf_jwt_key_file: Path | None = _vendor("SF_JWT_KEY_FILE")
    sf_api_version: str = Field(default="62.0", validation_alias=AliasChoices("SF_API_VERSION"))
    sf_query_batch_size: int = Field(
        default=2000, ge=200, le=2000, validation_alias=AliasChoices("SF_QUERY_BATCH_SIZE")
    )
    # above this many changed rows of one object a pull reads them with a Bulk API 2.0
    # query job instead of REST pages (0: never); SMSYNC_SF_BULK_THRESHOLD
    sf_bulk_threshold: int = Field(default=10_000, ge=0, le=100_000_000)

    hubspot_access_token: SecretStr | None = _vendor("HUBSPOT_ACCESS_TOKEN")
    # OAuth instead of a private-app token: the refresh token (rotated copies persist in the
    # store) plus the app's client id and secret; HUBSPOT_ACCESS_TOKEN is then optional
    hubspot_client_id: str | None = _vendor("HUBSPOT_CLIENT_ID")
    hubspot_client_secret: SecretStr | None = _vendor("HUBSPOT_CLIENT_SECRET")
    hubspot_refresh_token: SecretStr | None = _vendor("HUBSPOT_REFRESH_TOKEN")
    hubspot_base_url: str = Field(
        default="https://api.hubapi.com", validation_alias=AliasChoices("HUBSPOT_BASE_URL")
    )

    twilio_account_sid: str | None = _vendor("TWILIO_ACCOUNT_SID")
    twilio_auth_token: SecretStr | None = _vendor("TWILIO_AUTH_TOKEN")
    twilio_messaging_service_sid: str | None = _vendor("TWILIO_MESSAGING_SERVICE_SID")
    twilio_from: str | None = _vendor("TWILIO_FROM")
    twilio_base_url: str = Field(
        default="https://api.twilio.com", validation_alias=AliasChoices("TWILIO_BASE_URL")
    )

    @field_validator(
        "sf_login_url",
        "hubspot_base_url",
        "twilio_base_url",
        "public_base_url",
        "sandbox_clock_url",
    )
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,  # noqa: ARG003 - no .env files: env only
        file_secret_settings: PydanticBaseSettingsSource,  # noqa: ARG003 - replaced by *_FILE
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _FileSecretsSource(settings_cls))


def env_name(field_name: str) -> str:
    """The environment variable an operator sets for a settings field."""
    info = Settings.model_fields[field_name]
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        first = alias.choices[0]
        if isinstance(first, str):
            return first
    return PREFIX + field_name.upper()


SECRET_FIELDS = tuple(
    name for name, info in Settings.model_fields.items() if info.annotation == SecretStr | None
)


class _FileSecretsSource(EnvSettingsSource):
    """`NAME_FILE=/run/secrets/x` supplies a secret `NAME` (Docker and Kubernetes style).

    Ranked below the plain variable, so an explicit value wins."""

    def get_field_value(  # the base class's signature
        self,
        field: FieldInfo,  # noqa: ARG002
        field_name: str,
    ) -> tuple[Any, str, bool]:
        if field_name not in SECRET_FIELDS:
            return None, field_name, False
        var = env_name(field_name) + "_FILE"
        path = os.environ.get(var)
        if not path:
            return None, field_name, False
        try:
            secret = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"{var}: cannot read {path!r} ({exc.strerror}); point it at a readable file"
                " holding only the secret"
            ) from exc
        if not secret:
            raise ConfigError(f"{var}: {path!r} is empty; put the secret in it, or unset {var}")
        return secret, field_name, False

    def __call__(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for name, info in self.settings_cls.model_fields.items():
            value, _, _ = self.get_field_value(info, name)
            if value is not None:
                # aliased (vendor-named) fields are populated by their alias only
                key = env_name(name) if info.validation_alias else name
                data[key] = value
        return data


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, or a ConfigError naming each bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            field_name = str(err["loc"][0]) if err["loc"] else ""
            var = env_name(field_name) if field_name in Settings.model_fields else field_name
            shown = "" if field_name in SECRET_FIELDS else f" (got {err.get('input')!r})"
            lines.append(f"{var}: {err['msg']}{shown}; fix the variable or unset it")
        raise ConfigError("invalid settings:\n  " + "\n  ".join(lines)) from None


def is_unset(value: object) -> bool:
    """None, or empty text (a secret included): either way nothing usable was given."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return value is None or (isinstance(value, str) and not value.strip())


def require(settings: Settings, *fields: str, hint: str = "") -> None:
    """Fail fast, naming every missing variable, before any network call; `hint` says
    what else would do (another way to sign in, say)."""
    missing = [env_name(f) for f in fields if is_unset(getattr(settings, f))]
    if missing:
        raise ConfigError(
            "missing settings: "
            + ", ".join(missing)
            + " (set each variable, or its _FILE variant for secrets)"
            + (f"; {hint}" if hint else "")
        )


def mapping_path(settings: Settings) -> Path:
    """`SMSYNC_MAPPINGS`, else the example for the configured CRM."""
    return settings.mappings or Path("mappings") / f"{settings.crm}.yaml"

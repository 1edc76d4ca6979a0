"""Settings: SMSYNC_ prefix, vendor names for credentials, *_FILE secrets, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.config import SECRET_FIELDS, env_name, load_settings, require
from connector.errors import ConfigError


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(__import__("os").environ):
        if name.startswith(("SMSYNC_", "SF_", "HUBSPOT_", "TWILIO_")):
            monkeypatch.delenv(name)


def test_defaults_match_the_design() -> None:
    s = load_settings()
    assert s.database_url == "sqlite:///var/smsync.db"
    assert (s.http_host, s.http_port) == ("127.0.0.1", 8080)
    assert s.sf_login_url == "https://login.salesforce.com"
    assert s.twilio_base_url == "https://api.twilio.com"


def test_vendor_variables_keep_vendor_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSYNC_CRM", "hubspot")
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "pat-123456")
    monkeypatch.setenv("TWILIO_BASE_URL", "http://127.0.0.1:9/")
    s = load_settings()
    assert s.crm == "hubspot"
    assert s.hubspot_access_token is not None
    assert s.hubspot_access_token.get_secret_value() == "pat-123456"
    assert s.twilio_base_url == "http://127.0.0.1:9"


def test_every_secret_has_a_file_variant(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert set(SECRET_FIELDS) == {
        "sf_client_secret",
        "sf_password",
        "hubspot_access_token",
        "hubspot_client_secret",
        "hubspot_refresh_token",
        "twilio_auth_token",
        "api_token",
        "alert_webhook_url",
        "admin_token",
    }
    for i, field in enumerate(SECRET_FIELDS):
        path = tmp_path / f"s{i}"
        path.write_text(f"secret-{i}\n")
        monkeypatch.setenv(env_name(field) + "_FILE", str(path))
    s = load_settings()
    for i, field in enumerate(SECRET_FIELDS):
        assert getattr(s, field).get_secret_value() == f"secret-{i}"


def test_plain_variable_wins_over_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "tok"
    path.write_text("from-file")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN_FILE", str(path))
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "from-env")
    token = load_settings().twilio_auth_token
    assert token is not None
    assert token.get_secret_value() == "from-env"


def test_unreadable_secret_file_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SF_PASSWORD_FILE", "/nonexistent/pw")
    with pytest.raises(ConfigError, match="SF_PASSWORD_FILE: cannot read"):
        load_settings()


def test_errors_name_every_bad_variable_and_hide_secret_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SMSYNC_HTTP_PORT", "eighty")
    monkeypatch.setenv("SMSYNC_CRM", "pipedrive")
    monkeypatch.setenv("TWILIO_BASE_URL", "api.twilio.com")
    with pytest.raises(ConfigError) as info:
        load_settings()
    text = str(info.value)
    assert "SMSYNC_HTTP_PORT" in text
    assert "SMSYNC_CRM" in text
    assert "TWILIO_BASE_URL: Value error, must start with http:// or https://" in text


def test_require_lists_all_missing_variables() -> None:
    with pytest.raises(ConfigError, match="TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN"):
        require(load_settings(), "twilio_account_sid", "twilio_auth_token")


def test_empty_values_count_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC123")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "")
    monkeypatch.setenv("SF_JWT_KEY_FILE", "")
    monkeypatch.setenv("SMSYNC_HTTP_PORT", "")
    s = load_settings()
    assert s.twilio_auth_token is None
    assert s.sf_jwt_key_file is None  # not Path(""), which reads as the current directory
    assert s.http_port == 8080
    with pytest.raises(ConfigError, match=r"missing settings: TWILIO_AUTH_TOKEN \("):
        require(s, "twilio_account_sid", "twilio_auth_token")


def test_an_empty_secret_file_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("\n", encoding="utf-8")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN_FILE", str(path))
    with pytest.raises(ConfigError, match=r"TWILIO_AUTH_TOKEN_FILE: .* is empty"):
        load_settings()


def test_link_tracking_is_smsync_or_twilio(monkeypatch: pytest.MonkeyPatch) -> None:
    from connector.sms.twilio.client import TwilioSms

    assert load_settings().link_tracking == "smsync"
    monkeypatch.setenv("SMSYNC_LINK_TRACKING", "twilio")
    assert load_settings().link_tracking == "twilio"
    monkeypatch.setenv("SMSYNC_LINK_TRACKING", "bitly")
    with pytest.raises(ConfigError, match="SMSYNC_LINK_TRACKING"):
        load_settings()
    # Twilio shortens links only on Messaging Service sends
    with pytest.raises(ConfigError, match="TWILIO_MESSAGING_SERVICE_SID"):
        TwilioSms(
            account_sid="AC" + "0" * 32, auth_token="t", from_="+15005550006", shorten_urls=True
        )

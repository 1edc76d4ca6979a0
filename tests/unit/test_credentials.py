"""Start-up credential checks, offline: each vendor's complete set is named when it is not
there (Salesforce: one whole login flow; HubSpot: a token or the OAuth trio; Twilio: SID,
token and a sender), all problems at once, before any call or any database."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.config import Settings, load_mapping, load_settings
from connector.crm.salesforce.auth import token_form
from connector.crm.salesforce.client import SalesforceCrm
from connector.errors import ConfigError
from connector.runtime.readiness import hubspot_check
from connector.runtime.startup import credentials

ROOT = Path(__file__).resolve().parents[2]
TWILIO = {"TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "t", "TWILIO_FROM": "+15005550006"}


def settings(**env: str) -> Settings:
    """Settings from these variables alone (the environment is cleared); `crm` by name."""
    return load_settings(**env)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(__import__("os").environ):
        if name.startswith(("SMSYNC_", "SF_", "HUBSPOT_", "TWILIO_")):
            monkeypatch.delenv(name)


def test_salesforce_names_what_completes_the_chosen_flow_and_every_flow() -> None:
    s = settings(SF_CLIENT_ID="id", SF_USERNAME="u@example.com", **TWILIO)
    with pytest.raises(ConfigError) as caught:
        token_form(s)
    text = str(caught.value)
    assert text.startswith(
        "missing settings: SF_CLIENT_SECRET for the Salesforce client credentials login"
    )
    assert "password: SF_CLIENT_ID, SF_CLIENT_SECRET, SF_USERNAME, SF_PASSWORD" in text
    assert "JWT bearer: SF_CLIENT_ID, SF_USERNAME, SF_JWT_KEY_FILE" in text


def test_the_salesforce_adapter_refuses_an_incomplete_flow_when_built() -> None:
    s = settings(SF_CLIENT_ID="id", SF_USERNAME="u@example.com", SF_PASSWORD="pw")
    with pytest.raises(ConfigError, match="SF_CLIENT_SECRET for the Salesforce password login"):
        SalesforceCrm.from_settings(s, load_mapping(ROOT / "mappings" / "salesforce.yaml"))


def test_every_missing_credential_is_named_at_once(tmp_path: Path) -> None:
    s = settings(crm="hubspot", TWILIO_ACCOUNT_SID="AC1")
    with pytest.raises(ConfigError) as caught:
        credentials(s)
    text = str(caught.value)
    assert "missing settings: TWILIO_AUTH_TOKEN" in text
    assert "missing settings: HUBSPOT_ACCESS_TOKEN" in text
    assert "or OAuth (HUBSPOT_CLIENT_ID, HUBSPOT_CLIENT_SECRET and HUBSPOT_REFRESH_TOKEN)" in text
    # a JWT key file that does not read as a key, and no sender
    key = tmp_path / "key.pem"
    key.write_text("not a key\n", encoding="utf-8")
    s = settings(
        SF_CLIENT_ID="id",
        SF_USERNAME="u@example.com",
        SF_JWT_KEY_FILE=str(key),
        TWILIO_ACCOUNT_SID="AC1",
        TWILIO_AUTH_TOKEN="t",
    )
    with pytest.raises(ConfigError) as caught:
        credentials(s)
    assert str(caught.value).splitlines() == [
        "set TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID to send texts",
        (
            "SF_JWT_KEY_FILE does not hold a usable RSA private key (PEM); export the"
            " connected app certificate's key again"
        ),
    ]


def test_hubspot_oauth_alone_is_complete() -> None:
    s = settings(
        crm="hubspot",
        HUBSPOT_CLIENT_ID="c",
        HUBSPOT_CLIENT_SECRET="s",
        HUBSPOT_REFRESH_TOKEN="r",
        **TWILIO,
    )
    sms, tokens = credentials(s)
    assert tokens is not None
    assert sms is not None
    assert sms.account_sid == "AC1"
    hubspot_check(s, tokens)  # the readiness check no longer demands HUBSPOT_ACCESS_TOKEN
    hubspot_check(s)

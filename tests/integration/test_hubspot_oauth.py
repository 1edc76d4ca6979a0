"""HubSpot OAuth end to end against the sandbox's /oauth/v1/token, which rotates both tokens
on every exchange: concurrent workers refresh once, the rotated pair lands in the store,
a restarted adapter carries on from it, and a refused refresh stops with an actionable
error that never shows a token."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import certifi
import pytest
import requests

from connector.config import Settings, load_settings
from connector.crm import build_crm
from connector.crm.hubspot.auth import OAuthTokens, oauth_exchange
from connector.crm.hubspot.client import TOKEN_PATH, HubSpotCrm
from connector.errors import AuthError, ConfigError, RetriableError
from connector.ports import TokenPair
from connector.sandbox.server import Sandbox
from connector.store import SqlStore
from connector.store.oauth_tokens import StoreTokenVault
from tests.integration.hubspot_kit import Account, activity, fresh_account, mapping

TOKEN_CALL = f"POST {TOKEN_PATH}"


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(vendors=("hubspot", "salesforce")) as s:
        yield s


def oauth_settings(sb: Sandbox, **env: str | None) -> Settings:
    """The sandbox's env with OAuth instead of the private-app token (none set, so the first
    call fetches an access token); `env` overrides or (None) removes variables."""
    c = sb.credentials
    values: dict[str, str | None] = {
        **sb.env(),
        "SMSYNC_CRM": "hubspot",
        "HUBSPOT_ACCESS_TOKEN": None,
        "HUBSPOT_CLIENT_ID": c.hubspot_oauth_client_id,
        "HUBSPOT_CLIENT_SECRET": c.hubspot_oauth_client_secret,
        "HUBSPOT_REFRESH_TOKEN": c.hubspot_oauth_refresh_token,
        **env,
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in values.items():
            if value is None:
                mp.delenv(key, raising=False)
            else:
                mp.setenv(key, value)
        return load_settings()


def adapter(account: Account, settings: Settings, vault: StoreTokenVault) -> HubSpotCrm:
    clock = account.sb.state.clock
    return HubSpotCrm.from_settings(
        settings,
        mapping(),
        token_vault=vault,
        clock=lambda: clock.now().timestamp(),
        sleep=clock.advance,
    )


def token_calls(account: Account) -> int:
    calls: int = account.stats()["calls_by_endpoint"].get(TOKEN_CALL, 0)
    return calls


def expire_access(sb: Sandbox) -> dict[str, Any]:
    r = requests.post(
        f"{sb.urls['admin']}/__sandbox/hubspot/oauth", json={"expire_access": True}, timeout=10
    )
    r.raise_for_status()
    out: dict[str, Any] = r.json()
    return out


def test_concurrent_workers_refresh_once_and_the_rotated_pair_is_persisted(
    sb: Sandbox, store: SqlStore
) -> None:
    account = fresh_account(sb, contacts=20)
    vault = StoreTokenVault(store, "hubspot")
    crm = adapter(account, oauth_settings(sb), vault)
    assert crm.write([activity(100)])[0].ok  # no access token yet: fetched on first use
    assert token_calls(account) == 1
    first = vault.load()
    assert first is not None
    assert first.refresh_token != sb.credentials.hubspot_oauth_refresh_token  # rotated

    assert expire_access(sb)["expired"] is True
    sb.state.stats.reset()
    gate = threading.Barrier(8, timeout=10)

    def worker(n: int) -> bool:
        gate.wait()
        return all(r.ok for r in crm.write([activity(n, target=n)]))

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(worker, range(8)))
    assert token_calls(account) == 1  # single flight
    assert 1 <= account.stats()["errors_by_status"]["401"] <= 8
    assert all(account.count("communications", activity(n).external_id) == 1 for n in range(8))
    second = vault.load()
    assert second is not None
    assert second != first
    emulator_oauth = account.emulator.oauth
    assert second == TokenPair(str(emulator_oauth.access_token), emulator_oauth.refresh_token)


def test_a_restarted_adapter_carries_on_from_the_persisted_refresh_token(
    sb: Sandbox, store: SqlStore
) -> None:
    account = fresh_account(sb, contacts=5)
    settings = oauth_settings(sb)
    before = build_crm(settings, mapping(), token_vault=StoreTokenVault(store, "hubspot"))
    assert before.write([activity(1)])[0].ok
    assert token_calls(account) == 1

    # the configured refresh token was rotated out: HubSpot (the sandbox) now refuses it
    c = sb.credentials
    refused = requests.post(
        sb.urls["hubspot"] + TOKEN_PATH,
        data={
            "grant_type": "refresh_token",
            "client_id": c.hubspot_oauth_client_id,
            "client_secret": c.hubspot_oauth_client_secret,
            "refresh_token": c.hubspot_oauth_refresh_token,
        },
        timeout=10,
    )
    assert refused.status_code == 400
    assert refused.json()["status"] == "BAD_REFRESH_TOKEN"
    assert refused.json()["message"] == "missing or unknown refresh token"

    expire_access(sb)  # the restarted adapter must refresh, with the stored refresh token
    after = build_crm(settings, mapping(), token_vault=StoreTokenVault(store, "hubspot"))
    assert after.write([activity(2)])[0].ok
    assert token_calls(account) == 3  # first use, the refused one above, the restart's
    stored = StoreTokenVault(store, "hubspot").load()
    assert stored is not None
    assert stored.refresh_token == account.emulator.oauth.refresh_token


def test_a_revoked_refresh_token_stops_with_an_actionable_error_without_the_token(
    sb: Sandbox, store: SqlStore
) -> None:
    account = fresh_account(sb, contacts=5)
    revoked = "na1-0b5e2c1a-7a64-4e0e-9f3b-revokedrevoked"
    vault = StoreTokenVault(store, "hubspot")
    crm = adapter(account, oauth_settings(sb, HUBSPOT_REFRESH_TOKEN=revoked), vault)
    with pytest.raises(AuthError) as info:
        crm.write([activity(1)])
    text = str(info.value)
    assert "BAD_REFRESH_TOKEN" in text
    assert "HUBSPOT_REFRESH_TOKEN" in text
    assert revoked not in text
    assert sb.credentials.hubspot_oauth_client_secret not in text
    assert token_calls(account) == 1  # not retried: it cannot succeed
    assert vault.load() is None
    assert account.count("communications", activity(1).external_id) == 0


def test_a_wrong_client_secret_names_the_client_settings(sb: Sandbox, store: SqlStore) -> None:
    account = fresh_account(sb, contacts=0)
    wrong = "5f0e6a3c-0000-4000-8000-wrongsecret00"
    crm = adapter(
        account, oauth_settings(sb, HUBSPOT_CLIENT_SECRET=wrong), StoreTokenVault(store, "hs")
    )
    with pytest.raises(AuthError, match="BAD_CLIENT_SECRET") as info:
        crm.write([activity(1)])
    assert "HUBSPOT_CLIENT_SECRET" in str(info.value)
    assert wrong not in str(info.value)


def test_the_private_app_token_still_works_while_oauth_is_in_use(sb: Sandbox) -> None:
    fresh_account(sb, contacts=5)
    oauth = build_crm(oauth_settings(sb), mapping())
    private_app = {
        "HUBSPOT_REFRESH_TOKEN": None,
        "HUBSPOT_ACCESS_TOKEN": sb.credentials.hubspot_token,
    }
    private = build_crm(oauth_settings(sb, **private_app), mapping())
    assert oauth.write([activity(1)])[0].ok
    assert private.write([activity(2)])[0].ok


def test_a_reauthorised_refresh_token_replaces_a_dead_stored_one(sb: Sandbox) -> None:
    """The operator's way out: set HUBSPOT_REFRESH_TOKEN anew; the stored one is refused
    and the configured one is tried once."""
    account = fresh_account(sb, contacts=0)
    current = sb.credentials.hubspot_oauth_refresh_token  # what a re-authorisation hands out

    class Dead:
        def __init__(self) -> None:
            self.saved: list[TokenPair] = []

        def load(self) -> TokenPair | None:
            return TokenPair("", "na1-dead-rotated-long-ago")

        def save(self, pair: TokenPair) -> None:
            self.saved.append(pair)

    c = sb.credentials
    exchange = oauth_exchange(
        sb.urls["hubspot"] + TOKEN_PATH, c.hubspot_oauth_client_id, c.hubspot_oauth_client_secret
    )
    vault = Dead()
    tokens = OAuthTokens(TokenPair("", current), exchange, vault)
    assert tokens.token() == account.emulator.oauth.access_token
    assert vault.saved == [TokenPair(tokens.token(), account.emulator.oauth.refresh_token)]


def test_missing_client_settings_are_named_before_any_call(sb: Sandbox) -> None:
    settings = oauth_settings(sb, HUBSPOT_CLIENT_ID=None, HUBSPOT_CLIENT_SECRET=None)
    with pytest.raises(ConfigError, match="HUBSPOT_CLIENT_ID, HUBSPOT_CLIENT_SECRET"):
        build_crm(settings, mapping())


def test_the_exchange_trusts_the_configured_ca_over_requests_ca_bundle(
    sb: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """REQUESTS_CA_BUNDLE (public CAs only here) would override `verify`; with a CA file the
    exchange ignores it. The sandbox's TLS server (Salesforce) has no token route: a 404
    proves the TLS handshake succeeded."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    url = sb.urls["salesforce"] + TOKEN_PATH
    with pytest.raises(AuthError, match="HTTP 404"):
        oauth_exchange(url, "id", "secret", ca_file=sb.ca_file)("na1-x")
    with pytest.raises(RetriableError, match="SSLError"):
        oauth_exchange(url, "id", "secret")("na1-x")

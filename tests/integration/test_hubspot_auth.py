"""Token refresh under concurrency: workers that hit 401 EXPIRED_AUTHENTICATION together
cause one refresh, the rotated pair is persisted, and every write then succeeds.

The sandbox serves no OAuth token endpoint, so the exchange here hands back the token the
sandbox accepts with a new refresh token; the 401 and the concurrency are real."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from connector.crm.hubspot.auth import OAuthTokens, PrivateAppToken
from connector.crm.hubspot.client import HubSpotCrm
from connector.errors import AuthError
from connector.ports import TokenPair
from connector.sandbox.server import Sandbox
from tests.integration.hubspot_kit import activity, fresh_account, mapping, sb, settings_for

__all__ = ["sb"]  # pytest fixture


class Vault:
    def __init__(self) -> None:
        self.saved: list[TokenPair] = []

    def load(self) -> TokenPair | None:
        return self.saved[-1] if self.saved else None

    def save(self, pair: TokenPair) -> None:
        self.saved.append(pair)


def test_expired_token_is_refreshed_once_for_concurrent_workers(sb: Sandbox) -> None:
    account = fresh_account(sb, contacts=20)
    good = sb.credentials.hubspot_token
    exchanges: list[str] = []
    gate = threading.Barrier(8, timeout=10)

    def exchange(refresh_token: str) -> TokenPair:
        exchanges.append(refresh_token)
        return TokenPair(good, f"rt-{len(exchanges)}")

    vault = Vault()
    tokens = OAuthTokens(TokenPair(good, "rt-0"), exchange, vault)
    crm = HubSpotCrm.from_settings(settings_for(sb), mapping(), tokens=tokens)
    account.faults(session_expire_after=0)  # the next call is told the token expired

    def worker(n: int) -> bool:
        gate.wait()
        return all(r.ok for r in crm.write([activity(n, target=n)]))

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(worker, range(8)))
    assert exchanges == ["rt-0"]  # single flight
    assert tokens.refreshes == 1
    assert vault.saved == [TokenPair(good, "rt-1")]  # the rotated pair persisted
    assert account.stats()["errors_by_status"]["401"] == 1
    assert account.count("communications", activity(3).external_id) == 1


def test_a_revoked_private_app_token_fails_fast_with_an_actionable_error(sb: Sandbox) -> None:
    account = fresh_account(sb, contacts=5)
    account.emulator.revoke_token()
    crm = account.adapter()
    with pytest.raises(AuthError, match="HUBSPOT_ACCESS_TOKEN"):
        crm.write([activity(1)])
    assert crm.api.calls == 1
    assert isinstance(crm.api.tokens, PrivateAppToken)

"""HubSpot's owner directory against the sandbox: paged at the API's maximum, cached for
its TTL on the adapter's clock, and read through the limiter and retries like every call."""

from __future__ import annotations

import math

import pytest

from connector.crm.hubspot.owners import OWNERS_PAGE, OWNERS_TTL_S
from connector.sandbox.faults import ServerErrors, Storm
from connector.sandbox.seed import SeedOwner, generate
from connector.sandbox.server import Sandbox
from tests.integration.hubspot_kit import PINNED, Account, fresh_account, sb

__all__ = ["sb"]  # pytest fixture

OWNERS = 600  # more than one page


@pytest.fixture
def account(sb: Sandbox) -> Account:
    acct = fresh_account(sb, contacts=0)
    acct.emulator.seed(generate(5, seed=5, owners=OWNERS))
    return acct


def _owner_pages(account: Account) -> int:
    calls: dict[str, int] = account.stats()["calls_by_endpoint"]
    return sum(n for endpoint, n in calls.items() if "/crm/v3/owners" in endpoint)


def _seeded(account: Account) -> dict[str, SeedOwner]:
    """The seeded owners by the id the sandbox gave each."""
    by_key = account.emulator.portal.owners.by_seed_key
    return {by_key[s.key].id: s for s in generate(5, seed=5, owners=OWNERS).owners}


def test_the_directory_is_paged_whole_then_served_from_cache(account: Account) -> None:
    seeded = _seeded(account)
    assert len(seeded) == OWNERS
    crm = account.adapter()
    first, last = next(iter(seeded)), list(seeded)[-1]  # on the first and the last page
    found = crm.owners([first, last, "99999999"])
    assert set(found) == {first, last}
    assert found[last].name == f"{seeded[last].first_name} {seeded[last].last_name}"
    assert _owner_pages(account) == math.ceil(OWNERS / OWNERS_PAGE) == 2
    everyone = crm.owners(list(seeded))
    assert len(everyone) == OWNERS
    assert _owner_pages(account) == 2  # the cache answered


def test_the_cache_expires_after_its_ttl(account: Account) -> None:
    crm = account.adapter()
    assert len(crm.owners(list(_seeded(account)))) == OWNERS
    hired = account.emulator.portal.owners.add(
        SeedOwner("new", "Nadia", "Nguyen", "nadia@example.com", "East"), PINNED.isoformat()
    )
    account.sb.state.clock.advance(OWNERS_TTL_S - 1)
    assert crm.owners([hired.id]) == {}  # still the directory read a moment ago
    assert _owner_pages(account) == 2
    account.sb.state.clock.advance(2)
    assert crm.owners([hired.id])[hired.id].name == "Nadia Nguyen"
    assert _owner_pages(account) == 4


def test_throttling_and_5xx_on_the_owners_api_are_waited_out(account: Account) -> None:
    crm = account.adapter()
    (some,) = list(_seeded(account))[:1]
    account.faults(throttle=Storm(count=2, retry_after=1.0))
    assert set(crm.owners([some])) == {some}
    assert account.stats()["throttled_429"] == 2
    assert crm.api.limiter.throttled == 2

    account.sb.state.clock.advance(OWNERS_TTL_S)
    account.faults(server_errors=ServerErrors(count=2, status=503))
    assert set(crm.owners([some])) == {some}
    assert account.stats()["errors_by_status"].get("503") == 2

"""Fixtures for the CRM contract suite: one sandbox for the session, a fresh seed and a
fresh adapter per test, parametrised over every CRM adapter."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connector.sandbox.seed import SeedData, generate
from connector.sandbox.server import Sandbox
from tests.contract.adapters import CrmCase, build_case

SEED_CONTACTS = 120


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


@pytest.fixture(scope="session")
def seed_data() -> SeedData:
    return generate(SEED_CONTACTS, seed=11)


@pytest.fixture(params=["salesforce", "hubspot"])
def crm_case(request: pytest.FixtureRequest, sandbox: Sandbox, seed_data: SeedData) -> CrmCase:
    vendor: str = request.param
    sandbox.state.faults.clear()
    for emulator in sandbox.emulators.values():
        emulator.reset()
    sandbox.emulators[vendor].seed(seed_data)
    return build_case(vendor, sandbox, seed_data)

"""CRM owners (users who can own records), seeded with their teams."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

from connector.sandbox.hubspot.errors import HubSpotError
from connector.sandbox.roster import RosterUser
from connector.sandbox.seed import SeedOwner

FIRST_OWNER_ID = 70_000_001
FIRST_USER_ID = 9_000_001
MAX_PAGE = 500


@dataclass(frozen=True, slots=True)
class Owner:
    id: str
    user_id: int
    email: str
    first_name: str
    last_name: str
    team_id: str
    team: str
    created_at: str
    archived: bool = False  # deactivated: listed and read only with archived=true

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "type": "PERSON",
            "firstName": self.first_name,
            "lastName": self.last_name,
            "userId": self.user_id,
            "userIdIncludingInactive": self.user_id,
            "createdAt": self.created_at,
            "updatedAt": self.created_at,
            "archived": self.archived,
            "teams": [{"id": self.team_id, "name": self.team, "primary": True}],
        }


class OwnerDirectory:
    def __init__(self) -> None:
        self._by_id: dict[str, Owner] = {}
        self._order: list[int] = []
        self.by_seed_key: dict[str, Owner] = {}
        self._teams: dict[str, str] = {}

    def add(self, seed: SeedOwner, created_at: str) -> Owner:
        known = self.by_seed_key.get(seed.key)
        if known is not None:
            return known
        num = FIRST_OWNER_ID + len(self._order)
        team_id = self._teams.setdefault(seed.team, str(6_000_001 + len(self._teams)))
        owner = Owner(
            str(num),
            FIRST_USER_ID + len(self._order),
            seed.email,
            seed.first_name,
            seed.last_name,
            team_id,
            seed.team,
            created_at,
        )
        self._by_id[owner.id] = owner
        self._order.append(num)
        self.by_seed_key[seed.key] = owner
        return owner

    def add_fixed(self, seed: RosterUser, created_at: str) -> Owner:
        """An owner with the id an admin's files name (the roster), once."""
        known = self._by_id.get(seed.id)
        if known is not None:
            return known
        team_id = self._teams.setdefault(seed.team, str(6_000_001 + len(self._teams)))
        owner = Owner(
            seed.id,
            FIRST_USER_ID + 100_000 + int(seed.id) % 100_000,
            seed.email,
            seed.first_name,
            seed.last_name,
            team_id,
            seed.team,
            created_at,
            archived=not seed.active,
        )
        self._by_id[owner.id] = owner
        bisect.insort(self._order, int(owner.id))
        return owner

    def get(self, owner_id: str, *, archived: bool = False) -> Owner:
        owner = self._by_id.get(owner_id)
        if owner is not None and owner.archived != archived:
            owner = None
        if owner is None:
            raise HubSpotError(
                404,
                f"Owner {owner_id} was not found",
                "OBJECT_NOT_FOUND",
                context={"id": [owner_id]},
            )
        return owner

    def page(
        self, after: str | None, limit: int, email: str | None, *, archived: bool = False
    ) -> dict[str, Any]:
        """Active owners, or with `archived` only the archived ones, as the API lists them."""
        start = bisect.bisect_left(self._order, int(after)) if after and after.isdigit() else 0
        limit = max(1, min(limit, MAX_PAGE))
        matches = [
            self._by_id[str(n)]
            for n in self._order[start:]
            if (email is None or self._by_id[str(n)].email.lower() == email.lower())
            and self._by_id[str(n)].archived == archived
        ]
        out: dict[str, Any] = {"results": [o.to_api() for o in matches[:limit]]}
        if len(matches) > limit:
            out["paging"] = {"next": {"after": matches[limit].id}}
        return out

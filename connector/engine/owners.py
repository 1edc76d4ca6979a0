"""Owner names for the pulled records, so a play can say "I'm Dana" (`owner_name`,
`owner_first_name`) on either CRM.

The CRM's user directory changes rarely, so names are cached per process for
`TTL_S` and asked for in one batched call per pull batch (only for ids not cached). If the
CRM cannot answer, the pull goes on without the names: a play that requires them blocks
with `missing_data`, which `smsync explain` shows, rather than the pull failing."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

import structlog

from connector.domain.model import ContactState
from connector.errors import SmsyncError
from connector.ports import CrmPort, Owner

log = structlog.get_logger(__name__)

TTL_S = 600.0
OWNER_NAME = "owner_name"
OWNER_FIRST_NAME = "owner_first_name"


@dataclass
class OwnerNames:
    """A TTL cache in front of `CrmPort.owners`; an unknown id is cached as None too."""

    ttl_s: float = TTL_S
    clock: Callable[[], float] = time.monotonic
    _seen: dict[str, tuple[float, Owner | None]] = field(default_factory=dict)

    def lookup(self, crm: CrmPort, ids: Iterable[str]) -> dict[str, Owner]:
        now = self.clock()
        wanted = sorted({i for i in ids if i})
        missing = [i for i in wanted if i not in self._seen or self._seen[i][0] <= now]
        if missing:
            try:
                found = crm.owners(missing)
            except SmsyncError as exc:
                log.warning("owners.unavailable", asked=len(missing), error=type(exc).__name__)
                found = None
            if found is not None:
                for owner_id in missing:
                    self._seen[owner_id] = (now + self.ttl_s, found.get(owner_id))
        out: dict[str, Owner] = {}
        for owner_id in wanted:
            entry = self._seen.get(owner_id)
            if entry is not None and entry[1] is not None:
                out[owner_id] = entry[1]
        return out


def with_owner_names(
    contacts: Sequence[ContactState], owners: dict[str, Owner]
) -> list[ContactState]:
    """The records with their owner's name as segments (when the directory knows it)."""
    out: list[ContactState] = []
    for contact in contacts:
        owner = owners.get(contact.owner_id or "")
        if owner is None or owner.name is None:
            out.append(contact)
            continue
        segments = dict(contact.segments)
        segments[OWNER_NAME] = owner.name
        if owner.first_name:
            segments[OWNER_FIRST_NAME] = owner.first_name
        out.append(replace(contact, segments=segments))
    return out

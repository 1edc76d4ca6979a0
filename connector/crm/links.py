"""Small helpers both CRM adapters share: where a rep opens a record (the mapping's
`tasks.record_url`), and which of a record's kept fields the mapping places."""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import replace

from connector.domain.model import CrmRef, CrmWrite

RECORD_PREFIX = "fields:record:"  # engine.crm_records.record_id


def record_link(template: str, ref: CrmRef) -> str:
    return string.Template(template).safe_substitute(object_type=ref.object_type, id=ref.id)


def kept_only(write: CrmWrite, maps: Callable[[str, str], bool]) -> CrmWrite:
    """A record's kept-fields write (`fields:record:...`) carries every field smsync keeps
    on a record; only those the mapping places are written. Other writes are unchanged."""
    if not write.external_id.startswith(RECORD_PREFIX):
        return write
    obj = write.target.object_type
    return replace(write, fields={k: v for k, v in write.fields.items() if maps(obj, k)})

"""Where a rep opens a record: the mapping's `tasks.record_url` template, filled in."""

from __future__ import annotations

import string

from connector.domain.model import CrmRef


def record_link(template: str, ref: CrmRef) -> str:
    return string.Template(template).safe_substitute(object_type=ref.object_type, id=ref.id)

"""The adapter's SOQL, built in one place: identifiers from the validated mapping only,
and every value through simple-salesforce's `format_soql` / `quote_soql_value`."""

from __future__ import annotations

import re
from collections.abc import Sequence

from simple_salesforce.format import format_soql

from connector.ports import Cursor

_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def identifier(name: str) -> str:
    """An object or field API name; anything else is refused, never quoted into SOQL."""
    if not _IDENT.fullmatch(name):
        raise ValueError(f"not a Salesforce API name: {name!r}")
    return name


def _select(object_name: str, fields: Sequence[str]) -> str:
    # S608: identifiers pass `identifier()` (API names only); values never reach this line
    return f"SELECT {', '.join(identifier(f) for f in fields)} FROM {identifier(object_name)}"  # noqa: S608


def _after(start: Cursor | None) -> str:
    """The pull's WHERE: rows after `start` (all rows without one)."""
    if start is None:
        return ""
    if not start.id:
        return format_soql(" WHERE SystemModstamp >= {}", start.modstamp)
    return format_soql(
        " WHERE (SystemModstamp = {ts} AND Id > {id}) OR SystemModstamp > {ts}",
        ts=start.modstamp,
        id=start.id,
    )


def pull_query(object_name: str, fields: Sequence[str], start: Cursor | None) -> str:
    """Rows after `start` in (SystemModstamp, Id) order; the tie-break never skips a row.

    `quote_soql_value` drops sub-second digits, so the filter is a superset of the rows
    after `start`; the puller drops what it has already emitted."""
    return _select(object_name, fields) + _after(start) + " ORDER BY SystemModstamp, Id"


def count_query(object_name: str, start: Cursor | None) -> str:
    """How many rows `pull_query` would read: one cheap call that picks REST or Bulk."""
    return f"SELECT COUNT() FROM {identifier(object_name)}" + _after(start)  # noqa: S608


def phone_query(
    object_name: str,
    fields: Sequence[str],
    phone_fields: Sequence[str],
    spellings: Sequence[str],
    digits_pattern: str,
) -> str:
    """Candidates for one number: exact spellings, or the national digits in order with
    anything between them (`%4%1%5%...`); the caller keeps only true E.164 matches."""
    clauses = []
    for name in phone_fields:
        field = identifier(name)
        clauses.append(format_soql(f"{field} IN {{}}", list(spellings)))
        clauses.append(format_soql(f"{field} LIKE {{}}", digits_pattern))
    return _select(object_name, fields) + " WHERE " + " OR ".join(clauses) + " ORDER BY Id"


COMPLETED_AT = "CompletedDateTime"  # Task, API 45+: set by Salesforce when a task closes


def done_tasks_query(
    object_name: str, external_id_field: str, external_ids: Sequence[str], done_status: str
) -> str:
    """Which of these tasks carry the mapping's done status, and when each was closed (the
    SLA was met then, not when smsync asked); one IN list per call."""
    field = identifier(external_id_field)
    return _select(object_name, [field, COMPLETED_AT]) + format_soql(
        f" WHERE {field} IN {{ids}} AND Status = {{done}}", ids=list(external_ids), done=done_status
    )


def users_query(user_ids: Sequence[str]) -> str:
    """Names of these users; the caller passes only well-formed ids (a malformed one fails
    the whole query with INVALID_QUERY_FILTER_OPERATOR)."""
    return _select("User", ["Id", "FirstName", "LastName", "TimeZoneSidKey"]) + format_soql(
        " WHERE Id IN {}", list(user_ids)
    )

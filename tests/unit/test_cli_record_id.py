"""`explain`, `classify` and `send` take a record id as an admin copies it: bare, or in the
`Lead/00Q...` form smsync's own logs print."""

from __future__ import annotations

import pytest

from connector.cli.app import record_id


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("00Q8c000000000kEAA", "00Q8c000000000kEAA"),
        ("Lead/00Q8c000000000kEAA", "00Q8c000000000kEAA"),
        (" Contact/0038c000000000VAAQ ", "0038c000000000VAAQ"),
        ("contacts/100001", "100001"),
        ("Lead/", "Lead/"),  # nothing after the slash: left for the lookup to refuse
        ("a b/123", "a b/123"),  # not an object name
    ],
)
def test_record_id_forms(given: str, expected: str) -> None:
    assert record_id(given) == expected

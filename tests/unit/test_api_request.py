"""The `/api/send` body checks without a server: the depth scan skips strings (brackets
and escaped quotes inside them), and the send deadline is a checked setting."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.config import load_settings
from connector.errors import ConfigError
from connector.runtime.api_request import MAX_JSON_DEPTH, BadRequest, depth_within, parse


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab'),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=12,
)


@given(_json)
def test_the_scan_agrees_with_the_parsed_depth(value: object) -> None:
    raw = json.dumps(value).encode()
    for limit in range(5):
        assert depth_within(raw, limit) == (_depth(value) <= limit)


def test_brackets_inside_strings_do_not_count() -> None:
    raw = json.dumps({"contact": "[[[[[[", "play": 'x\\"{{{{{{', "body": "}}}"}).encode()
    assert depth_within(raw, 1)
    with pytest.raises(BadRequest, match="nests deeper than 4"):
        parse(json.dumps({"contact": [[[[["x"]]]]]}).encode())
    assert MAX_JSON_DEPTH == 4


@pytest.mark.parametrize("value", ["0", "-1", "301", "soon"])
def test_the_send_deadline_is_a_checked_setting(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("SMSYNC_API_SEND_TIMEOUT_S", value)
    with pytest.raises(ConfigError, match="SMSYNC_API_SEND_TIMEOUT_S"):
        load_settings()
    monkeypatch.setenv("SMSYNC_API_SEND_TIMEOUT_S", "2.5")
    assert load_settings().api_send_timeout_s == 2.5

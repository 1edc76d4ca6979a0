"""The adapter's SOQL (docs/reliability.md, fault 19): values with quotes, backslashes and
SOQL keywords stay literals; the WHERE clause the sandbox parses never changes shape."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.crm.salesforce.client import digits_pattern, spellings
from connector.crm.salesforce.queries import (
    done_tasks_query,
    identifier,
    phone_query,
    pull_query,
)
from connector.ports import Cursor
from connector.sandbox.salesforce.soql import BoolOp, Compare, InList, Literal, Not, parse

STAMP = datetime(2026, 11, 2, 15, 4, 5, tzinfo=UTC)
NASTY = st.one_of(
    st.text(),
    st.sampled_from(
        [
            "x' OR Id != '",
            "\\' OR Name LIKE '%",
            "') OR (Id != null",
            "\\\\' AND Id > '",
            "WHERE Id = 'a' ORDER BY Id LIMIT 1",
            "%_\\%\\_",
            "\n\t\r'\"",
        ]
    ),
    st.lists(st.sampled_from(["'", "\\", '"', " OR ", " AND ", "NOT ", "(", ")", "%", "x"])).map(
        "".join
    ),
)


def shape(expr: object) -> object:
    """The WHERE clause's structure: operators and fields, literals reduced to their kind."""
    if isinstance(expr, BoolOp):
        return (expr.op, tuple(shape(e) for e in expr.items))
    if isinstance(expr, Not):
        return ("NOT", shape(expr.expr))
    if isinstance(expr, Compare):
        return (expr.field.path, expr.op, expr.value.kind)
    if isinstance(expr, InList):
        return (expr.field.path, "IN", expr.negate, tuple(v.kind for v in expr.values))
    raise AssertionError(expr)


def literals(expr: object) -> list[Literal]:
    if isinstance(expr, BoolOp):
        return [lit for e in expr.items for lit in literals(e)]
    if isinstance(expr, Not):
        return literals(expr.expr)
    if isinstance(expr, Compare):
        return [expr.value]
    if isinstance(expr, InList):
        return list(expr.values)
    raise AssertionError(expr)


BENIGN = parse(pull_query("Lead", ["Id", "Phone"], Cursor(STAMP, "00Q000000000001AAA"))).where


@given(NASTY)
def test_a_cursor_id_never_changes_the_pull_where_clause(value: str) -> None:
    q = parse(pull_query("Lead", ["Id", "Phone"], Cursor(STAMP, value or "a")))
    assert shape(q.where) == shape(BENIGN)
    assert [lit.value for lit in literals(q.where) if lit.kind == "string"] == [value or "a"]
    assert q.sobject == "Lead"
    assert [o.field.path for o in q.order] == ["SystemModstamp", "Id"]


@given(st.lists(NASTY, min_size=1, max_size=3), NASTY)
def test_phone_spellings_never_change_the_lookup_where_clause(
    values: list[str], pattern: str
) -> None:
    q = parse(phone_query("Contact", ["Id", "Phone"], ["Phone"], values, pattern))
    benign = parse(phone_query("Contact", ["Id"], ["Phone"], ["+1"] * len(values), "%1%"))
    assert shape(q.where) == shape(benign.where)
    assert isinstance(q.where, BoolOp)
    assert q.where.op == "OR"
    in_list, like = q.where.items
    assert isinstance(in_list, InList)
    assert [v.value for v in in_list.values] == values
    assert isinstance(like, Compare)
    assert like.op == "LIKE"
    assert like.value.value == pattern


@given(st.lists(NASTY, min_size=1, max_size=3), NASTY)
def test_task_ids_and_status_never_change_the_done_tasks_where_clause(
    ids: list[str], status: str
) -> None:
    q = parse(done_tasks_query("Task", "SMS_Message_Id__c", ids, status))
    benign = parse(done_tasks_query("Task", "SMS_Message_Id__c", ["t"] * len(ids), "Completed"))
    assert shape(q.where) == shape(benign.where)
    assert isinstance(q.where, BoolOp)
    in_list, done = q.where.items
    assert isinstance(in_list, InList)
    assert [v.value for v in in_list.values] == ids
    assert isinstance(done, Compare)
    assert (done.field.path, done.op, done.value.value) == ("Status", "=", status)


def test_identifiers_are_refused_unless_they_are_api_names() -> None:
    assert identifier("SMS_Consent_Status__c") == "SMS_Consent_Status__c"
    for bad in ("Id FROM User --", "Name,Id", "x'", "", "1abc"):
        with pytest.raises(ValueError, match="not a Salesforce API name"):
            identifier(bad)


def test_a_number_is_looked_up_by_its_usual_spellings_and_its_digits_in_order() -> None:
    found = spellings("+14155550123")
    assert {"+14155550123", "(415) 555-0123", "415-555-0123", "4155550123"} <= set(found)
    assert digits_pattern("+14155550123") == "%5%5%5%0%1%2%3%"

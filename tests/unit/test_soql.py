"""The SOQL subset: parsing, typing against the schema, and evaluation over a store."""

# ruff: noqa: S608 - these tests build SOQL, the parser's own input, from test constants

from __future__ import annotations

import fnmatch
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.sandbox.core import SandboxState
from connector.sandbox.salesforce.schema import build_schema
from connector.sandbox.salesforce.soql import BoolOp, Compare, InList, Not, SoqlError, parse
from connector.sandbox.salesforce.soql_eval import Evaluator, like_regex
from connector.sandbox.salesforce.store import Store
from connector.sandbox.salesforce.writes import Writer

BASE = datetime(2026, 1, 1, tzinfo=UTC)
LAST_NAMES = ("O'Brien", "Smith", "smith", "Back\\slash", "100%", "a_b", "Chen")
STATES = ("NY", "CA", None)


def _world() -> tuple[Evaluator, Writer]:
    schema = build_schema()
    store = Store(
        {
            n: (o.key_prefix, [f.name for f in o.fields.values() if f.unique])
            for n, o in schema.items()
        }
    )
    writer = Writer(SandboxState(), schema, store)
    user = writer.create(
        schema["User"], {"LastName": "Owner", "Email": "o@example.com", "Username": "o@x.y"}
    )
    writer.user_id = user["Id"]
    return Evaluator(schema, store), writer


def _leads(n: int) -> tuple[Evaluator, list[dict[str, object]]]:
    ev, writer = _world()
    rows = []
    for i in range(n):
        row = writer.create(
            ev.schema["Lead"],
            {
                "LastName": LAST_NAMES[i % len(LAST_NAMES)],
                "Company": f"Co{i % 3}",
                "State": STATES[i % 3],
                "SMS_SLA_Breached__c": i % 2 == 0,
            },
            stamp=BASE + timedelta(minutes=i // 4),
        )
        rows.append(row)
    return ev, rows


def ids(ev: Evaluator, soql: str, *, deleted: bool = False) -> list[str]:
    return ev.run(parse(soql), include_deleted=deleted).ids


def test_parses_precedence_with_parentheses_and_not() -> None:
    q = parse("SELECT Id FROM Lead WHERE (A = 'x' AND B = 'y') OR NOT C IN ('z', 'w')")
    assert isinstance(q.where, BoolOp)
    assert q.where.op == "OR"
    first, second = q.where.items
    assert isinstance(first, BoolOp)
    assert first.op == "AND"
    assert isinstance(second, Not)
    assert isinstance(second.expr, InList)


def test_mixing_and_or_without_parentheses_is_malformed() -> None:
    with pytest.raises(SoqlError) as caught:
        parse("SELECT Id FROM Lead WHERE A = 'x' AND B = 'y' OR C = 'z'")
    assert caught.value.code == "MALFORMED_QUERY"
    assert "unexpected token: 'OR'" in caught.value.message


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("2026-01-01T00:00:00Z", datetime(2026, 1, 1, tzinfo=UTC)),
        ("2026-01-01T00:00:00.000Z", datetime(2026, 1, 1, tzinfo=UTC)),
        ("2026-01-01T02:00:00+0200", datetime(2026, 1, 1, tzinfo=UTC)),
        ("2025-12-31T19:00:00-05:00", datetime(2026, 1, 1, tzinfo=UTC)),
        ("2026-01-01T00:00:00.250+0000", datetime(2026, 1, 1, 0, 0, 0, 250_000, tzinfo=UTC)),
    ],
)
def test_datetime_literals(literal: str, expected: datetime) -> None:
    q = parse("SELECT Id FROM Lead WHERE SystemModstamp >= " + literal)
    assert isinstance(q.where, Compare)
    assert q.where.value.value == expected


def test_string_escapes_and_date_literal() -> None:
    q = parse(r"SELECT Id FROM Task WHERE Subject = 'O\'Brien \\ \n' AND ActivityDate = 2026-03-04")
    assert isinstance(q.where, BoolOp)
    subject, activity = q.where.items
    assert isinstance(subject, Compare)
    assert subject.value.value == "O'Brien \\ \n"
    assert isinstance(activity, Compare)
    assert activity.value.value == date(2026, 3, 4)


@pytest.mark.parametrize(
    "bad",
    [
        "SELECT FROM Lead",
        "SELECT Id Lead",
        "SELECT Id FROM Lead WHERE",
        "SELECT Id FROM Lead WHERE Name = 'open",
        "SELECT Id FROM Lead LIMIT x",
        "SELECT Id FROM Lead WHERE Name = 'a' junk",
        "SELECT Id FROM Lead ORDER BY",
        r"SELECT Id FROM Lead WHERE Name = 'bad \q escape'",
    ],
)
def test_syntax_errors_are_malformed_query(bad: str) -> None:
    with pytest.raises(SoqlError) as caught:
        parse(bad)
    assert caught.value.code == "MALFORMED_QUERY"


def test_unknown_field_and_object_use_salesforce_codes() -> None:
    ev, _ = _leads(1)
    with pytest.raises(SoqlError) as field_error:
        ids(ev, "SELECT Id, Foo__c FROM Lead")
    assert field_error.value.code == "INVALID_FIELD"
    assert "No such column 'Foo__c' on entity 'Lead'" in field_error.value.message
    with pytest.raises(SoqlError) as type_error:
        ids(ev, "SELECT Id FROM Leed")
    assert type_error.value.code == "INVALID_TYPE"
    assert "sObject type 'Leed' is not supported" in type_error.value.message


def test_literal_type_must_match_the_field() -> None:
    ev, _ = _leads(1)
    with pytest.raises(SoqlError) as quoted:
        ids(ev, "SELECT Id FROM Lead WHERE SystemModstamp > '2026-01-01T00:00:00Z'")
    assert quoted.value.code == "INVALID_FIELD"
    assert "must be of type dateTime and should not be enclosed in quotes" in quoted.value.message
    with pytest.raises(SoqlError):
        ids(ev, "SELECT Id FROM Lead WHERE LastName = 5")


def test_operators_escapes_and_case_insensitive_text() -> None:
    ev, rows = _leads(21)
    by_name = {str(r["LastName"]): r for r in rows}
    assert len(ids(ev, "SELECT Id FROM Lead WHERE LastName = 'O\\'Brien'")) == 3
    # SOQL compares text case-insensitively
    assert len(ids(ev, "SELECT Id FROM Lead WHERE LastName = 'SMITH'")) == 6
    assert len(ids(ev, "SELECT Id FROM Lead WHERE LastName != 'smith'")) == 15
    assert len(ids(ev, "SELECT Id FROM Lead WHERE LastName <> 'smith'")) == 15
    assert len(ids(ev, "SELECT Id FROM Lead WHERE LastName = 'Back\\\\slash'")) == 3
    assert len(ids(ev, "SELECT Id FROM Lead WHERE State = null")) == 7
    assert len(ids(ev, "SELECT Id FROM Lead WHERE State != null")) == 14
    assert len(ids(ev, "SELECT Id FROM Lead WHERE SMS_SLA_Breached__c = true")) == 11
    assert len(ids(ev, "SELECT Id FROM Lead WHERE State IN ('ny', 'CA')")) == 14
    assert len(ids(ev, "SELECT Id FROM Lead WHERE State NOT IN ('NY')")) == 14
    assert len(ids(ev, "SELECT Id FROM Lead WHERE NOT State = 'NY'")) == 14
    target = by_name["Chen"]["Id"]
    short_id = str(target)[:15]
    assert ids(ev, "SELECT Id FROM Lead WHERE Id = '" + short_id + "' LIMIT 1") == [target]


def test_like_wildcards_and_escaped_wildcards() -> None:
    ev, _ = _leads(21)
    assert len(ids(ev, "SELECT Id FROM Lead WHERE LastName LIKE 's%'")) == 6  # Smith and smith
    assert len(ids(ev, "SELECT Id FROM Lead WHERE LastName LIKE '_mith'")) == 6
    assert len(ids(ev, "SELECT Id FROM Lead WHERE LastName LIKE '%\\%'")) == 3  # "100%"
    assert len(ids(ev, "SELECT Id FROM Lead WHERE LastName LIKE 'a\\_b'")) == 3
    assert len(ids(ev, "SELECT Id FROM Lead WHERE LastName LIKE 'a_b'")) == 3
    assert like_regex("a\\_b").fullmatch("axb") is None


def test_datetime_ranges_order_by_and_limit() -> None:
    ev, rows = _leads(40)
    got = ids(
        ev,
        "SELECT Id FROM Lead WHERE SystemModstamp >= 2026-01-01T00:02:00Z "
        "AND SystemModstamp < 2026-01-01T00:04:00.000+0000",
    )
    assert got == [r["Id"] for r in rows[8:16]]
    desc = ids(ev, "SELECT Id FROM Lead ORDER BY SystemModstamp DESC, Id DESC LIMIT 3")
    assert desc == [r["Id"] for r in reversed(rows[-3:])]
    nulls_last = ids(ev, "SELECT Id, State FROM Lead ORDER BY State ASC NULLS LAST, Id")
    states = [ev.store.get("Lead", i)["State"] for i in nulls_last]  # type: ignore[index]
    assert states[-1] is None
    assert states[0] == "CA"
    nulls_first = ids(ev, "SELECT Id FROM Lead ORDER BY State, Id LIMIT 1")
    assert ev.store.get("Lead", nulls_first[0])["State"] is None  # type: ignore[index]
    assert len(ids(ev, "SELECT Id FROM Lead LIMIT 5 OFFSET 38")) == 2


def test_count_and_relationship_fields() -> None:
    ev, _ = _leads(10)
    result = ev.run(parse("SELECT COUNT() FROM Lead WHERE State = 'NY'"), include_deleted=False)
    assert result.count_only
    assert len(result.ids) == 4
    q = parse("SELECT Id, Owner.Name FROM Lead WHERE Owner.Name = 'owner' LIMIT 1")
    res = ev.run(q, include_deleted=False)
    rendered = ev.render(res, res.ids[0], "62.0")
    assert rendered is not None
    assert rendered["Owner"]["Name"] == "Owner"
    assert rendered["Owner"]["attributes"]["type"] == "User"


def test_modstamp_tie_break_pages_through_a_shared_stamp() -> None:
    ev, writer = _world()
    stamp = BASE
    made = [
        writer.create(ev.schema["Task"], {"Subject": f"t{i}"}, stamp=stamp)["Id"]
        for i in range(3000)
    ]
    seen: list[str] = []
    cursor_ts, cursor_id = BASE - timedelta(seconds=1), ""
    for _ in range(10):
        ts = cursor_ts.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        page = ids(
            ev,
            "SELECT Id, SystemModstamp FROM Task WHERE (SystemModstamp = "
            + ts
            + " AND Id > '"
            + cursor_id
            + "') OR SystemModstamp > "
            + ts
            + " ORDER BY SystemModstamp, Id LIMIT 1000",
        )
        if not page:
            break
        seen.extend(page)
        cursor_ts, cursor_id = stamp, page[-1]
    assert seen == sorted(made)
    assert len(set(seen)) == 3000


_FIELDS = {"LastName": LAST_NAMES, "State": ("NY", "CA", "TX"), "Company": ("Co0", "Co1", "Co2")}
_condition = st.sampled_from(sorted(_FIELDS)).flatmap(
    lambda f: st.tuples(
        st.just(f),
        st.sampled_from(["=", "!=", "<", ">", "LIKE"]),
        st.sampled_from(_FIELDS[f] + ("co%", "%h", "null")),
    )
)
_tree = st.recursive(
    _condition.map(lambda c: ("cond", c)),
    lambda kids: (
        st.tuples(st.sampled_from(["AND", "OR"]), st.lists(kids, min_size=2, max_size=3))
        | kids.map(lambda k: ("NOT", k))
    ),
    max_leaves=6,
)


Node = tuple[str, Any]


def _soql(node: Node) -> str:
    kind, payload = node
    if kind == "cond":
        field, op, value = payload
        lit = (
            "null"
            if value == "null"
            else "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
        )
        if op == "LIKE" and lit == "null":
            op = "="
        return f"{field} {op} {lit}"
    if kind == "NOT":
        return f"(NOT ({_soql(payload)}))"
    return "(" + f" {kind} ".join(_soql(p) for p in payload) + ")"


def _oracle(node: Node, row: dict[str, Any]) -> bool:
    kind, payload = node
    if kind == "NOT":
        return not _oracle(payload, row)
    if kind in {"AND", "OR"}:
        results = [_oracle(p, row) for p in payload]
        return all(results) if kind == "AND" else any(results)
    return _leaf(payload, row)


def _leaf(payload: tuple[str, str, str], row: dict[str, Any]) -> bool:
    """Salesforce's semantics, written plainly: text folds case; null matches only =/!=."""
    field, op, value = payload
    actual = row.get(field)
    if value == "null":
        return (actual is None) == (op in {"=", "LIKE"}) if op in {"=", "!=", "LIKE"} else False
    a = actual.casefold() if isinstance(actual, str) else None
    v = value.casefold()
    if op == "=":
        return a == v
    if op == "!=":
        return a != v
    if a is None:
        return False
    if op == "LIKE":
        return fnmatch.fnmatchcase(a, v.replace("%", "*").replace("_", "?").replace("[", "[[]"))
    return a < v if op == "<" else a > v


_ORACLE_WORLD = _leads(30)


@settings(max_examples=150, deadline=None)
@given(_tree)
def test_random_filters_match_a_python_oracle(tree: Node) -> None:
    ev, rows = _ORACLE_WORLD
    got = set(ids(ev, "SELECT Id FROM Lead WHERE " + _soql(tree)))
    expected = {r["Id"] for r in rows if _oracle(tree, r)}
    assert got == expected

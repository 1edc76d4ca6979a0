"""A SOQL subset: lexer and parser to a small AST (evaluation is in `soql_eval`).

Supported: `SELECT f, Rel.f | COUNT() FROM T [WHERE ...] [ORDER BY f [ASC|DESC]
[NULLS FIRST|LAST], ...] [LIMIT n] [OFFSET n]`, with AND, OR, NOT and parentheses,
`= != <> < > <= >= IN NOT IN LIKE`, and string, number, boolean, null, date and datetime
literals. As in Salesforce, AND and OR cannot be mixed at one level without parentheses."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any


class SoqlError(Exception):
    """Answered as 400 with Salesforce's `[{"message", "errorCode"}]` body."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # ident, string, number, datetime, date, op, punct, eof
    text: str
    pos: int
    value: Any = None


@dataclass(frozen=True, slots=True)
class FieldRef:
    path: str  # as written: `Name`, `Owner.Name`
    pos: int


@dataclass(frozen=True, slots=True)
class Literal:
    kind: str  # string, number, boolean, null, datetime, date
    value: Any
    pos: int


@dataclass(frozen=True, slots=True)
class Compare:
    field: FieldRef
    op: str  # = != < > <= >= LIKE
    value: Literal


@dataclass(frozen=True, slots=True)
class InList:
    field: FieldRef
    values: tuple[Literal, ...]
    negate: bool


@dataclass(frozen=True, slots=True)
class Not:
    expr: Expr


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: str  # AND | OR
    items: tuple[Expr, ...]


Expr = Compare | InList | Not | BoolOp


@dataclass(frozen=True, slots=True)
class OrderItem:
    field: FieldRef
    descending: bool
    nulls_last: bool


@dataclass(frozen=True, slots=True)
class Query:
    fields: tuple[FieldRef, ...]
    count: bool
    sobject: str
    sobject_pos: int
    where: Expr | None
    order: tuple[OrderItem, ...]
    limit: int | None
    offset: int | None
    text: str


KEYWORDS = frozenset(
    {
        "SELECT",
        "FROM",
        "WHERE",
        "AND",
        "OR",
        "NOT",
        "IN",
        "LIKE",
        "ORDER",
        "BY",
        "ASC",
        "DESC",
        "NULLS",
        "FIRST",
        "LAST",
        "LIMIT",
        "OFFSET",
        "TRUE",
        "FALSE",
        "NULL",
    }
)

_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,3})?(Z|[+-]\d{2}:?\d{2})"
)
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?![\w:.])")
_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?(?![\w-])")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_OPS = ("<=", ">=", "!=", "<>", "=", "<", ">")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


def parse_datetime_literal(text: str) -> datetime:
    m = _DATETIME.fullmatch(text)
    if m is None:
        raise ValueError(text)
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    millis = int((m.group(7) or ".0")[1:].ljust(3, "0"))
    zone = m.group(8)
    tz = UTC
    if zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    return datetime(year, month, day, hour, minute, second, millis * 1000, tzinfo=tz).astimezone(
        UTC
    )


def _error_at(text: str, pos: int, message: str) -> str:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return f"\n{text}\n{' ' * (col - 1)}^\nERROR at Row:{line}:Column:{col}\n{message}"


def malformed(text: str, pos: int, message: str) -> SoqlError:
    return SoqlError("MALFORMED_QUERY", _error_at(text, pos, message))


def _string(text: str, i: int) -> tuple[Token, int]:
    """A quoted literal from `text[i] == "'"`; returns the token and the index after it."""
    out: list[str] = []
    j, n = i + 1, len(text)
    while j < n and text[j] != "'":
        c = text[j]
        if c != "\\":
            out.append(c)
            j += 1
            continue
        nxt = text[j + 1] if j + 1 < n else ""
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
        elif nxt in {"%", "_"}:
            out.append("\\" + nxt)  # kept escaped; only LIKE gives it meaning
        else:
            raise malformed(text, j, f"Invalid string literal '\\{nxt}'")
        j += 2
    if j >= n:
        raise malformed(text, i, f"line 1:{n} mismatched character '<EOF>' expecting \"'\"")
    return Token("string", text[i : j + 1], i, "".join(out)), j + 1


def _literal_token(text: str, i: int) -> tuple[Token, int] | None:
    """A datetime, date or number literal at `i`, if there is one."""
    m = _DATETIME.match(text, i)
    if m:
        return Token("datetime", m.group(0), i, parse_datetime_literal(m.group(0))), m.end()
    m = _DATE.match(text, i)
    if m:
        try:
            value = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError as exc:
            raise malformed(text, i, f"invalid date: {m.group(0)}") from exc
        return Token("date", m.group(0), i, value), m.end()
    m = _NUMBER.match(text, i)
    if m:
        raw = m.group(0)
        return Token("number", raw, i, float(raw) if "." in raw else int(raw)), m.end()
    return None


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        found: tuple[Token, int] | None
        if ch == "'":
            found = _string(text, i)
        elif ch in "(),":
            found = Token("punct", ch, i), i + 1
        elif op := next((o for o in _OPS if text.startswith(o, i)), None):
            found = Token("op", "!=" if op == "<>" else op, i), i + len(op)
        elif (m := _IDENT.match(text, i)) and not ch.isdigit():
            found = Token("ident", m.group(0), i), m.end()
        else:
            found = _literal_token(text, i)
        if found is None:
            raise malformed(text, i, f"unexpected token: '{ch}'")
        token, i = found
        tokens.append(token)
    tokens.append(Token("eof", "<EOF>", n))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def is_kw(self, *words: str) -> bool:
        return self.tok.kind == "ident" and self.tok.text.upper() in words

    def expect_kw(self, word: str) -> Token:
        if not self.is_kw(word):
            raise self.unexpected()
        return self.take()

    def expect_punct(self, ch: str) -> None:
        if not (self.tok.kind == "punct" and self.tok.text == ch):
            raise self.unexpected()
        self.take()

    def unexpected(self) -> SoqlError:
        return malformed(self.text, self.tok.pos, f"unexpected token: '{self.tok.text}'")

    def field(self) -> FieldRef:
        tok = self.tok
        if tok.kind != "ident" or tok.text.upper() in KEYWORDS:
            raise self.unexpected()
        self.take()
        return FieldRef(tok.text, tok.pos)

    def query(self) -> Query:
        self.expect_kw("SELECT")
        fields: list[FieldRef] = []
        count = False
        if self.is_kw("COUNT") and self.tokens[self.i + 1].text == "(":
            self.take()
            self.expect_punct("(")
            self.expect_punct(")")
            count = True
        else:
            fields.append(self.field())
            while self.tok.kind == "punct" and self.tok.text == ",":
                self.take()
                fields.append(self.field())
        self.expect_kw("FROM")
        obj = self.tok
        if obj.kind != "ident" or "." in obj.text or obj.text.upper() in KEYWORDS:
            raise self.unexpected()
        self.take()
        where = None
        if self.is_kw("WHERE"):
            self.take()
            where = self.expr()
        order: list[OrderItem] = []
        if self.is_kw("ORDER"):
            self.take()
            self.expect_kw("BY")
            order.append(self.order_item())
            while self.tok.kind == "punct" and self.tok.text == ",":
                self.take()
                order.append(self.order_item())
        limit = offset = None
        if self.is_kw("LIMIT"):
            self.take()
            limit = self.integer()
        if self.is_kw("OFFSET"):
            self.take()
            offset = self.integer()
        if self.tok.kind != "eof":
            raise self.unexpected()
        return Query(
            tuple(fields), count, obj.text, obj.pos, where, tuple(order), limit, offset, self.text
        )

    def integer(self) -> int:
        tok = self.tok
        if tok.kind != "number" or not isinstance(tok.value, int) or tok.value < 0:
            raise self.unexpected()
        self.take()
        return int(tok.value)

    def order_item(self) -> OrderItem:
        ref = self.field()
        descending = False
        if self.is_kw("ASC", "DESC"):
            descending = self.take().text.upper() == "DESC"
        nulls_last = descending
        if self.is_kw("NULLS"):
            self.take()
            if not self.is_kw("FIRST", "LAST"):
                raise self.unexpected()
            nulls_last = self.take().text.upper() == "LAST"
        return OrderItem(ref, descending, nulls_last)

    def expr(self) -> Expr:
        first = self.unary()
        if not self.is_kw("AND", "OR"):
            return first
        op = self.tok.text.upper()
        items = [first]
        while self.is_kw("AND", "OR"):
            if self.tok.text.upper() != op:
                raise self.unexpected()  # Salesforce insists on parentheses here
            self.take()
            items.append(self.unary())
        return BoolOp(op, tuple(items))

    def unary(self) -> Expr:
        if self.is_kw("NOT"):
            self.take()
            return Not(self.unary())
        if self.tok.kind == "punct" and self.tok.text == "(":
            self.take()
            inner = self.expr()
            self.expect_punct(")")
            return inner
        return self.condition()

    def condition(self) -> Expr:
        ref = self.field()
        if self.tok.kind == "op":
            op = self.take().text
            return Compare(ref, op, self.literal())
        if self.is_kw("LIKE"):
            self.take()
            return Compare(ref, "LIKE", self.literal())
        negate = False
        if self.is_kw("NOT"):
            self.take()
            negate = True
            if not self.is_kw("IN"):
                raise self.unexpected()
        if self.is_kw("IN"):
            self.take()
            self.expect_punct("(")
            values = [self.literal()]
            while self.tok.kind == "punct" and self.tok.text == ",":
                self.take()
                values.append(self.literal())
            self.expect_punct(")")
            return InList(ref, tuple(values), negate)
        raise self.unexpected()

    def literal(self) -> Literal:
        tok = self.tok
        if tok.kind in {"string", "number", "datetime", "date"}:
            self.take()
            return Literal(tok.kind, tok.value, tok.pos)
        if tok.kind == "ident":
            word = tok.text.upper()
            if word in {"TRUE", "FALSE"}:
                self.take()
                return Literal("boolean", word == "TRUE", tok.pos)
            if word == "NULL":
                self.take()
                return Literal("null", None, tok.pos)
        raise self.unexpected()


def parse(text: str) -> Query:
    """Parse one SOQL statement; raises SoqlError(MALFORMED_QUERY) on bad syntax."""
    return _Parser(text).query()

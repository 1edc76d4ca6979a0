"""The position-aware YAML reader: data plus 1-based line:col for every key and value."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

from connector.config.yaml_source import (
    ALIAS_BUDGET,
    DEFAULT_MAX_BYTES,
    MAX_DEPTH,
    Position,
    format_path,
    parse_yaml,
    read_yaml,
)
from connector.errors import ConfigFileError

TEXT = """\
version: 1
objects:
  - name: Lead
    phone_fields: [MobilePhone, Phone]
  - name: Contact
    phone_fields:
      - MobilePhone
"""


def test_data_is_plain_python() -> None:
    doc = parse_yaml(TEXT, "m.yaml")
    assert doc.problems == ()
    assert doc.data == {
        "version": 1,
        "objects": [
            {"name": "Lead", "phone_fields": ["MobilePhone", "Phone"]},
            {"name": "Contact", "phone_fields": ["MobilePhone"]},
        ],
    }


def test_positions_of_keys_and_values() -> None:
    doc = parse_yaml(TEXT, "m.yaml")
    assert doc.value_at(("objects", 0, "phone_fields", 1)) == Position(4, 33)
    assert doc.key_at(("objects", 0, "phone_fields")) == Position(4, 5)
    assert doc.value_at(("objects", 0, "phone_fields")) == Position(4, 19)
    assert doc.value_at(("objects", 1)) == Position(5, 5)
    assert doc.value_at(("objects", 1, "phone_fields", 0)) == Position(7, 9)
    assert doc.key_at(("version",)) == Position(1, 1)
    assert doc.value_at(("version",)) == Position(1, 10)


def test_nearest_falls_back_to_the_closest_parent() -> None:
    doc = parse_yaml(TEXT, "m.yaml")
    assert doc.nearest(("objects", 1, "fields", "segments")) == Position(5, 5)
    assert doc.nearest(("objects", 0, "phone_fields"), prefer_key=True) == Position(4, 5)
    assert doc.nearest(("nothing", "here")) == Position(1, 1)


def test_duplicate_key_is_a_located_problem_and_the_first_value_stays() -> None:
    doc = parse_yaml("a: 1\nb:\n  c: 2\n  c: 3\n", "d.yaml")
    assert doc.data == {"a": 1, "b": {"c": 2}}
    assert len(doc.problems) == 1
    problem = doc.problems[0]
    assert (problem.file, problem.line, problem.col) == ("d.yaml", 4, 3)
    assert "b.c: duplicate key (first written at line 3)" in problem.message


def test_explicit_key_may_override_a_merged_one() -> None:
    doc = parse_yaml("base: &b {x: 1, y: 2}\nderived:\n  <<: *b\n  y: 5\n", "m.yaml")
    assert doc.problems == ()
    assert doc.data["derived"] == {"x": 1, "y": 5}
    assert doc.value_at(("derived", "y")) == Position(4, 6)


def test_keys_stay_as_written() -> None:
    doc = parse_yaml("yes: no\n1: on\n", "m.yaml")
    assert doc.data == {"yes": False, "1": True}


def test_syntax_error_is_located_at_the_parser_mark() -> None:
    doc = parse_yaml("a:\n  b: [1, 2\nc: 3\n", "s.yaml")
    assert doc.data is None
    (problem,) = doc.problems
    assert (problem.line, problem.col) == (3, 2)
    assert problem.message.startswith("YAML syntax error: expected ',' or ']'")
    assert "started at line 2, column 6" in problem.message


def test_tab_indentation_gets_a_hint() -> None:
    (problem,) = parse_yaml("a:\n\tb: 1\n", "t.yaml").problems
    assert (problem.line, problem.col) == (2, 1)
    assert "not tabs" in problem.message


def test_unsafe_tag_is_refused() -> None:
    doc = parse_yaml("a: !!python/name:os.system x\n", "u.yaml")
    (problem,) = doc.problems
    assert (problem.line, problem.col) == (1, 4)
    assert "a: could not determine a constructor" in problem.message


def test_self_referencing_alias_is_a_problem_not_a_hang() -> None:
    doc = parse_yaml("a: &x [1, *x]\n", "r.yaml")
    assert any("refers to itself" in p.message for p in doc.problems)


def test_missing_file(tmp_path: Path) -> None:
    doc = read_yaml(tmp_path / "absent.yaml")
    (problem,) = doc.problems
    assert problem.message == "file not found; check the path"
    assert (problem.line, problem.col) == (1, 1)


def test_non_utf8_is_located_at_the_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("a: 1\nname: Jos\u00e9\n".encode("latin-1"))
    (problem,) = read_yaml(path).problems
    assert (problem.line, problem.col) == (2, 10)
    assert "not valid UTF-8 (byte 0xe9)" in problem.message


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes("\ufeffa: 1\n".encode())
    assert read_yaml(path).data == {"a": 1}


def test_every_problem_is_reported_and_reads_file_line_col(tmp_path: Path) -> None:
    path = tmp_path / "dups.yaml"
    path.write_text("a: 1\na: 2\nb: 1\nb: 2\n", encoding="utf-8")
    problems = list(read_yaml(path).problems)
    assert [(p.line, p.col) for p in problems] == [(2, 1), (4, 1)]
    error = ConfigFileError(problems)
    assert str(error).splitlines()[0].startswith(f"{path}:2:1: a: duplicate key")


def test_format_path() -> None:
    assert format_path(("objects", 0, "phone_fields", 1)) == "objects[0].phone_fields[1]"
    assert format_path(("value_maps", "x", "Open - Not Contacted")) == (
        "value_maps.x['Open - Not Contacted']"
    )
    assert format_path(()) == "(top level)"


def laughs(levels: int) -> str:
    """The classic "billion laughs": each level is nine aliases of the one before."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi"[: levels - 1], strict=False):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused_at_the_alias_without_filling_memory() -> None:
    bomb = laughs(9)  # 9**9 values if expanded; 342 bytes
    assert len(bomb) < 400
    tracemalloc.start()
    try:
        doc = parse_yaml(bomb, "bomb.yaml")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert doc.data is None
    (problem,) = doc.problems
    # the second *d inside e: the alias whose expansion crossed the budget
    assert (problem.file, problem.line, problem.col) == ("bomb.yaml", 5, 11)
    assert f"more than {ALIAS_BUDGET:,} values" in problem.message
    assert peak < 64 * 1024 * 1024


def test_the_first_merge_source_wins_and_a_reused_merge_is_no_duplicate() -> None:
    doc = parse_yaml(
        "a: &a {x: 1}\nb: &b {x: 2, y: 3}\nc: {<<: [*a, *b]}\nd: &d {<<: *a, x: 5}\ne: *d\n",
        "m.yaml",
    )
    assert doc.problems == ()
    assert doc.data["c"] == {"x": 1, "y": 3}
    assert doc.data["d"] == doc.data["e"] == {"x": 5}
    # `<<` of nine copies of the level below, nine levels deep: 9**9 merged pairs if each
    # merge copied its sources, nine keys once the first source wins
    lines = ["m0: &m0 {" + ", ".join(f"k{i}: {i}" for i in range(9)) + "}"]
    lines += [f"m{n}: &m{n} {{<<: [" + ", ".join([f"*m{n - 1}"] * 9) + "]}" for n in range(1, 10)]
    deep = parse_yaml("\n".join(lines) + "\n", "merge.yaml")
    assert deep.problems == ()
    assert deep.data["m9"] == {f"k{i}": i for i in range(9)}


def test_deep_nesting_is_a_located_problem_not_a_recursion_error() -> None:
    doc = parse_yaml("a: " + "[" * 5000, "deep.yaml")
    (problem,) = doc.problems
    assert (problem.line, problem.col) == (1, 4 + MAX_DEPTH - 1)
    assert f"nested more than {MAX_DEPTH} levels deep" in problem.message


def test_a_long_chain_of_aliases_is_bounded_in_depth() -> None:
    lines = ["n0: &n0 [1]"] + [f"n{i}: &n{i} [*n{i - 1}]" for i in range(1, 400)]
    doc = parse_yaml("\n".join(lines) + "\n", "chain.yaml")
    (problem,) = doc.problems
    assert f"more than {MAX_DEPTH} levels deep" in problem.message
    assert problem.line == MAX_DEPTH  # the alias in n63 is where the chain got too deep


def test_an_oversized_file_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_bytes(b"a: [" + b"1," * DEFAULT_MAX_BYTES + b"1]\n")
    doc = read_yaml(path)
    assert doc.data is None
    (problem,) = doc.problems
    assert (problem.line, problem.col) == (1, 1)
    assert f"over the {DEFAULT_MAX_BYTES:,}-byte limit" in problem.message
    assert "SMSYNC_CONFIG_MAX_BYTES" in problem.message


def test_the_size_cap_is_configurable(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("a: 1\n" * 300, encoding="utf-8")
    assert read_yaml(path, max_bytes=1499).problems[0].message.startswith("the file is 1,500")
    assert read_yaml(path, max_bytes=1500).problems[0].message.endswith("keep one of them")

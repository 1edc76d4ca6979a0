"""Every `docs/...` page the code, the scripts, the tests and README cite is in the
repository, and a numbered citation ("docs/style.md, rule 12", "docs/reliability.md,
faults 4, 5", "docs/data-flow.md, step 2") names an item that page has (issue 17 item 7).
Vendors' URLs (`https://.../docs/...`) are not ours and are skipped."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CITING = ("connector", "scripts", "tests")
# a repository path, not the tail of a URL or of another path
DOC_REF = re.compile(r"(?<![\w/.:-])docs/([\w./-]*\w)")
NUMBERED = re.compile(
    r"docs/(?P<page>[\w-]+\.md),\s*(?P<kind>rule|step|fault|promise)s?\s+"
    r"(?P<numbers>\d+(?:(?:,\s*|,?\s*and\s+)\d+)*)"
)


def citing_files() -> list[Path]:
    files = [ROOT / "README.md"]
    for folder in CITING:
        files += sorted((ROOT / folder).rglob("*.py"))
    return [f for f in files if f != Path(__file__).resolve()]  # this one cites on purpose


def references(text: str) -> set[str]:
    return {f"docs/{m.group(1)}" for m in DOC_REF.finditer(text)}


def numbered(text: str) -> set[tuple[str, str, int]]:
    return {
        (f"docs/{m.group('page')}", m.group("kind"), int(n))
        for m in NUMBERED.finditer(text)
        for n in re.findall(r"\d+", m.group("numbers"))
    }


def has_item(page: str, kind: str, number: int) -> bool:
    """A fault is a row of the fault matrix (`| N |`); a rule, step or promise is a
    numbered list item (`N. `) at the start of a line."""
    text = (ROOT / page).read_text(encoding="utf-8")
    pattern = rf"^\|\s*{number}\s*\|" if kind == "fault" else rf"^{number}\.\s"
    return re.search(pattern, text, re.MULTILINE) is not None


def test_every_cited_docs_page_exists() -> None:
    missing = {
        f"{path.relative_to(ROOT)}: {ref}"
        for path in citing_files()
        for ref in references(path.read_text(encoding="utf-8"))
        if not (ROOT / ref.rstrip(".")).exists()
    }
    assert missing == set()


def test_every_numbered_citation_names_an_item_of_its_page() -> None:
    cited = {
        (str(path.relative_to(ROOT)), *ref)
        for path in citing_files()
        for ref in numbered(path.read_text(encoding="utf-8"))
    }
    assert cited, "no numbered citation found: the pattern no longer matches the code"
    missing = {c for c in cited if not has_item(*c[1:])}
    assert missing == set()


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("see docs/style.md, rule 12", {"docs/style.md"}),
        ("(docs/data-flow.md.)", {"docs/data-flow.md"}),
        ("https://www.twilio.com/docs/errors/21610", set()),
        ("https://developers.hubspot.com/docs/methods/x", set()),
        ("mydocs/x.md and a/docs/y.md", set()),
    ],
)
def test_references_are_found_and_urls_skipped(text: str, found: set[str]) -> None:
    assert references(text) == found


def test_a_missing_page_or_item_is_caught() -> None:
    assert not (ROOT / "docs/nowhere.md").exists()
    assert references("as docs/nowhere.md says") == {"docs/nowhere.md"}
    assert numbered("docs/reliability.md, faults 4, 5 and 99") == {
        ("docs/reliability.md", "fault", 4),
        ("docs/reliability.md", "fault", 5),
        ("docs/reliability.md", "fault", 99),
    }
    assert has_item("docs/reliability.md", "fault", 4)
    assert not has_item("docs/reliability.md", "fault", 999)
    assert has_item("docs/style.md", "rule", 12)
    assert not has_item("docs/style.md", "rule", 999)

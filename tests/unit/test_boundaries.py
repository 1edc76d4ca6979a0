"""README, Architecture: `connector/domain` imports nothing from the rest of the package,
and adapters never import the engine. Checked on the source, so a lazy import cannot hide."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "connector"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative imports stay inside their folder by construction
                found.add("." * node.level + (node.module or ""))
            elif node.module:
                found.add(node.module)
    return found


def _offenders(folder: Path, allowed_prefix: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path} imports {name}"
        for path in folder.rglob("*.py")
        for name in _imports(path)
        if name.startswith("..")
        or (name.startswith(forbidden) and not name.startswith(allowed_prefix))
    ]


def test_domain_imports_nothing_from_the_rest_of_the_package() -> None:
    assert (PACKAGE / "domain" / "model.py").exists()
    assert _offenders(PACKAGE / "domain", "connector.domain", ("connector",)) == []


def test_adapters_never_import_the_engine_or_runtime() -> None:
    for folder in ("crm", "sms"):
        assert _offenders(PACKAGE / folder, "-", ("connector.engine", "connector.runtime")) == []


def test_the_checker_catches_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "domain"
    bad.mkdir()
    (bad / "x.py").write_text("def f():\n    from connector.store import tables\n")
    assert _offenders(bad, "connector.domain", ("connector",)) != []


def _reaching_into_config(folder: Path) -> list[str]:
    """Imports of a `connector.config` submodule from outside the package."""
    return [
        f"{path} imports {name}"
        for path in folder.rglob("*.py")
        if PACKAGE / "config" not in path.parents
        for name in _imports(path)
        if name.startswith("connector.config.")
    ]


def test_the_rest_of_smsync_uses_the_config_package_through_its_public_face() -> None:
    assert (PACKAGE / "config" / "__init__.py").exists()
    assert _reaching_into_config(PACKAGE) == []
    assert _reaching_into_config(PACKAGE.parent / "scripts") == []


def test_the_config_check_catches_a_submodule_import(tmp_path: Path) -> None:
    (tmp_path / "x.py").write_text("from connector.config.settings import Settings\n")
    (tmp_path / "y.py").write_text("from connector.config import Settings\n")
    assert _reaching_into_config(tmp_path) == [
        f"{tmp_path / 'x.py'} imports connector.config.settings"
    ]


def test_reading_the_settings_does_not_load_the_plays_checks() -> None:
    """The plays file's checks bring the zone and holiday data (about 100 MB); `smsync`'s
    start-up and the webhook app read the settings without paying for them."""
    probe = (
        "import sys; from connector.config import Settings, load_mapping; "
        "print(sorted(m for m in sys.modules if m.startswith(('connector.config.plays',"
        " 'connector.domain.zones', 'zipcodes'))))"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert found.strip() == "[]"
    from connector.config import load_plays  # the lazy names still import

    assert load_plays.__module__ == "connector.config.plays_loader"

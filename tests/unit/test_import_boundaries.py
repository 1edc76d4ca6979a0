"""The layers' promises, checked on the source with `ast` (a lazy import inside a function
cannot hide, a comment or a string cannot trip it):

- the engine and the domain speak only ports: nothing under `connector/engine` or
  `connector/domain` imports an adapter (`connector.crm`, `connector.sms`) or the sidecar
  (`connector.runtime`);
- the domain does no I/O: no database, network, file, environment, clock or sleep;
- SQL lives in `connector/store`: the engine, the runtime and the report do not import
  SQLAlchemy (or the store's tables).

Each checker is also run on synthetic sources, so a test here fails when a forbidden
import or call is added (see the `*_is_caught` tests)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "connector"

ADAPTERS_AND_RUNTIME = ("connector.crm", "connector.sms", "connector.runtime")

# What doing I/O looks like in Python source: these modules, these calls.
IO_MODULES = (
    "aiohttp",
    "asyncio",
    "ftplib",
    "http",
    "httpx",
    "importlib",
    "io",
    "logging",
    "os",
    "pathlib",
    "psycopg",
    "psycopg2",
    "requests",
    "select",
    "selectors",
    "shutil",
    "smtplib",
    "socket",
    "sqlalchemy",
    "sqlite3",
    "ssl",
    "structlog",
    "subprocess",
    "sys",
    "tempfile",
    "threading",
    "time",
    "urllib",
    "urllib3",
)
IO_CALLS = frozenset({"open", "input", "print", "breakpoint", "__import__", "exec", "eval"})
# pathlib (and file-like) reads and writes, and reading the clock (a rule takes `now`)
IO_METHODS = frozenset(
    {
        "read_text",
        "read_bytes",
        "write_text",
        "write_bytes",
        "iterdir",
        "unlink",
        "mkdir",
        "sleep",
        "now",
        "utcnow",
        "today",
        "getenv",
        "environ",
    }
)

SQL = ("sqlalchemy", "connector.store.tables")

SQL_FREE = ("engine", "runtime", "report")

# What still reaches SQLAlchemy (or the tables) from the engine and the runtime, each
# with why. Nothing else may: a query belongs in a repository under connector/store/.
KNOWN_SQL_IMPORTS: dict[str, tuple[frozenset[str], str]] = {
    "connector/engine/context.py": (
        frozenset({"sqlalchemy"}),
        (
            "types the planner's transaction as sqlalchemy.Connection (connector.ports has"
            " `Connection` for it); rewritten when the composition root lands"
        ),
    ),
    "connector/engine/cycle.py": (
        frozenset({"sqlalchemy", "connector.store.tables"}),
        (
            "the dry run's RollbackStore (savepoints of one outer transaction) and `_pending`,"
            " its listing of both outboxes; cycle.py is rewritten when the composition root"
            " lands, and the listing moves to connector/store/ then"
        ),
    ),
    "connector/runtime/leases.py": (
        frozenset({"sqlalchemy"}),
        (
            "the replica lease is a Postgres advisory lock held on a connection of its own"
            " (pg_try_advisory_lock, NullPool): a database primitive, not a query of the"
            " store's tables; it moves under connector/store/ with the lease's next change"
        ),
    ),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(source: str, module: str = "connector.x") -> Iterator[tuple[int, str]]:
    """(line, dotted name) of every import in `source`, wherever it sits: `from a import b`
    gives both `a` and `a.b`; relative imports are resolved against `module`; a constant
    passed to `import_module` or `__import__` counts too."""
    package = module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if name in ("import_module", "__import__") and isinstance(first, ast.Constant):
                yield node.lineno, str(first.value)


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def forbidden_imports(
    source: str, prefixes: tuple[str, ...], module: str = "connector.x"
) -> set[str]:
    """The names `source` imports from under any of `prefixes` (the shortest of each
    `from a import b` pair, so one import is one finding)."""
    found = {name for _line, name in imported(source, module) if _under(name, prefixes)}
    return {n for n in found if not any(n.startswith(o + ".") for o in found)}


def io_uses(source: str, module: str = "connector.domain.x") -> list[str]:
    """Every import of an I/O module and every I/O call or attribute in `source`."""
    found = [
        f"line {line}: imports {name}"
        for line, name in imported(source, module)
        if _under(name, IO_MODULES)
    ]
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in IO_CALLS
        ):
            found.append(f"line {node.lineno}: calls {node.func.id}()")
        elif isinstance(node, ast.Attribute) and node.attr in IO_METHODS:
            found.append(f"line {node.lineno}: uses .{node.attr}")
    return found


def sources(folder: str) -> list[Path]:
    paths = sorted((PACKAGE / folder).rglob("*.py"))
    assert paths, f"no modules under connector/{folder}"
    return paths


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


# --- the engine and the domain speak only ports ---------------------------------------


def adapter_offenders(folder: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sources(folder):
        names = forbidden_imports(read(path), ADAPTERS_AND_RUNTIME, module_name(path))
        if names:
            found[rel(path)] = names
    return found


def test_the_domain_imports_no_adapter_and_no_runtime() -> None:
    assert adapter_offenders("domain") == {}


def test_the_engine_imports_no_adapter_and_no_runtime() -> None:
    """The composition root (`connector/runtime/wiring.py`) builds the adapters and hands
    the engine its ports, so no engine module may name one."""
    assert adapter_offenders("engine") == {}


@pytest.mark.parametrize(
    "source",
    [
        "from connector.sms.twilio.errors import TwilioRecordError\n",
        "import connector.crm.salesforce.client\n",
        "from connector import runtime\n",
        "from connector.runtime.jobs import Job\n",
        "def f():\n    from connector.sms.twilio.client import TwilioSms\n    return TwilioSms\n",
        "import importlib\nmod = importlib.import_module('connector.crm.hubspot')\n",
        "from ..sms.twilio import client\n",
    ],
)
def test_an_adapter_import_in_the_engine_is_caught(source: str) -> None:
    assert forbidden_imports(source, ADAPTERS_AND_RUNTIME, "connector.engine.send") != set()


@pytest.mark.parametrize(
    "source",
    [
        "from connector.ports import SmsPort\n",
        "from connector.errors import SmsRefusedError\n",
        "from connector.store import messages\n",
        "# from connector.sms.twilio import client\n",
        "WHERE = 'connector.runtime'\n",
        "from connector.smsync_extra import x\n",  # a prefix of a name is not the package
        "from . import outbox\n",
    ],
)
def test_port_and_store_imports_pass(source: str) -> None:
    assert forbidden_imports(source, ADAPTERS_AND_RUNTIME, "connector.engine.send") == set()


def test_a_new_adapter_import_in_an_engine_module_fails_the_check(tmp_path: Path) -> None:
    """The check end to end, on a copy of a real engine module with one import added."""
    real = PACKAGE / "engine" / "send.py"
    doctored = read(real) + "\nfrom connector.sms.twilio.errors import TwilioRecordError\n"
    assert forbidden_imports(read(real), ADAPTERS_AND_RUNTIME, "connector.engine.send") == set()
    assert forbidden_imports(doctored, ADAPTERS_AND_RUNTIME, "connector.engine.send") == {
        "connector.sms.twilio.errors"
    }


# --- the domain does no I/O -----------------------------------------------------------


def test_the_domain_does_no_io() -> None:
    found = {rel(p): io_uses(read(p), module_name(p)) for p in sources("domain")}
    assert {path: uses for path, uses in found.items() if uses} == {}


@pytest.mark.parametrize(
    ("source", "finding"),
    [
        ("import sqlalchemy as sa\n", "imports sqlalchemy"),
        ("from sqlalchemy import select\n", "imports sqlalchemy"),
        ("import requests\n", "imports requests"),
        ("import httpx\n", "imports httpx"),
        ("import socket\n", "imports socket"),
        ("from urllib.request import urlopen\n", "imports urllib.request"),
        ("import os\nHOME = os.environ['HOME']\n", "imports os"),
        ("from os import environ\n", "imports os"),
        ("def f(p):\n    return p.read_text()\n", "uses .read_text"),
        ("from pathlib import Path\n", "imports pathlib"),
        ("def f():\n    return open('x').read()\n", "calls open()"),
        ("import time\ntime.sleep(1)\n", "imports time"),
        ("def f(clock):\n    clock.sleep(1)\n", "uses .sleep"),
        ("from datetime import datetime\nNOW = datetime.now()\n", "uses .now"),
        ("def f():\n    print('x')\n", "calls print()"),
        ("def f():\n    import structlog\n", "imports structlog"),
    ],
)
def test_io_in_the_domain_is_caught(source: str, finding: str) -> None:
    assert any(finding in use for use in io_uses(source)), io_uses(source)


def test_a_pure_rule_passes_the_io_check() -> None:
    pure = (
        "import re\nfrom datetime import datetime, timedelta\nfrom zoneinfo import ZoneInfo\n"
        "import phonenumbers\n\n"
        "def due(at: datetime, zone: ZoneInfo) -> datetime:\n"
        "    return at.astimezone(zone) + timedelta(hours=1)\n"
    )
    assert io_uses(pure) == []


# --- SQL lives in connector/store ------------------------------------------------------


def sql_offenders() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for folder in SQL_FREE:
        for path in sources(folder):
            names = forbidden_imports(read(path), SQL, module_name(path))
            if names:
                found[rel(path)] = names
    return found


def test_no_sqlalchemy_outside_the_store_beyond_the_known_offenders() -> None:
    found = sql_offenders()
    unexpected = {
        path: names - KNOWN_SQL_IMPORTS.get(path, (frozenset(), ""))[0]
        for path, names in found.items()
    }
    assert {path: names for path, names in unexpected.items() if names} == {}


def test_each_known_sql_offender_still_offends_and_says_why() -> None:
    found = sql_offenders()
    for path, (names, why) in KNOWN_SQL_IMPORTS.items():
        assert found.get(path) == set(names), path
        assert len(why) > 40, path


@pytest.mark.parametrize(
    "source",
    [
        "import sqlalchemy as sa\n",
        "from sqlalchemy import select\n",
        "from sqlalchemy.dialects.postgresql import insert\n",
        "from connector.store.tables import sms_outbox\n",
        "from connector.store import tables as tb\n",
        "def f():\n    import sqlalchemy\n",
    ],
)
def test_sql_in_the_engine_is_caught(source: str) -> None:
    assert forbidden_imports(source, SQL, "connector.engine.sweep") != set()


@pytest.mark.parametrize(
    "source",
    [
        "from connector.ports import Connection\n",
        "from connector.store import sms_outbox, sla\n",
        "from connector.store.heartbeat import Heartbeat\n",
    ],
)
def test_repositories_and_the_port_handle_pass(source: str) -> None:
    assert forbidden_imports(source, SQL, "connector.engine.sweep") == set()


def test_the_report_has_no_sql_allowance() -> None:
    """The report's queries are repositories in connector/store/report_*.py: no report
    module may import SQLAlchemy or the tables, and none is excused."""
    assert not [path for path in KNOWN_SQL_IMPORTS if path.startswith("connector/report/")]
    assert {p: n for p, n in sql_offenders().items() if p.startswith("connector/report/")} == {}


def test_sql_added_to_a_report_module_fails_the_check() -> None:
    """The check end to end, on a copy of a real report module with one import added."""
    real = PACKAGE / "report" / "queries.py"
    name = module_name(real)
    assert forbidden_imports(read(real), SQL, name) == set()
    for added, found in (
        ("import sqlalchemy as sa\n", {"sqlalchemy"}),
        ("from connector.store import tables as tb\n", {"connector.store.tables"}),
    ):
        assert forbidden_imports(read(real) + added, SQL, name) == found

"""One write path (issue 2, item 8): only blastflow/store talks to SQLite or the Table service.

Everything else changes a job through `StateStore.update` (merge, then a
conditional write). A module outside the store that imports sqlite3 or
azure.data.tables, or reaches for a store's internal write methods, could write
a row past the merge: exactly how an orphan step was once left spinning.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCANNED = ("blastflow", "flows", "tasks", "ui")
STORE_PACKAGE = Path("blastflow") / "store"
FORBIDDEN_MODULES = ("sqlite3", "azure.data.tables")
# The store's private write path, and the Table SDK's entity writes.
FORBIDDEN_ATTRIBUTES = frozenset(
    {
        "_write_record",
        "_append_group",
        "_write",
        "_conn",
        "_jobs",
        "_logs",
        "_service",
        "merge_and_write",
        "create_entity",
        "update_entity",
        "upsert_entity",
        "delete_entity",
        "submit_transaction",
    }
)


@dataclass(frozen=True, order=True)
class Violation:
    path: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}"


def _forbidden_module(name: str) -> str | None:
    for module in FORBIDDEN_MODULES:
        if name == module or name.startswith(module + "."):
            return module
    return None


def violations_in(source: str, path: str) -> list[Violation]:
    """Every import of a store backend and every use of a store-internal write method in `source`."""
    found: list[Violation] = []
    for node in ast.walk(ast.parse(source, filename=path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if module := _forbidden_module(alias.name):
                    found.append(Violation(path, node.lineno, f"imports {module}"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            if module := next(filter(None, map(_forbidden_module, names)), None):
                found.append(Violation(path, node.lineno, f"imports {module}"))
        elif isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_ATTRIBUTES:
            found.append(Violation(path, node.lineno, f"uses the store-internal write path .{node.attr}"))
        elif isinstance(node, ast.Call) and _is_dynamic_import(node):
            module = _forbidden_module(node.args[0].value)  # type: ignore[attr-defined]
            if module:
                found.append(Violation(path, node.lineno, f"imports {module} dynamically"))
    return found


def _is_dynamic_import(node: ast.Call) -> bool:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    return (
        name in ("import_module", "__import__")
        and bool(node.args)
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    )


def scan(root: Path) -> list[Violation]:
    """Violations in every .py file under the scanned packages of `root`, outside blastflow/store."""
    found: list[Violation] = []
    for package in SCANNED:
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root)
            if relative.is_relative_to(STORE_PACKAGE):
                continue
            found.extend(violations_in(path.read_text(encoding="utf-8"), str(relative)))
    return sorted(found)


def test_only_the_store_package_talks_to_sqlite_or_the_table_service() -> None:
    found = scan(REPO)
    assert not found, "write job state through StateStore.update only:\n" + "\n".join(map(str, found))


def test_the_scan_covers_the_code_it_claims_to() -> None:
    files = [p for package in SCANNED for p in (REPO / package).rglob("*.py")]
    assert any(p.is_relative_to(REPO / STORE_PACKAGE) for p in files)
    assert len(files) >= 10
    store_sources = "\n".join(p.read_text() for p in (REPO / STORE_PACKAGE).rglob("*.py"))
    assert "import sqlite3" in store_sources and "from azure.data.tables import" in store_sources


PLANTED = """
import sqlite3 as db
import azure.data.tables
from azure.data import tables
from azure.data.tables import TableClient
from azure.data.tables._table_client import TableClient as T2
import importlib
importlib.import_module("sqlite3")
from blastflow.store import open_store

def sneaky(store, client):
    store._write_record(None, None)
    client.upsert_entity({})
    with store._write() as conn:
        conn.execute("UPDATE jobs SET record = '{}'")
"""

ALLOWED = """
import sqlite3
from azure.data.tables import TableClient
from blastflow.store import open_store
from blastflow.merge import JobUpdate

def fine(store):
    return store.update("job", JobUpdate(title="x"))
"""


def test_the_scan_catches_planted_violations_and_spares_the_store(tmp_path: Path) -> None:
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "sneaky.py").write_text(PLANTED)
    (tmp_path / "ui").mkdir()
    (tmp_path / "ui" / "fine.py").write_text(
        ALLOWED.replace("import sqlite3\n", "").replace("from azure.data.tables import TableClient\n", "")
    )
    (tmp_path / "blastflow" / "store").mkdir(parents=True)
    (tmp_path / "blastflow" / "store" / "backend.py").write_text(ALLOWED)

    found = scan(tmp_path)

    assert {(v.path, v.line, v.what) for v in found} == {
        ("tasks/sneaky.py", 2, "imports sqlite3"),
        ("tasks/sneaky.py", 3, "imports azure.data.tables"),
        ("tasks/sneaky.py", 4, "imports azure.data.tables"),
        ("tasks/sneaky.py", 5, "imports azure.data.tables"),
        ("tasks/sneaky.py", 6, "imports azure.data.tables"),
        ("tasks/sneaky.py", 8, "imports sqlite3 dynamically"),
        ("tasks/sneaky.py", 12, "uses the store-internal write path ._write_record"),
        ("tasks/sneaky.py", 13, "uses the store-internal write path .upsert_entity"),
        ("tasks/sneaky.py", 14, "uses the store-internal write path ._write"),
    }


@pytest.mark.parametrize(
    "source", ["import sqlite3", "from sqlite3 import connect", "import azure.data.tables.aio", "x._conn.execute('')"]
)
def test_each_form_of_violation_is_seen_on_its_own(source: str) -> None:
    assert len(violations_in(source, "flows/x.py")) == 1


def test_lookalike_names_are_not_violations() -> None:
    assert violations_in("import sqlite3_utils\nfrom azure.data.tablesx import y\nstore.update('j', u)", "x.py") == []

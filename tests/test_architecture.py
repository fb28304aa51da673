"""One write path (issue 2, item 8): only blastflow/store talks to SQLite or the Table service.

Everything else changes a job through `StateStore.update` (merge, then a
conditional write). A module outside the store that imports sqlite3 or
azure.data.tables, or reaches for a store's internal write methods, could write
a row past the merge: exactly how an orphan step was once left spinning.

The import rules of DESIGN.md "Layout" (second half of this file): the core
(`blastflow/`) imports neither Prefect nor Streamlit nor the layers above it
(flows, tasks, ops, ui), except that the listed, marked block-lookup modules may
import Prefect; the two backend packages never import each other; Prefect appears
only in flows/, tasks/, ops/ and those modules; `blastflow/backends/base.py` holds
the Backend protocol only. Imports are read with `ast` at any depth (tests/source_tree.py).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.source_tree import Finding, SourceModule, imports_of, is_type_checking, load_modules

REPO = Path(__file__).resolve().parent.parent
SCANNED = ("blastflow", "flows", "tasks", "ops", "ui")
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


def _forbidden_module(name: str) -> str | None:
    for module in FORBIDDEN_MODULES:
        if name == module or name.startswith(module + "."):
            return module
    return None


def violations_in(source: str, path: str) -> list[Finding]:
    """Every import of a store backend and every use of a store-internal write method in `source`."""
    found: list[Finding] = []
    for node in ast.walk(ast.parse(source, filename=path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if module := _forbidden_module(alias.name):
                    found.append(Finding(path, node.lineno, f"imports {module}"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            if module := next(filter(None, map(_forbidden_module, names)), None):
                found.append(Finding(path, node.lineno, f"imports {module}"))
        elif isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_ATTRIBUTES:
            found.append(Finding(path, node.lineno, f"uses the store-internal write path .{node.attr}"))
        elif isinstance(node, ast.Call) and _is_dynamic_import(node):
            module = _forbidden_module(node.args[0].value)  # type: ignore[attr-defined]
            if module:
                found.append(Finding(path, node.lineno, f"imports {module} dynamically"))
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


def scan(root: Path) -> list[Finding]:
    """Violations in every .py file under the scanned packages of `root`, outside blastflow/store."""
    found: list[Finding] = []
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


# ======================================================================================================
# Import rules (DESIGN.md "Layout"): the core stays free of Prefect and Streamlit, the backends stay apart.
# ======================================================================================================

PRODUCT = ("blastflow", "flows", "tasks", "ops", "ui")
ORCHESTRATION = frozenset({"flows", "tasks", "ops"})  # the layers that may import Prefect
APP_LAYERS = frozenset({"streamlit", "flows", "tasks", "ui", "ops"})  # what sits on top of the core
BACKEND_PACKAGES = ("blastflow.backends.local", "blastflow.backends.elastic_blast")
BACKEND_PROTOCOL = "blastflow/backends/base.py"
PREFECT_MARKER = "# architecture: Prefect block lookups (may import prefect)"
# The reviewed list of core modules that may look up Prefect blocks: adding one is a visible change here.
PREFECT_LOOKUP_MODULES = frozenset({"blastflow/store/blocks.py", "blastflow/backends/elastic_blast/credentials.py"})


def _top(name: str) -> str:
    return name.partition(".")[0]


def _is_prefect(name: str) -> bool:
    """`prefect` itself or one of its integrations (`prefect_azure`, `prefect_kubernetes`, ...)."""
    return _top(name) == "prefect" or _top(name).startswith("prefect_")


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def broken_rules(importer: str, imported: str, may_use_prefect: bool) -> Iterator[str]:
    """The rules module `importer` breaks by importing module `imported` (both dotted names)."""
    layer, target = _top(importer), _top(imported)
    if _is_prefect(imported) and layer not in ORCHESTRATION and not may_use_prefect:
        yield f"imports {target}: Prefect belongs in flows/, tasks/, ops/ or a listed block-lookup module"
    if layer == "blastflow" and target in APP_LAYERS:
        yield f"the core imports {target}"
    for own in BACKEND_PACKAGES:
        for other in BACKEND_PACKAGES:
            if own != other and _within(importer, own) and _within(imported, other):
                yield f"{own} imports {other}: the backends must not depend on each other"
    if layer == "ui" and target in ORCHESTRATION:
        yield f"ui imports {target}: the page reads the store, it never runs flows or tasks"


def _marker_lines(modules: dict[str, SourceModule]) -> dict[str, int]:
    """Path -> line of the Prefect-lookup marker, for every module that carries it."""
    return {
        module.path: number
        for module in modules.values()
        for number, line in enumerate(module.source.splitlines(), 1)
        if line.strip() == PREFECT_MARKER
    }


def _marker_violations(marked: dict[str, int], listed: frozenset[str]) -> Iterator[Finding]:
    for path in sorted(marked.keys() - listed):
        yield Finding(path, marked[path], "carries the Prefect-lookup marker but is not in PREFECT_LOOKUP_MODULES")
    for path in sorted(listed - marked.keys()):
        yield Finding(path, 0, "is in PREFECT_LOOKUP_MODULES but is missing or lacks the marker line")


def _is_backend_protocol(node: ast.stmt) -> bool:
    bases = [b.attr if isinstance(b, ast.Attribute) else getattr(b, "id", "") for b in getattr(node, "bases", [])]
    return isinstance(node, ast.ClassDef) and node.name == "Backend" and "Protocol" in bases


def _allowed_in_protocol_module(node: ast.stmt) -> bool:
    """A docstring, an import, `__all__`, an `if TYPE_CHECKING:` of imports, or the Backend protocol."""
    if isinstance(node, ast.If) and is_type_checking(node.test):
        return all(isinstance(n, ast.Import | ast.ImportFrom) for n in node.body + node.orelse)
    is_docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    is_all = isinstance(node, ast.Assign) and [getattr(t, "id", "") for t in node.targets] == ["__all__"]
    return is_docstring or is_all or isinstance(node, ast.Import | ast.ImportFrom) or _is_backend_protocol(node)


def protocol_module_violations(module: SourceModule) -> Iterator[Finding]:
    """`blastflow/backends/base.py` holds the Backend protocol only; the search's types live in search.py."""
    for node in module.tree.body:
        if not _allowed_in_protocol_module(node):
            what = getattr(node, "name", type(node).__name__.lower())
            yield Finding(module.path, node.lineno, f"holds {what}: only the Backend protocol belongs here")
    for imported in imports_of(module):
        if _top(imported.name) == "pydantic":
            yield Finding(module.path, imported.line, "imports pydantic: models belong in blastflow/search.py")


def import_violations(root: Path, listed: frozenset[str] = PREFECT_LOOKUP_MODULES) -> list[Finding]:
    """Every broken import rule in the product packages under `root`."""
    modules = load_modules(root, PRODUCT)
    marked = _marker_lines(modules)
    found = set(_marker_violations(marked, listed))
    for module in modules.values():
        may_use_prefect = module.path in listed and module.path in marked
        for imported in imports_of(module):
            rules = broken_rules(module.name, imported.name, may_use_prefect)
            found.update(Finding(module.path, imported.line, what) for what in rules)
        if module.path == BACKEND_PROTOCOL:
            found.update(protocol_module_violations(module))
    return sorted(found)


def test_the_product_keeps_the_import_rules() -> None:
    found = import_violations(REPO)
    assert not found, "import rules of DESIGN.md 'Layout' broken:\n" + "\n".join(map(str, found))


def test_the_import_scan_reads_the_code_it_claims_to() -> None:
    modules = load_modules(REPO, PRODUCT)
    assert {_top(name) for name in modules} == set(PRODUCT)
    assert BACKEND_PROTOCOL in {m.path for m in modules.values()}
    flows_imports = [i.name for m in modules.values() if _top(m.name) == "flows" for i in imports_of(m)]
    assert any(map(_is_prefect, flows_imports)), "the scan should see the flows import Prefect"


PLANTED_IMPORTS = {
    "blastflow/store/blocks.py": f'''"""Listed and marked: may look up Prefect blocks, but nothing else of the app."""
{PREFECT_MARKER}
from prefect.blocks.system import Secret
from prefect_azure import AzureBlobStorageCredentials
import streamlit
''',
    "blastflow/store/rogue.py": f"""{PREFECT_MARKER}
from prefect import get_client
""",
    "blastflow/steps/sneaky.py": """from __future__ import annotations
import importlib
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from prefect.client.schemas import FlowRun
def later():
    import prefect_kubernetes.credentials
    from flows import blast_search
    importlib.import_module("ui.view")
    __import__("tasks.submit")
from ops.cli import main
import prefecture, prefect2, streamlit_like
""",
    "blastflow/backends/__init__.py": """import importlib
BACKENDS = {"local": ("blastflow.backends.local.backend", "LocalBackend"),
            "elastic-blast": ("blastflow.backends.elastic_blast.backend", "ElasticBlastBackend")}
def get_backend(name):
    return importlib.import_module(BACKENDS[name][0])
""",
    "blastflow/backends/local/backend.py": """from blastflow.backends.base import Backend
from ..elastic_blast import pods
from blastflow.backends import elastic_blast, BACKENDS
""",
    "blastflow/backends/elastic_blast/pods.py": """from blastflow.backends.local.run_files import RunFiles
from blastflow.backends import BACKENDS
import prefect_kubernetes
""",
    "blastflow/backends/base.py": '''"""The Backend protocol."""
from typing import Protocol
from pydantic import BaseModel
__all__ = ["Backend"]
class PodCounts(BaseModel):
    running: int = 0
class Backend(Protocol):
    name: str
''',
    "ui/page.py": """import streamlit as st
from prefect import get_client
from flows.blast_search import blast_search
from blastflow.store import open_store
""",
    "flows/blast_search.py": "from prefect import flow\nfrom tasks.submit import submit\n",
    "tasks/submit.py": "from prefect import task\nfrom blastflow import steps\n",
    "ops/cli.py": "from prefect import get_client\nfrom flows import blast_search\nfrom ui import app\n",
}
PREFECT_RULE = ": Prefect belongs in flows/, tasks/, ops/ or a listed block-lookup module"
LOCAL_TO_ELB = (
    "blastflow.backends.local imports blastflow.backends.elastic_blast: the backends must not depend on each other"
)
ELB_TO_LOCAL = (
    "blastflow.backends.elastic_blast imports blastflow.backends.local: the backends must not depend on each other"
)


def test_the_import_scan_catches_planted_violations(tmp_path: Path) -> None:
    for path, source in PLANTED_IMPORTS.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(source)

    found = import_violations(tmp_path, listed=frozenset({"blastflow/store/blocks.py", "blastflow/gone.py"}))

    assert {(v.path, v.line, v.what) for v in found} == {
        ("blastflow/store/blocks.py", 5, "the core imports streamlit"),
        ("blastflow/store/rogue.py", 1, "carries the Prefect-lookup marker but is not in PREFECT_LOOKUP_MODULES"),
        ("blastflow/store/rogue.py", 2, "imports prefect" + PREFECT_RULE),
        ("blastflow/gone.py", 0, "is in PREFECT_LOOKUP_MODULES but is missing or lacks the marker line"),
        ("blastflow/steps/sneaky.py", 5, "imports prefect" + PREFECT_RULE),
        ("blastflow/steps/sneaky.py", 7, "imports prefect_kubernetes" + PREFECT_RULE),
        ("blastflow/steps/sneaky.py", 8, "the core imports flows"),
        ("blastflow/steps/sneaky.py", 9, "the core imports ui"),
        ("blastflow/steps/sneaky.py", 10, "the core imports tasks"),
        ("blastflow/steps/sneaky.py", 11, "the core imports ops"),
        ("blastflow/backends/local/backend.py", 2, LOCAL_TO_ELB),
        ("blastflow/backends/local/backend.py", 3, LOCAL_TO_ELB),
        ("blastflow/backends/elastic_blast/pods.py", 1, ELB_TO_LOCAL),
        ("blastflow/backends/elastic_blast/pods.py", 3, "imports prefect_kubernetes" + PREFECT_RULE),
        ("blastflow/backends/base.py", 3, "imports pydantic: models belong in blastflow/search.py"),
        ("blastflow/backends/base.py", 5, "holds PodCounts: only the Backend protocol belongs here"),
        ("ui/page.py", 2, "imports prefect" + PREFECT_RULE),
        ("ui/page.py", 3, "ui imports flows: the page reads the store, it never runs flows or tasks"),
    }


@pytest.mark.parametrize(
    ("importer", "imported", "rule"),
    [
        ("blastflow.store.connection", "prefect.blocks.system", "imports prefect" + PREFECT_RULE),
        ("blastflow.backends.elastic_blast.results", "prefect_azure", "imports prefect_azure" + PREFECT_RULE),
        ("blastflow.search", "streamlit", "the core imports streamlit"),
        ("blastflow.steps.submit", "tasks.submit", "the core imports tasks"),
        ("blastflow.backends.local.submit", "blastflow.backends.elastic_blast", "blastflow.backends.local imports"),
        ("blastflow.backends.elastic_blast", "blastflow.backends.local.run_files", "blastflow.backends.elastic_blast"),
        ("ui.app", "prefect", "imports prefect" + PREFECT_RULE),
        ("ui.job_page", "ops.cli", "ui imports ops"),
    ],
)
def test_each_import_rule_on_its_own(importer: str, imported: str, rule: str) -> None:
    assert [what for what in broken_rules(importer, imported, may_use_prefect=False) if what.startswith(rule)]


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("flows.blast_search", "prefect"),
        ("tasks.submit", "prefect_kubernetes"),
        ("ops.cli", "flows.reconcile"),
        ("ui.view", "blastflow.steps"),
        ("blastflow.backends", "blastflow.backends.local.backend"),  # the registry sits above both backends
        ("blastflow.backends.local.backend", "blastflow.backends.base"),
        ("blastflow.store.sqlite", "prefecture"),
        ("blastflow.backends.localish", "blastflow.backends.elastic_blast"),
    ],
)
def test_allowed_imports_break_no_rule(importer: str, imported: str) -> None:
    assert list(broken_rules(importer, imported, may_use_prefect=False)) == []

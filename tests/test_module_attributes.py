"""No dangling module attributes: fix A of the prior pipeline's hardening notes, made a static check.

The earlier pipeline crashed mid-submit with "module 'api.tasks.blast' has no attribute
'_tail_text'": a package stopped re-exporting a helper that another module still
called as `_blast._tail_text(...)`, and nothing failed until that line ran. Here every
use of one of our modules is resolved against the target's syntax tree, without
importing anything:

- `m.attr` (and `a.b.c` chains) after `import our.module [as m]` or `from our.package import module`;
- `m.attr(...)` where `attr` is now a submodule, not the function it used to re-export
  (`steps.submit(...)` once `blastflow/steps/__init__.py` stops importing the function);
- `from our.module import name`, `import our.module`, `importlib.import_module("our.module")`;
- the names a module lists in `__all__`.

A module's names are its top-level definitions, assignments and imports (also inside
top-level if/try/with blocks), its submodules when it is a package, and what it
star-imports. A name bound only under `if TYPE_CHECKING:` counts in annotations and
TYPE_CHECKING blocks only. What cannot be resolved statically (a module that defines
`__getattr__`, a star import from outside our packages) is skipped with its reason.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from tests.source_tree import Finding, SourceModule, absolute, dynamic_import, is_type_checking, load_modules

REPO = Path(__file__).resolve().parent.parent
OURS = ("blastflow", "flows", "tasks", "ops", "ui", "bench", "tests")
MODULE_DUNDERS = frozenset(
    {"__name__", "__file__", "__doc__", "__path__", "__spec__", "__loader__", "__package__", "__dict__"}
)
_SCOPES = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
_COMPREHENSIONS = ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp
# Nodes with nothing to check inside (skipped for speed).
_LEAVES = (ast.Name, ast.Constant, ast.expr_context, ast.operator, ast.unaryop, ast.cmpop, ast.boolop, ast.alias)


@dataclass(frozen=True)
class Binding:
    """What a top-level name is bound to: a value, a module, or `from <target> import <name>`."""

    kind: str  # "value" | "module" | "from"
    target: str = ""
    name: str = ""


@dataclass(frozen=True)
class Found:
    """What `module.attr` resolves to."""

    kind: str  # "module" | "value" | "foreign" | "missing" | "unknown"
    detail: str = ""  # the module (kind "module"), or why (kinds "missing", "unknown")


@dataclass
class Surface:
    """The names a module binds at its top level: what `module.<name>` can be."""

    runtime: dict[str, Binding] = field(default_factory=dict)
    typing_only: dict[str, Binding] = field(default_factory=dict)
    star_from: list[str] = field(default_factory=list)
    dynamic: str = ""  # why its names cannot all be listed statically
    all_names: list[tuple[int, str]] = field(default_factory=list)


# --- what a module defines ------------------------------------------------------------------------------


def _top_level(body: list[ast.stmt], typing_only: bool = False) -> Iterator[tuple[ast.stmt, bool]]:
    """Each top-level statement, also inside if/try/with/for blocks, and whether only type checkers see it."""
    for stmt in body:
        yield stmt, typing_only
        if isinstance(stmt, _SCOPES):
            continue
        if isinstance(stmt, ast.If) and is_type_checking(stmt.test):
            yield from _top_level(stmt.body, True)
            yield from _top_level(stmt.orelse, typing_only)
            continue
        for block in (getattr(stmt, "body", []), getattr(stmt, "orelse", []), getattr(stmt, "finalbody", [])):
            yield from _top_level(block, typing_only)
        for part in (*getattr(stmt, "handlers", ()), *getattr(stmt, "cases", ())):
            yield from _top_level(part.body, typing_only)


def _assigned(stmt: ast.stmt) -> list[ast.expr]:
    if isinstance(stmt, ast.Assign):
        return stmt.targets
    if isinstance(stmt, ast.AugAssign | ast.For | ast.AsyncFor) or (isinstance(stmt, ast.AnnAssign) and stmt.value):
        return [stmt.target]  # type: ignore[union-attr]
    if isinstance(stmt, ast.With | ast.AsyncWith):
        return [item.optional_vars for item in stmt.items if item.optional_vars]
    return []


def _bindings(stmt: ast.stmt, package: str) -> Iterator[tuple[str, Binding]]:
    """The top-level names one statement binds."""
    if isinstance(stmt, _SCOPES):
        yield stmt.name, Binding("value")
    elif isinstance(stmt, ast.Import):
        for alias in stmt.names:
            name = alias.asname or alias.name.partition(".")[0]
            yield name, Binding("module", alias.name if alias.asname else name)
    elif isinstance(stmt, ast.ImportFrom):
        base = absolute(package, stmt.level, stmt.module)
        yield from ((a.asname or a.name, Binding("from", base, a.name)) for a in stmt.names if a.name != "*")
    else:
        for target in _assigned(stmt):
            yield from ((n.id, Binding("value")) for n in ast.walk(target) if isinstance(n, ast.Name))
        yield from ((h.name, Binding("value")) for h in getattr(stmt, "handlers", ()) if h.name)


def _all_entries(stmt: ast.stmt) -> Iterator[tuple[int, str]]:
    """`(line, name)` for each constant string in `__all__ = [...]` / `__all__ += [...]`."""
    targets = _assigned(stmt) if isinstance(stmt, ast.Assign | ast.AugAssign | ast.AnnAssign) else []
    value = getattr(stmt, "value", None)
    if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets) and isinstance(value, ast.List | ast.Tuple):
        yield from ((e.lineno, e.value) for e in value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str))


def surface_of(module: SourceModule) -> Surface:
    surface = Surface()
    for stmt, typing_only in _top_level(module.tree.body):
        names = surface.typing_only if typing_only else surface.runtime
        names.update(_bindings(stmt, module.package))
        if isinstance(stmt, ast.ImportFrom) and any(a.name == "*" for a in stmt.names):
            surface.star_from.append(absolute(module.package, stmt.level, stmt.module))
        if isinstance(stmt, ast.FunctionDef) and stmt.name == "__getattr__":
            surface.dynamic = f"{module.name} defines a module __getattr__"
        surface.all_names.extend(_all_entries(stmt))
    for node in ast.walk(module.tree) if "global " in module.source else ():
        if isinstance(node, ast.Global):  # `global x` in a function binds the module's x when it runs
            surface.runtime.update((name, Binding("value")) for name in node.names)
    return surface


class Index:
    """Our modules by dotted name, and what each `module.attr` resolves to."""

    def __init__(self, modules: dict[str, SourceModule], roots: tuple[str, ...]) -> None:
        self.modules = modules
        self.roots = frozenset(roots)
        self._surfaces: dict[str, Surface] = {}

    def surface(self, name: str) -> Surface:
        if name not in self._surfaces:
            self._surfaces[name] = surface_of(self.modules[name])
        return self._surfaces[name]

    def lookup(self, module: str, attr: str, typing_ok: bool = False, seen: frozenset = frozenset()) -> Found:
        """What `module.attr` is; `typing_ok` where only a type checker evaluates it."""
        if (module, attr) in seen:
            return Found("missing", "an import cycle")
        seen = seen | {(module, attr)}
        surface = self.surface(module)
        binding = surface.runtime.get(attr) or (surface.typing_only.get(attr) if typing_ok else None)
        if binding:
            return self._follow(binding, typing_ok, seen)
        if f"{module}.{attr}" in self.modules:
            return Found("module", f"{module}.{attr}")
        if attr in MODULE_DUNDERS:
            return Found("value")
        for star in surface.star_from:
            if star not in self.modules:
                return Found("unknown", f"{module} star-imports {star}")
            if (found := self.lookup(star, attr, typing_ok, seen)).kind != "missing":
                return found
        if surface.dynamic:
            return Found("unknown", surface.dynamic)
        return Found("missing", "bound only under TYPE_CHECKING" if attr in surface.typing_only else "")

    def _follow(self, binding: Binding, typing_ok: bool, seen: frozenset) -> Found:
        if binding.kind == "value":
            return Found("value")
        if binding.target not in self.modules:
            return Found("foreign")  # not ours; or ours but missing, which its import line reports
        if binding.kind == "module":
            return Found("module", binding.target)
        # `from target import name`: the attribute when target defines it, else the submodule target.name
        found = self.lookup(binding.target, binding.name, typing_ok, seen)
        if found.kind == "missing" and f"{binding.target}.{binding.name}" in self.modules:
            return Found("module", f"{binding.target}.{binding.name}")
        return found


# --- where a module uses another ------------------------------------------------------------------------


@dataclass
class Scope:
    """The names one scope binds, each with the modules it may mean (None: something that is not a module)."""

    parent: Scope | None
    is_class: bool = False
    names: dict[str, set[str | None]] = field(default_factory=lambda: defaultdict(set))

    def bind(self, name: str, module: str | None = None) -> None:
        self.names[name].add(module)

    def module(self, name: str) -> str | None:
        """The module `name` means here: only when every binding of it in its scope imports that module."""
        scope: Scope | None = self
        while scope is not None and name not in scope.names:
            scope = scope.parent
        meanings = scope.names[name] if scope else set()
        return next(iter(meanings)) if len(meanings) == 1 else None

    def function_parent(self) -> Scope:
        """The scope a function defined here sees: a class body is not visible inside its methods."""
        scope = self
        while scope.is_class and scope.parent is not None:
            scope = scope.parent
        return scope


@dataclass(frozen=True)
class Use:
    """`a.b.c` in some scope, with whether only a type checker evaluates it."""

    node: ast.Attribute
    chain: list[str]
    scope: Scope
    typing: bool


def _arguments(args: ast.arguments) -> list[ast.arg]:
    return [*args.posonlyargs, *args.args, *filter(None, [args.vararg]), *args.kwonlyargs, *filter(None, [args.kwarg])]


def _chain(node: ast.Attribute) -> list[str] | None:
    """`a.b.c` -> ["a", "b", "c"]; None unless the chain starts at a plain name."""
    names: list[str] = []
    current: ast.expr = node
    while isinstance(current, ast.Attribute):
        names.append(current.attr)
        current = current.value
    return [current.id, *reversed(names)] if isinstance(current, ast.Name) else None


class ModuleChecker:
    """Checks each use of our modules in one module.

    One pass records every scope's bindings, the imports (checked at once) and the
    attribute chains; the chains are resolved afterwards, when each scope's names are known.
    A parameter or assignment of the same name in a scope makes its uses there unknowable: they are left alone.
    """

    def __init__(self, index: Index, module: SourceModule) -> None:
        self.index, self.module = index, module
        self.dangling: list[Finding] = []
        self.skipped: list[Finding] = []
        self._uses: list[Use] = []
        self._called: set[int] = set()

    def check(self) -> ModuleChecker:
        self._visit_all(self.module.tree.body, Scope(None), typing=False)
        for use in self._uses:
            self._check_use(use)
        for line, name in self.index.surface(self.module.name).all_names:
            if (found := self.index.lookup(self.module.name, name)).kind == "missing":
                why = f" ({found.detail})" if found.detail else ""
                self._add(self.dangling, line, f"__all__ lists {name!r}, which {self.module.name} does not define{why}")
        return self

    def _add(self, into: list[Finding], line: int, what: str) -> None:
        into.append(Finding(self.module.path, line, what))

    def _visit_all(self, nodes: Iterable[ast.AST], scope: Scope, typing: bool) -> None:
        for node in nodes:
            self._visit(node, scope, typing)

    def _visit(self, node: ast.AST, scope: Scope, typing: bool) -> None:
        if isinstance(node, _LEAVES):
            if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
                scope.bind(node.id)
            return
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            return self._visit_function(node, scope, typing)
        if isinstance(node, ast.ClassDef):
            scope.bind(node.name)
            self._visit_all([*node.decorator_list, *node.bases, *node.keywords], scope, typing)
            return self._visit_all(node.body, Scope(scope, is_class=True), typing)
        if isinstance(node, _COMPREHENSIONS):  # its loop variables are its own
            return self._visit_all(ast.iter_child_nodes(node), Scope(scope), typing)
        if isinstance(node, ast.If) and is_type_checking(node.test):
            self._visit_all(node.body, scope, True)
            return self._visit_all(node.orelse, scope, typing)
        if isinstance(node, ast.AnnAssign):
            self._visit(node.annotation, scope, True)
            return self._visit_all(filter(None, [node.target, node.value]), scope, typing)
        self._record(node, scope, typing)
        self._visit_all(ast.iter_child_nodes(node), scope, typing)

    def _record(self, node: ast.AST, scope: Scope, typing: bool) -> None:
        """Check an import at once and bind its names; remember an attribute chain; bind other names."""
        if isinstance(node, ast.Import | ast.ImportFrom):
            self._check_import(node, typing)
            for name, module in self._imported(node):
                scope.bind(name, module)
        elif isinstance(node, ast.Call):
            self._called.add(id(node.func))
            if name := dynamic_import(node, self.module):
                self._check_module(node, name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load) and (chain := _chain(node)):
            self._uses.append(Use(node, chain, scope, typing))
        elif isinstance(node, ast.Global | ast.Nonlocal):
            for name in node.names:
                scope.bind(name)
        elif isinstance(node, ast.ExceptHandler | ast.MatchAs | ast.MatchStar) and node.name:
            scope.bind(node.name)

    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda, scope: Scope, typing: bool):
        args = node.args
        decorators = getattr(node, "decorator_list", [])
        self._visit_all([*decorators, *args.defaults, *filter(None, args.kw_defaults)], scope, typing)
        annotations = [a.annotation for a in _arguments(args)] + [getattr(node, "returns", None)]
        self._visit_all(filter(None, annotations), scope, True)
        if not isinstance(node, ast.Lambda):
            scope.bind(node.name)
        inner = Scope(scope.function_parent())
        for arg in _arguments(args):
            inner.bind(arg.arg)
        self._visit_all(node.body if isinstance(node.body, list) else [node.body], inner, typing)

    def _imported(self, node: ast.Import | ast.ImportFrom) -> Iterator[tuple[str, str | None]]:
        """The names an import binds, each with the module of ours it means (None: not one)."""
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield (alias.asname, alias.name) if alias.asname else (alias.name.partition(".")[0],) * 2
            return
        base = absolute(self.module.package, node.level, node.module)
        for alias in (a for a in node.names if a.name != "*"):
            found = self.index.lookup(base, alias.name) if base in self.index.modules else Found("foreign")
            yield alias.asname or alias.name, found.detail if found.kind == "module" else None

    def _check_module(self, node: ast.stmt | ast.expr, name: str) -> bool:
        """Whether `name` is one of our modules that exists; reports it when it is ours and missing."""
        if name.partition(".")[0] not in self.index.roots:
            return False
        if name not in self.index.modules:
            self._add(self.dangling, node.lineno, f"no module {name}")
            return False
        return True

    def _check_import(self, node: ast.Import | ast.ImportFrom, typing: bool) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                self._check_module(node, alias.name)
            return
        base = absolute(self.module.package, node.level, node.module)
        if not self._check_module(node, base):
            return
        for alias in (a for a in node.names if a.name != "*"):
            found = self.index.lookup(base, alias.name, typing)
            self._report(node, f"from {base} import {alias.name}", base, alias.name, found)

    def _check_use(self, use: Use) -> None:
        module = use.scope.module(use.chain[0])
        if module not in self.index.modules:
            return
        *parents, last = use.chain[1:]
        for attr in parents:
            found = self.index.lookup(module, attr, use.typing)
            if found.kind != "module":
                return  # a value (not ours to check further), or dangling: the shorter chain reports it
            module = found.detail
        found = self.index.lookup(module, last, use.typing)
        text = ".".join(use.chain)
        if found.kind == "module" and id(use.node) in self._called:
            what = f"{text}(...) calls the module {found.detail}: a re-export is missing"
            return self._add(self.dangling, use.node.lineno, what)
        self._report(use.node, text, module, last, found)

    def _report(self, node: ast.stmt | ast.expr, use: str, module: str, attr: str, found: Found) -> None:
        if found.kind == "missing":
            why = f" ({found.detail})" if found.detail else ""
            self._add(self.dangling, node.lineno, f"{use}: {module} has no attribute {attr!r}{why}")
        elif found.kind == "unknown":
            self._add(self.skipped, node.lineno, f"{use}: not resolved statically, {found.detail}")


def check_tree(root: Path, packages: tuple[str, ...] = OURS) -> tuple[list[Finding], list[Finding]]:
    """(dangling uses, skipped uses) of our modules across `packages` under `root`."""
    return check_index(Index(load_modules(root, packages), packages))


def check_index(index: Index) -> tuple[list[Finding], list[Finding]]:
    checkers = [ModuleChecker(index, module).check() for module in index.modules.values()]
    return sorted(d for c in checkers for d in c.dangling), sorted(s for c in checkers for s in c.skipped)


# --- tests ------------------------------------------------------------------------------------------------


@cache
def _real_index() -> Index:
    return Index(load_modules(REPO, OURS), OURS)


@cache
def _real_report() -> tuple[list[Finding], list[Finding]]:
    return check_index(_real_index())


def test_no_module_attribute_of_ours_dangles() -> None:
    dangling, _ = _real_report()
    assert not dangling, "uses of names our modules do not define (re-export them, or fix the use):\n" + "\n".join(
        map(str, dangling)
    )


def test_what_is_skipped_is_skipped_for_a_stated_reason() -> None:
    _, skipped = _real_report()
    assert all("module __getattr__" in s.what or "star-imports" in s.what for s in skipped), skipped


def test_the_backend_registry_names_modules_and_classes_that_exist() -> None:
    """`blastflow.backends.BACKENDS` names its modules as strings (a lazy import by design): check them too."""
    index = _real_index()
    registry = next(
        node.value
        for node in index.modules["blastflow.backends"].tree.body
        if isinstance(node, ast.Assign | ast.AnnAssign)
        and "BACKENDS" in {getattr(t, "id", "") for t in _assigned(node)}
    )
    entries = ast.literal_eval(registry)
    assert entries, "the registry names no backend"
    for module, class_name in entries.values():
        assert module in index.modules, f"BACKENDS names {module}, which does not exist"
        assert index.lookup(module, class_name).kind == "value", f"{module} defines no {class_name}"


SCRATCH = {
    "scratch/__init__.py": "",
    "scratch/blast/__init__.py": '''"""Re-exports what the submit task calls."""
from scratch.blast.progress import _tail_text
from scratch.blast.submit import submit

__all__ = ["_tail_text", "submit"]
''',
    "scratch/blast/progress.py": "def _tail_text(lines):\n    return lines[-5:]\n",
    "scratch/blast/submit.py": "def submit(context):\n    return context\n",
    "scratch/submit_task.py": """from scratch import blast as _blast


def run(context, lines):
    _blast.submit(context)
    return _blast._tail_text(lines)
""",
}


def _write(root: Path, files: dict[str, str]) -> None:
    for path, source in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(source)


def _drop_line(path: Path, line: str) -> None:
    source = path.read_text()
    assert line + "\n" in source
    path.write_text(source.replace(line + "\n", ""))


def test_a_dropped_re_export_is_reported_where_it_is_used(tmp_path: Path) -> None:
    _write(tmp_path, SCRATCH)
    assert check_tree(tmp_path, ("scratch",)) == ([], [])

    _drop_line(tmp_path / "scratch/blast/__init__.py", "from scratch.blast.progress import _tail_text")

    dangling, _ = check_tree(tmp_path, ("scratch",))
    assert list(map(str, dangling)) == [
        "scratch/blast/__init__.py:4: __all__ lists '_tail_text', which scratch.blast does not define",
        "scratch/submit_task.py:6: _blast._tail_text: scratch.blast has no attribute '_tail_text'",
    ]


def test_a_dropped_re_export_that_leaves_a_submodule_of_its_name_is_reported(tmp_path: Path) -> None:
    _write(tmp_path, SCRATCH)

    _drop_line(tmp_path / "scratch/blast/__init__.py", "from scratch.blast.submit import submit")

    dangling, _ = check_tree(tmp_path, ("scratch",))
    assert list(map(str, dangling)) == [
        "scratch/submit_task.py:5: _blast.submit(...) calls the module scratch.blast.submit: a re-export is missing"
    ]


FORMS = {
    "scratch/__init__.py": "",
    "scratch/pkg/__init__.py": """from typing import TYPE_CHECKING
from scratch.pkg.core import CONSTANT, defined
if TYPE_CHECKING:
    from scratch.pkg.core import TypeOnly
__all__ = ["CONSTANT", "defined", "vanished"]  # dangling
""",
    "scratch/pkg/core.py": """import os
CONSTANT = 1
def defined(): ...
class TypeOnly: ...
try:
    from json import loads
except ImportError:
    loads = None
""",
    "scratch/lazy.py": "def __getattr__(name):\n    return name\n",
    "scratch/user.py": """from __future__ import annotations
import importlib
import scratch.pkg.core
import scratch.pkg as p
import scratch.gone  # dangling
from scratch import lazy
from scratch.pkg import defined, missing_name  # dangling
from scratch.pkg import TypeOnly  # dangling
from .pkg import core
from . import pkg
def use(arg: p.TypeOnly) -> p.core.TypeOnly:
    scratch.pkg.core.defined()
    scratch.pkg.core.undefined()  # dangling
    p.defined(), p.CONSTANT, p.core.os.path.join, p.core.loads, pkg.core.CONSTANT
    p.TypeOnly()  # dangling
    lazy.whatever  # skipped
    importlib.import_module("scratch.nowhere")  # dangling
    core.gone_too  # dangling
    p.core.defined.whatever
    p.not_yet_there = None
    return [p.anything for p in arg]
def shadowed(p, core):
    return p.anything, core.anything
""",
}


def _marked_lines(files: dict[str, str], mark: str) -> set[tuple[str, int]]:
    return {
        (path, number)
        for path, source in files.items()
        for number, line in enumerate(source.splitlines(), 1)
        if line.endswith(f"# {mark}")
    }


def test_every_form_of_dangling_use_is_reported_and_nothing_else(tmp_path: Path) -> None:
    _write(tmp_path, FORMS)

    dangling, skipped = check_tree(tmp_path, ("scratch",))

    assert {(d.path, d.line) for d in dangling} == _marked_lines(FORMS, "dangling"), "\n".join(map(str, dangling))
    assert {(s.path, s.line) for s in skipped} == _marked_lines(FORMS, "skipped")
    assert "scratch/user.py:5: no module scratch.gone" in map(str, dangling)
    assert (
        "scratch/user.py:15: p.TypeOnly: scratch.pkg has no attribute 'TypeOnly' (bound only under TYPE_CHECKING)"
        in (map(str, dangling))
    )

"""Our Python source as data, for the static tests: module names, parsed trees and imports.

Nothing here imports the code it reads. Modules are found by path and parsed with
`ast`, so a check stays fast, needs none of the code's dependencies, and sees
imports at any depth: inside functions, in `if TYPE_CHECKING:` blocks, and
`importlib.import_module("...")` / `__import__("...")` calls with a constant name.
Relative imports are resolved to absolute names.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

__all__ = ["Finding", "Import", "SourceModule", "absolute", "imports_of", "is_type_checking", "load_modules"]


@dataclass(frozen=True, order=True)
class Finding:
    """One thing a static check found: where, and what."""

    path: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}"


@dataclass(frozen=True)
class SourceModule:
    """One module: its dotted name, its path relative to the tree's root, its text and syntax tree."""

    name: str
    path: str
    is_package: bool
    source: str
    tree: ast.Module

    @property
    def package(self) -> str:
        """The package that the module's relative imports start from."""
        return self.name if self.is_package else self.name.rpartition(".")[0]


@dataclass(frozen=True)
class Import:
    """One imported module name (absolute) and the line that imports it."""

    line: int
    name: str


def load_modules(root: Path, packages: tuple[str, ...]) -> dict[str, SourceModule]:
    """Every module under `root/<package>` for each package, by dotted name.

    A directory without `__init__.py` is listed as a namespace package with an empty tree.
    """
    modules: dict[str, SourceModule] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root)
            parts = relative.with_suffix("").parts
            is_package = parts[-1] == "__init__"
            name = ".".join(parts[:-1] if is_package else parts)
            stat = path.stat()
            source, tree = _parse(path, relative.as_posix(), stat.st_mtime_ns, stat.st_size)
            modules[name] = SourceModule(name, relative.as_posix(), is_package, source, tree)
    for name in list(modules):
        parts = name.split(".")
        for depth in range(1, len(parts)):
            parent = ".".join(parts[:depth])
            if parent not in modules:
                empty = ast.Module(body=[], type_ignores=[])
                modules[parent] = SourceModule(parent, "/".join(parts[:depth]) + "/", True, "", empty)
    return modules


@cache
def _parse(path: Path, relative: str, mtime_ns: int, size: int) -> tuple[str, ast.Module]:
    """A file's text and tree, parsed once per version of the file (the checks share one parse)."""
    source = path.read_text(encoding="utf-8")
    return source, ast.parse(source, filename=relative)


def absolute(package: str, level: int, name: str | None) -> str:
    """The absolute module name of `from <level dots><name> import ...` written in `package`.

    Example:
        >>> absolute("blastflow.backends.local", 2, "elastic_blast.pods")
        'blastflow.backends.elastic_blast.pods'
        >>> absolute("blastflow.steps", 1, None)
        'blastflow.steps'
        >>> absolute("anything", 0, "prefect.blocks")
        'prefect.blocks'
    """
    if level == 0:
        return name or ""
    parts = package.split(".")
    base = parts[: max(len(parts) - (level - 1), 0)]
    return ".".join(base + ([name] if name else []))


def imports_of(module: SourceModule) -> Iterator[Import]:
    """Every module name `module` may import, at any depth.

    `from x import a` yields `x` and `x.a` (`a` may be a submodule of `x`).
    """
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = absolute(module.package, node.level, node.module)
            yield Import(node.lineno, base)
            yield from (Import(node.lineno, f"{base}.{a.name}") for a in node.names if a.name != "*")
        elif isinstance(node, ast.Call) and (name := dynamic_import(node, module)):
            yield Import(node.lineno, name)


def dynamic_import(node: ast.Call, module: SourceModule) -> str | None:
    """The absolute name in `importlib.import_module("...")` or `__import__("...")`, when it is a constant."""
    func = node.func
    called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    if called not in ("import_module", "__import__") or not node.args:
        return None
    first = node.args[0]
    if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
        return None
    name = first.value
    if not name.startswith("."):
        return name
    package_args = [*node.args[1:2], *(k.value for k in node.keywords if k.arg == "package")]
    package = next((a.value for a in package_args if isinstance(a, ast.Constant)), module.package)
    level = len(name) - len(name.lstrip("."))
    return absolute(str(package), level, name.lstrip(".") or None)


def is_type_checking(test: ast.expr) -> bool:
    """Whether an `if` test is `TYPE_CHECKING` or `typing.TYPE_CHECKING`."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )

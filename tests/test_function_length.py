"""No function over about 60 lines of code: long set-up reads as a list of small named steps (STYLE.md).

A static check over the shipped packages. A function's length is its lines of
code from the ``def`` line to its last line: the docstring, blank lines and
comment-only lines do not count; a nested function counts in its own right and
inside its parent.
"""

from __future__ import annotations

import ast
import io
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCANNED = ("blastflow", "flows", "tasks", "ops", "ui")
MAX_CODE_LINES = 60
# {"path::Qualified.name": why it may stay long}. Keep it empty: split the function instead.
ALLOWED: dict[str, str] = {}

_NOT_CODE = frozenset(
    {
        tokenize.COMMENT,
        tokenize.NL,
        tokenize.NEWLINE,
        tokenize.INDENT,
        tokenize.DEDENT,
        tokenize.ENCODING,
        tokenize.ENDMARKER,
    }
)


@dataclass(frozen=True, order=True)
class LongFunction:
    name: str  # "path::Qualified.name"
    line: int
    code_lines: int

    def __str__(self) -> str:
        return f"{self.name} (line {self.line}): {self.code_lines} lines of code"


def _code_lines(source: str) -> set[int]:
    """Line numbers holding at least one token of code (a multi-line string counts on every line)."""
    lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in _NOT_CODE:
            lines.update(range(token.start[0], token.end[0] + 1))
    return lines


def _docstring_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> set[int]:
    first = node.body[0]
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
        and first.end_lineno is not None
    ):
        return set(range(first.lineno, first.end_lineno + 1))
    return set()


def _functions(tree: ast.AST, prefix: str = "") -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """(qualified name, node) for every function, methods and nested functions included."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield prefix + node.name, node
            yield from _functions(node, f"{prefix}{node.name}.")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, f"{prefix}{node.name}.")
        else:
            yield from _functions(node, prefix)


def long_functions(source: str, path: str, limit: int = MAX_CODE_LINES) -> list[LongFunction]:
    """Every function in `source` with more than `limit` lines of code."""
    code = _code_lines(source)
    found = []
    for name, node in _functions(ast.parse(source, filename=path)):
        span = set(range(node.lineno, (node.end_lineno or node.lineno) + 1))
        count = len((span & code) - _docstring_lines(node))
        if count > limit:
            found.append(LongFunction(f"{path}::{name}", node.lineno, count))
    return found


def _long_functions_in_repo() -> list[LongFunction]:
    return sorted(
        long
        for path in sorted(path for package in SCANNED for path in (REPO / package).rglob("*.py"))
        for long in long_functions(path.read_text(encoding="utf-8"), path.relative_to(REPO).as_posix())
    )


def _planted(body_lines: int) -> str:
    """A function whose docstring, comments and blank lines hide how many lines of code it has."""
    body = "\n".join(f"    x{i} = {i}  # step {i}\n    # a comment\n" for i in range(body_lines - 2))
    return f'def planted():\n    """A docstring\n\n    spanning lines.\n    """\n{body}\n    return x0\n'


def test_no_function_is_over_the_limit() -> None:
    over = "\n".join(str(long) for long in _long_functions_in_repo() if long.name not in ALLOWED)
    assert not over, f"functions over {MAX_CODE_LINES} lines of code; split them into small named steps:\n{over}"


def test_the_allow_list_names_only_long_functions() -> None:
    stale = sorted(set(ALLOWED) - {long.name for long in _long_functions_in_repo()})
    assert not stale, f"remove these from ALLOWED, they are short now (or gone): {stale}"


@pytest.mark.parametrize(("code_lines", "caught"), [(70, True), (50, False), (60, False), (61, True)])
def test_a_planted_function_is_measured_by_its_code(tmp_path: Path, code_lines: int, caught: bool) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text(_planted(code_lines), encoding="utf-8")
    source = planted.read_text(encoding="utf-8")
    assert len(source.splitlines()) > 2 * code_lines  # comments and blank lines would push it over if counted
    found = long_functions(source, "planted.py")
    assert [(f.name, f.code_lines) for f in found] == ([("planted.py::planted", code_lines)] if caught else [])


def test_methods_and_nested_functions_are_named_by_their_place(tmp_path: Path) -> None:
    inner = _planted(70).replace("\n", "\n        ").replace("def planted", "def inner")
    source = f"class Outer:\n    def method(self):\n        {inner}\n        return inner\n"
    names = [f.name for f in long_functions(source, "m.py")]
    assert names == ["m.py::Outer.method", "m.py::Outer.method.inner"]

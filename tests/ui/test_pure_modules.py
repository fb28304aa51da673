"""The page's pure modules (`ui.view.*`, `ui.hit_table`): no Streamlit in them, and their docstring examples hold.

The examples run here because the suite's doctest collection covers tests/ and
blastflow/ only (ui/app.py runs the page when imported). The modules are found
by walking `ui.view`, so a new view module is checked without a change here.
"""

from __future__ import annotations

import ast
import doctest
import importlib
import inspect
import pkgutil

import pytest

import ui.view

PURE_MODULES = sorted(["ui.hit_table", *(f"ui.view.{m.name}" for m in pkgutil.iter_modules(ui.view.__path__))])


def _imported(name: str) -> set[str]:
    tree = ast.parse(inspect.getsource(importlib.import_module(name)))
    found = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    return found | {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}


def test_the_view_modules_are_all_found() -> None:
    assert {"ui.view.timeline", "ui.view.console", "ui.view.failure", "ui.view.header"} <= set(PURE_MODULES)


@pytest.mark.parametrize("name", PURE_MODULES)
def test_a_pure_module_does_not_import_streamlit(name: str) -> None:
    assert not {module for module in _imported(name) if module.split(".")[0] == "streamlit"}


@pytest.mark.parametrize("name", PURE_MODULES)
def test_the_examples_in_the_docstrings_hold(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted >= 1 and result.failed == 0

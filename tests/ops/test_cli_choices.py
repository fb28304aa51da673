"""`blastflow run --program/--backend`: choices from their one source, listed by `--help`, others refused."""

from __future__ import annotations

from typing import get_args

import pytest
from typer.testing import CliRunner

from blastflow.backends import BACKENDS
from blastflow.search import Program
from ops import cli

PROGRAMS = list(get_args(Program))
BACKEND_NAMES = list(BACKENDS)
WIDE = {"COLUMNS": "200"}  # Rich would wrap the choices across lines on a narrow terminal


def _run(*args: str):
    return CliRunner().invoke(cli.app, ["run", "--query", "q.fasta", "--db", "db.fasta", *args], env=WIDE)


def test_help_lists_every_program_and_backend_as_the_choices() -> None:
    result = CliRunner().invoke(cli.app, ["run", "--help"], env=WIDE)
    assert result.exit_code == 0
    assert f"<{'|'.join(PROGRAMS)}>" in result.output
    assert f"<{'|'.join(BACKEND_NAMES)}>" in result.output


@pytest.mark.parametrize(
    ("option", "value", "choices"),
    [("--program", "blastz", PROGRAMS), ("--backend", "k8s", BACKEND_NAMES)],
)
def test_a_value_outside_the_choices_exits_2_naming_them(option: str, value: str, choices: list[str]) -> None:
    result = _run(option, value)
    assert result.exit_code == 2
    assert f"Invalid value for '{option}'" in result.output and repr(value) in result.output
    assert ", ".join(repr(choice) for choice in choices) in result.output


@pytest.mark.parametrize(
    ("args", "program", "backend"),
    [(("--program", "tblastn", "--backend", "elastic-blast"), "tblastn", "elastic-blast"), ((), "blastp", "local")],
    ids=["chosen", "defaults"],
)
def test_the_program_and_backend_reach_the_flow_as_plain_names(
    monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], program: str, backend: str
) -> None:
    """The flow's parameters are names (a Literal), not the CLI's enum members."""
    handed: dict[str, object] = {}
    monkeypatch.setattr(cli, "_run_search", lambda **params: handed.update(params))
    result = _run(*args)
    assert result.exit_code == 0, result.output
    assert type(handed["program"]) is str and handed["program"] == program
    assert type(handed["backend"]) is str and handed["backend"] == backend

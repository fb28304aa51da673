"""BLAST programs and the molecule types they search with (query) and against (database)."""

from __future__ import annotations

from typing import Literal, get_args

from blastflow.errors import InputError
from blastflow.search import Program

__all__ = [
    "MOLECULE_NAMES",
    "PROGRAMS",
    "Molecule",
    "check_db_molecule",
    "check_program",
    "check_query_molecule",
    "programs_for",
]

Molecule = Literal["nucl", "prot"]

# program -> (query molecule, database molecule)
PROGRAMS: dict[str, tuple[Molecule, Molecule]] = {
    "blastn": ("nucl", "nucl"),
    "blastp": ("prot", "prot"),
    "blastx": ("nucl", "prot"),
    "tblastn": ("prot", "nucl"),
    "tblastx": ("nucl", "nucl"),
}
assert set(PROGRAMS) == set(get_args(Program))

MOLECULE_NAMES: dict[str, str] = {"nucl": "nucleotide", "prot": "protein"}


def check_program(program: str) -> Program:
    """Return `program` if BLAST+ has it, else raise `InputError` listing the choices."""
    if program not in PROGRAMS:
        raise InputError(
            f"unknown BLAST program {program!r}: choose one of {', '.join(PROGRAMS)}", code="invalid_program"
        )
    return program  # type: ignore[return-value]


def programs_for(query: Molecule | None = None, db: Molecule | None = None) -> list[str]:
    """Programs that take this query molecule and/or search this database molecule.

    >>> programs_for("nucl", "prot")
    ['blastx']
    >>> programs_for(db="nucl")
    ['blastn', 'tblastn', 'tblastx']
    """
    return [p for p, (q, d) in PROGRAMS.items() if query in (None, q) and db in (None, d)]


def _either(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def check_query_molecule(program: str, molecule: Molecule, source: str, example: str = "") -> None:
    """Raise `InputError` if `program` cannot search with a `molecule` query.

    >>> check_query_molecule("blastn", "prot", "query.fa", "seq1")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    blastflow.errors.InputError: blastn expects a nucleotide query, ... use blastp (protein database) or tblastn ...
    """
    expected = PROGRAMS[check_program(program)][0]
    if molecule == expected:
        return
    first = f" (first: {example!r})" if example else ""
    choices = [f"{p} ({MOLECULE_NAMES[PROGRAMS[p][1]]} database)" for p in programs_for(query=molecule)]
    raise InputError(
        f"{program} expects a {MOLECULE_NAMES[expected]} query, but {source} holds {MOLECULE_NAMES[molecule]} "
        f"sequences{first}. For a {MOLECULE_NAMES[molecule]} query use {_either(choices)}.",
        code="wrong_molecule",
    )


def check_db_molecule(program: str, molecule: Molecule, label: str, query: Molecule | None = None) -> None:
    """Raise `InputError` if `program` cannot search a `molecule` database.

    >>> check_db_molecule("blastp", "nucl", "cdna", query="prot")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    blastflow.errors.InputError: blastp searches a protein database, but 'cdna' is a nucleotide database. ...tblastn.
    """
    expected = PROGRAMS[check_program(program)][1]
    if molecule == expected:
        return
    fits = programs_for(query=query, db=molecule)
    if query is not None:
        hint = f"For a {MOLECULE_NAMES[query]} query against a {MOLECULE_NAMES[molecule]} database use {_either(fits)}."
    else:
        hint = f"Against a {MOLECULE_NAMES[molecule]} database use {_either(fits)}."
    raise InputError(
        f"{program} searches a {MOLECULE_NAMES[expected]} database, but {label!r} is a "
        f"{MOLECULE_NAMES[molecule]} database. {hint}",
        code="wrong_molecule",
    )

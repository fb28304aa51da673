"""Program / molecule rules: which program takes which query and database, and what to use instead."""

from __future__ import annotations

import pytest

from blastflow.errors import InputError
from blastflow.programs import PROGRAMS, check_db_molecule, check_program, check_query_molecule, programs_for


def test_rules_are_blast_s() -> None:
    assert PROGRAMS == {
        "blastn": ("nucl", "nucl"),
        "blastp": ("prot", "prot"),
        "blastx": ("nucl", "prot"),
        "tblastn": ("prot", "nucl"),
        "tblastx": ("nucl", "nucl"),
    }


def test_unknown_program_lists_choices() -> None:
    with pytest.raises(InputError, match="unknown BLAST program 'psiblast': choose one of blastn, blastp"):
        check_program("psiblast")


@pytest.mark.parametrize(
    ("program", "molecule", "expected"),
    [
        ("blastn", "prot", "blastn expects a nucleotide query, but q.fa holds protein sequences (first: 'p1'). "
         "For a protein query use blastp (protein database) or tblastn (nucleotide database)."),
        ("blastp", "nucl", "blastp expects a protein query, but q.fa holds nucleotide sequences (first: 'p1'). "
         "For a nucleotide query use blastn (nucleotide database), blastx (protein database) or tblastx "
         "(nucleotide database)."),
    ],
)  # fmt: skip
def test_wrong_query_molecule_says_what_to_use(program: str, molecule: str, expected: str) -> None:
    with pytest.raises(InputError) as caught:
        check_query_molecule(program, molecule, "q.fa", "p1")  # type: ignore[arg-type]
    assert str(caught.value) == expected
    assert caught.value.code == "wrong_molecule"


@pytest.mark.parametrize(("program", "query", "db"), [(p, q, d) for p, (q, d) in PROGRAMS.items()])
def test_right_molecules_pass(program: str, query: str, db: str) -> None:
    check_query_molecule(program, query, "q.fa")  # type: ignore[arg-type]
    check_db_molecule(program, db, "db")  # type: ignore[arg-type]
    assert program in programs_for(query, db)  # type: ignore[arg-type]


def test_wrong_db_molecule_suggests_the_program_that_fits_both() -> None:
    with pytest.raises(InputError) as caught:
        check_db_molecule("blastn", "prot", "swissprot", query="nucl")
    assert str(caught.value) == (
        "blastn searches a nucleotide database, but 'swissprot' is a protein database. "
        "For a nucleotide query against a protein database use blastx."
    )


def test_wrong_db_molecule_without_query() -> None:
    with pytest.raises(InputError, match="Against a protein database use blastp or blastx"):
        check_db_molecule("tblastn", "prot", "swissprot")

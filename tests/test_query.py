"""Query FASTA: text or path, validated with clear errors naming the record and line."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from Bio import SeqIO

from blastflow.errors import InputError
from blastflow.query import load_query, read_fasta, record_molecule

DATA = Path(__file__).resolve().parent.parent / "data" / "sinvicta"
PROT = DATA / "Sinvicta2-2-3.prot.subset.fasta"
CDNA = DATA / "Sinvicta2-2-3.cdna.subset.fasta"
PEPTIDE = "MNTLWLSLWDYPGKLPLNFMVFDTKDDLQAAYWRDPYSIPLAVIFEDPQPISQRLIYEIR"


def _input_error(query: str) -> InputError:
    with pytest.raises(InputError) as caught:
        load_query(query)
    return caught.value


def test_sample_proteins_match_biopython() -> None:
    query = load_query(str(PROT))
    expected = list(SeqIO.parse(PROT, "fasta"))
    assert query.molecule == "prot"
    assert query.count == len(expected) == 1189
    assert [r.id for r in query.records] == [r.id for r in expected]
    assert [r.sequence for r in query.records] == [str(r.seq) for r in expected]
    assert query.total_length == sum(len(r) for r in expected)
    assert query.records[0].title == expected[0].description
    assert query.source == str(PROT)


def test_sample_transcripts_are_nucleotide() -> None:
    query = load_query(str(CDNA))
    assert (query.molecule, query.count) == ("nucl", 473)


def test_text_starting_with_header_is_fasta_text() -> None:
    query = load_query(f"\n  >p1 first protein\n{PEPTIDE[:30]}\n{PEPTIDE[30:]}\n>p2\n{PEPTIDE.lower()}*\n")
    assert [r.id for r in query.records] == ["p1", "p2"]
    assert query.records[0].sequence == PEPTIDE
    assert query.records[1].line == 5
    assert query.source == "the query text"


def test_windows_line_endings(tmp_path: Path) -> None:
    path = tmp_path / "crlf.fa"
    path.write_bytes(b">a desc\r\nACGTACGT\r\nACGT\r\n>b\r\nGGGG\r\n")
    query = load_query(str(path))
    assert [(r.id, r.title, r.sequence) for r in query.records] == [("a", "a desc", "ACGTACGTACGT"), ("b", "b", "GGGG")]


def test_shell_metacharacters_in_ids_are_plain_data() -> None:
    weird = "a;rm -rf $(reboot)|`ls`&&b"
    query = load_query(f">{weird} desc\n{PEPTIDE}\n")
    assert query.records[0].id == "a;rm"
    assert query.records[0].title == f"{weird} desc"


def test_missing_path_says_what_to_give() -> None:
    error = _input_error("/nonexistent/q.fa")
    assert "'/nonexistent/q.fa' does not exist" in str(error)
    assert "FASTA text starting with '>'" in str(error)
    assert error.code == "invalid_query"


@pytest.mark.parametrize("query", ["", "   \n\t"])
def test_empty_query(query: str) -> None:
    assert "the query is empty" in str(_input_error(query))


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    assert "is not a file" in str(_input_error(str(tmp_path)))


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "is empty"),
        (b"\n\n  \n", "is empty"),
        (b"\x7fELF\x02\x01\x01\x00\x00\x00binary", "binary file"),
        (gzip.compress(b">a\nACGT\n"), "gzip-compressed: decompress it first"),
        (b">a caf\xe9\nACGT\n", "not UTF-8 text"),
    ],
)
def test_unreadable_files(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "q.fa"
    path.write_bytes(content)
    error = _input_error(str(path))
    assert expected in str(error)
    assert str(path) in str(error)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello\n>a\nACGT\n", "is not FASTA: line 1 should be a header starting with '>' but does not start with '>'"),
        ("\n\nACGTACGT\n", "line 3 should be a header"),
        (">a\nACGT\n>\nACGT\n", "line 3 is a header without an id"),
        (">a\nACGT\n>b desc\n>c\nAC\n", "record 'b' (line 3) has no sequence"),
        (">a x\nACGT\n>b\nAC\n>a y\nAC\n", "duplicate id 'a' at lines 1 and 5"),
        (">a\nAC1GT\n", "record 'a' (line 1) has '1' at residue 3"),
        (">a\nAC-GT\n", "has '-' at residue 3"),
        (">a\nACGT\nAC.GT\n", "has '.' at residue 7"),
        (">a\nMKT\tAYI\n", "has '\\t' at residue 4"),
        (">n1\nACGTACGTACGTACGTACGTEACGT\n", "looks like a nucleotide sequence but has 'E' at residue 21"),
        (">a\x1b[31m red\nACGT\n", "control character"),
    ],
)
def test_bad_fasta_names_record_and_line(text: str, expected: str) -> None:
    error = _input_error(text)
    assert expected in str(error)
    assert error.code == "invalid_query"


def test_bad_record_in_file_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "q.fa"
    path.write_text(f">p1\n{PEPTIDE}\n{PEPTIDE}\n>p2\n{PEPTIDE}\n>p1\n{PEPTIDE}\n")
    assert f"{path}: duplicate id 'p1' at lines 1 and 6" in str(_input_error(str(path)))


def test_text_holding_only_blank_lines_after_header_check() -> None:
    assert "has no sequence" in str(_input_error(">only\n\n"))


def test_mixed_molecules_are_refused() -> None:
    error = _input_error(f">n1\nACGTACGTACGTAAACCCGGGTTT\n>p1\n{PEPTIDE}\n")
    assert "mixes nucleotide sequences (e.g. 'n1', line 1) and protein sequences (e.g. 'p1', line 3)" in str(error)
    assert error.code == "wrong_molecule"


def test_read_fasta_is_lazy_and_stops_at_first_error() -> None:
    records = read_fasta([">a\n", "ACGT\n", ">b\n", "AC9\n"], "t.fa")
    assert next(records).id == "a"
    with pytest.raises(InputError, match="record 'b' \\(line 3\\)"):
        next(records)


@pytest.mark.parametrize(
    ("sequence", "molecule"),
    [
        ("ACGTACGTNNNN", "nucl"),
        ("acgtacgtacgtRYacgt", "nucl"),  # a few ambiguity codes
        ("ACGUACGUACGU", "nucl"),  # RNA
        ("NNNNNNNNNN", "nucl"),  # a gap of unknown bases
        (PEPTIDE, "prot"),
        ("GAGAGAGAGPPGKE", "prot"),  # glycine/alanine-rich protein: half A/C/G/T/N, below the threshold
    ],
)
def test_record_molecule(sequence: str, molecule: str) -> None:
    assert record_molecule(sequence) == molecule

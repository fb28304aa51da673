"""Databases: FASTA made into a BLAST database with the real makeblastdb, or an existing one checked with blastdbcmd."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from Bio import SeqIO

from blastflow.backends.local.database import Database, FastaDatabase, make_database, resolve_database
from blastflow.errors import InputError

DATA = Path(__file__).resolve().parents[3] / "data" / "sinvicta"
PROT = DATA / "Sinvicta2-2-3.prot.subset.fasta"
CDNA = DATA / "Sinvicta2-2-3.cdna.subset.fasta"
PEPTIDE = "MNTLWLSLWDYPGKLPLNFMVFDTKDDLQAAYWRDPYSIPLAVIFEDPQPISQRLIYEIR"

pytestmark = pytest.mark.skipif(shutil.which("makeblastdb") is None, reason="BLAST+ is not installed")


@pytest.fixture(scope="module")
def protein_fasta(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fasta") / "proteins 200.fa"  # a space: makeblastdb reads it from stdin
    SeqIO.write(list(SeqIO.parse(PROT, "fasta"))[:200], path, "fasta")
    return path


@pytest.fixture(scope="module")
def nucl_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    prefix = tmp_path_factory.mktemp("nucl") / "cdna"
    subprocess.run(["makeblastdb", "-in", str(CDNA), "-dbtype", "nucl", "-out", str(prefix), "-title", "ant cDNA"],
                   capture_output=True, check=True)  # fmt: skip
    return prefix


def _input_error(db: str, program: str = "blastp", query: str | None = None) -> InputError:
    with pytest.raises(InputError) as caught:
        resolve_database(db, program, query)  # type: ignore[arg-type]
    return caught.value


def _ids_found(program: str, query: str, db: str) -> list[tuple[str, str]]:
    done = subprocess.run(
        [program, "-query", "-", "-db", db, "-outfmt", "6 qseqid sseqid stitle", "-max_target_seqs", "5"],
        input=query, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return [tuple(line.split("\t")[1:3]) for line in done.stdout.splitlines()]  # type: ignore[misc]


def test_fasta_becomes_a_database(protein_fasta: Path, tmp_path: Path) -> None:
    fasta = resolve_database(str(protein_fasta), "blastp", "prot")
    assert isinstance(fasta, FastaDatabase)
    assert (fasta.label, fasta.molecule, fasta.sequences) == ("proteins_200", "prot", 200)
    assert not list(tmp_path.iterdir()), "resolving writes nothing"
    parse_seqids = make_database(fasta, tmp_path / "db" / fasta.label)
    assert parse_seqids  # the sample's ids are plain local ids
    built = fasta.built_at(tmp_path / "db" / fasta.label, parse_seqids=parse_seqids)
    info = resolve_database(built.path, "blastp")
    assert isinstance(info, Database)
    assert (info.sequences, info.residues, info.label) == (200, fasta.residues, "proteins_200")
    first = next(SeqIO.parse(protein_fasta, "fasta"))
    entry = subprocess.run(["blastdbcmd", "-db", built.path, "-entry", first.id], capture_output=True, text=True)
    assert entry.returncode == 0 and first.id in entry.stdout  # -parse_seqids: entries found by id
    hits = _ids_found("blastp", f">{first.description}\n{first.seq}\n", built.path)
    assert hits[0][0] == first.id
    assert hits[0][1] == first.description.split(None, 1)[1]  # the title without the id


def test_accession_like_ids_are_kept_as_written(tmp_path: Path) -> None:
    path = tmp_path / "acc.fa"
    path.write_text(f">NP_000001.1 an accession\n{PEPTIDE}\n>P69905 uniprot\n{PEPTIDE}K\n>plain local\n{PEPTIDE}KK\n")
    fasta = resolve_database(str(path), "blastp")
    assert isinstance(fasta, FastaDatabase)
    assert make_database(fasta, tmp_path / "db" / "acc") is False  # with -parse_seqids they would read ref|…|
    subjects = {subject for subject, _title in _ids_found("blastp", f">q\n{PEPTIDE}\n", str(tmp_path / "db" / "acc"))}
    assert subjects == {"NP_000001.1", "P69905", "plain"}


def test_existing_database_by_prefix(nucl_db: Path) -> None:
    db = resolve_database(str(nucl_db), "blastn", "nucl")
    assert isinstance(db, Database)
    assert (db.path, db.label, db.molecule, db.sequences) == (str(nucl_db), "ant cDNA", "nucl", 473)


def test_relative_database_path_is_made_absolute(nucl_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(nucl_db.parent)
    db = resolve_database("cdna", "tblastx")
    assert isinstance(db, Database)
    assert db.path == str(nucl_db)


def test_database_name_found_through_blastdb(nucl_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BLASTDB", str(nucl_db.parent))
    db = resolve_database("cdna", "blastn")
    assert isinstance(db, Database)
    assert (db.path, db.sequences) == ("cdna", 473)  # a bare name stays a name for BLASTDB


def test_missing_database_says_what_to_give(tmp_path: Path) -> None:
    error = _input_error(str(tmp_path / "nothing"))
    assert f"database '{tmp_path / 'nothing'}' not found: it is neither a FASTA file nor a BLAST database" in str(error)
    assert error.code == "invalid_database"


def test_wrong_molecule_fasta_suggests_a_program() -> None:
    error = _input_error(str(CDNA), "blastp", "prot")
    assert str(error) == (
        "blastp searches a protein database, but 'Sinvicta2-2-3.cdna.subset' is a nucleotide database. "
        "For a protein query against a nucleotide database use tblastn."
    )
    assert error.code == "wrong_molecule"


def test_wrong_molecule_existing_database(nucl_db: Path) -> None:
    error = _input_error(str(nucl_db), "blastx", "nucl")
    assert "blastx searches a protein database, but 'ant cDNA' is a nucleotide database" in str(error)
    assert "use blastn or tblastx" in str(error)


def test_a_database_file_means_its_database(nucl_db: Path) -> None:
    error = _input_error(str(nucl_db) + ".nsq", "blastn")
    assert f"give the database name without the extension, e.g. '{nucl_db}'" in str(error)


def test_directory_is_not_a_database(tmp_path: Path) -> None:
    assert "is a directory" in str(_input_error(str(tmp_path)))


def test_whitespace_in_a_database_path(tmp_path: Path) -> None:
    assert "contains whitespace, which BLAST reads as a list of databases" in str(_input_error(str(tmp_path / "a b")))


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (f">a\n{PEPTIDE}\n>a\n{PEPTIDE}\n", "duplicate id 'a' at lines 1 and 3"),
        ("not a fasta file\n", "is not FASTA: line 1"),
        (f">a\n{PEPTIDE}12\n", "has '1' at residue 61"),
    ],
)
def test_bad_fasta_database(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "db.fa"
    path.write_text(content)
    error = _input_error(str(path))
    assert expected in str(error)
    assert error.code == "invalid_database"


def test_empty_database_argument() -> None:
    assert "the database is empty" in str(_input_error("  "))

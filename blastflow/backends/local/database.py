"""The database: a FASTA file made into a BLAST database, or an existing BLAST database checked with blastdbcmd.

`resolve_database` validates without writing anything: a FASTA file is read
and checked like a query (Biopython), an existing database must answer
`blastdbcmd -info`, and its molecule type must be the one the program searches.
`make_database` then runs makeblastdb into the job's directory.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from blastflow.errors import BackendError, InputError
from blastflow.programs import PROGRAMS, Molecule, check_db_molecule, check_program
from blastflow.query import fasta_lines, read_fasta

__all__ = [
    "BLAST_DB_EXTENSIONS",
    "Database",
    "FastaDatabase",
    "database_label",
    "inspect_blast_database",
    "inspect_fasta",
    "make_database",
    "resolve_database",
]

# Files a BLAST database is made of; a user who gives one of them means the database.
BLAST_DB_EXTENSIONS = frozenset(
    f".{m}{ext}" for m in "pn" for ext in ("in", "sq", "hr", "al", "db", "ot", "tf", "to", "og", "os")
)
_FASTA_SUFFIXES = (".fasta", ".fas", ".fa", ".fna", ".faa", ".ffn", ".frn", ".mpfa", ".fsa", ".seq")
_LOCAL_ID_MAX = 50  # makeblastdb -parse_seqids rejects longer local ids
# "N sequences; M total residues|bases" (BLAST+ 2.12), "... total letters" in other versions: M sizes the batches.
_INFO = re.compile(r"^\s*([\d,]+) sequences; ([\d,]+) total (bases|residues|letters)", re.MULTILINE)
_TITLE = re.compile(r"^Database: (.*)$", re.MULTILINE)
_TOOL_TIMEOUT_S = 120


@dataclass(frozen=True, slots=True)
class Database:
    """A BLAST database ready to search: `path` is the `-db` argument."""

    path: str
    label: str
    molecule: Molecule
    sequences: int
    residues: int
    source: str  # what the user gave
    built: bool = False  # made by makeblastdb from a FASTA file
    parse_seqids: bool = False


@dataclass(frozen=True, slots=True)
class FastaDatabase:
    """A validated FASTA file waiting to become a BLAST database."""

    fasta: Path
    label: str
    molecule: Molecule
    sequences: int
    residues: int
    ids_fit_parse_seqids: bool  # every id short, unique and without '|'

    def built_at(self, prefix: Path, *, parse_seqids: bool) -> Database:
        return Database(
            path=str(prefix),
            label=self.label,
            molecule=self.molecule,
            sequences=self.sequences,
            residues=self.residues,
            source=str(self.fasta),
            built=True,
            parse_seqids=parse_seqids,
        )


def resolve_database(db: str, program: str, query_molecule: Molecule | None = None) -> Database | FastaDatabase:
    """Check the database a search names, without writing anything.

    Args:
        db: a FASTA file, or the path/prefix (or BLASTDB name) of an existing BLAST database.
        program: the BLAST program, which fixes the database molecule type.
        query_molecule: the query's molecule type, to suggest the right program on a mismatch.

    Returns:
        A `FastaDatabase` to build with `make_database`, or the existing `Database`.

    Raises:
        InputError: missing, unreadable, not FASTA, wrong molecule type, or a path BLAST cannot use.
        BackendError: BLAST+ is not installed.
    """
    check_program(program)
    if not db.strip():
        raise _error("the database is empty: give a FASTA file or the path of an existing BLAST database")
    path = Path(db).expanduser()
    if path.is_dir():
        raise _error(
            f"database {db!r} is a directory: give a FASTA file or a BLAST database prefix "
            f"such as {db.rstrip('/')}/name"
        )
    if path.is_file():
        if path.suffix in BLAST_DB_EXTENSIONS:
            raise _error(
                f"database {db!r} is one file of a BLAST database: give the database name without the extension, "
                f"e.g. {str(path.with_suffix(''))!r}"
            )
        fasta = inspect_fasta(path)
        check_db_molecule(program, fasta.molecule, fasta.label, query_molecule)
        return fasta
    expected = PROGRAMS[program][1]
    found = inspect_blast_database(db, expected)
    if found is None:
        other = "prot" if expected == "nucl" else "nucl"
        found = inspect_blast_database(db, other)
        if found is not None:
            check_db_molecule(program, found.molecule, found.label, query_molecule)
        raise _error(
            f"database {db!r} not found: it is neither a FASTA file nor a BLAST database "
            f"(no {db}.{expected[0]}in / .{expected[0]}al). Give a FASTA file, which blastflow turns into a "
            "database, or the path/prefix of an existing BLAST database, e.g. /data/blastdb/swissprot"
        )
    return found


def database_label(path: Path) -> str:
    """A short name for a database made from a FASTA file: the file name without FASTA suffixes.

    >>> database_label(Path("/data/Sinvicta2-2-3.prot.subset.fasta"))
    'Sinvicta2-2-3.prot.subset'
    >>> database_label(Path("my proteins (v2).fa"))
    'my_proteins_v2'
    """
    name = path.name
    for suffix in _FASTA_SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    label = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._-")
    return label or "db"


def inspect_fasta(path: Path) -> FastaDatabase:
    """Read and validate a FASTA file meant as a database (streaming: records are not kept)."""
    sequences = residues = 0
    molecule: Molecule | None = None
    fits = True
    for record in read_fasta(fasta_lines(path, "database"), str(path), role="database"):
        sequences += 1
        residues += record.length
        molecule = record.molecule
        fits = fits and len(record.id) <= _LOCAL_ID_MAX and "|" not in record.id
    assert molecule is not None  # read_fasta raises on a file without records
    return FastaDatabase(
        fasta=path,
        label=database_label(path),
        molecule=molecule,
        sequences=sequences,
        residues=residues,
        ids_fit_parse_seqids=fits,
    )


def make_database(fasta: FastaDatabase, prefix: Path) -> bool:
    """Run makeblastdb on a validated FASTA file, writing the database files at `prefix`.

    `-parse_seqids` is used when the ids allow it: each must stay a plain local
    id (`lcl|<id>`), so hits report the ids of the FASTA file. An id that
    BLAST reads as an accession (e.g. `NP_000001.1` would become
    `ref|NP_000001.1|`), or one it refuses as a Seq-id (valid FASTA ids with
    `>`, `"` or `[`), makes the database be built again without it.

    Args:
        fasta: the validated FASTA file.
        prefix: where the database goes (directory/name); it must not contain whitespace.

    Returns:
        Whether the database was built with `-parse_seqids`.

    Raises:
        InputError: makeblastdb rejected the file.
        BackendError: BLAST+ is not installed.
    """
    _reject_whitespace(str(prefix), "the job directory")
    prefix.parent.mkdir(parents=True, exist_ok=True)
    if fasta.ids_fit_parse_seqids:
        try:
            _makeblastdb(fasta, prefix, parse_seqids=True)
            if _all_local_ids(prefix, fasta.molecule):
                return True
        except InputError:
            pass  # "Malformatted ID": without -parse_seqids the id is kept as text; a real problem fails below
        for stale in prefix.parent.glob(f"{prefix.name}.*"):
            stale.unlink()
    _makeblastdb(fasta, prefix, parse_seqids=False)
    return False


def _makeblastdb(fasta: FastaDatabase, prefix: Path, *, parse_seqids: bool) -> None:
    argv = ["makeblastdb", "-in", "-", "-dbtype", fasta.molecule, "-out", str(prefix), "-title", fasta.label]
    if parse_seqids:
        argv.append("-parse_seqids")
    # The FASTA goes in on stdin: makeblastdb reads spaces in -in as a list of files.
    with fasta.fasta.open("rb") as stdin:
        done = _run(argv, stdin=stdin, timeout=None)
    if done.returncode != 0:
        raise _error(f"makeblastdb could not build a database from {str(fasta.fasta)!r}: {_last_error(done)}")


def _all_local_ids(prefix: Path, molecule: Molecule) -> bool:
    done = _run(["blastdbcmd", "-db", str(prefix), "-dbtype", molecule, "-entry", "all", "-outfmt", "%i"])
    if done.returncode != 0:
        raise BackendError(f"blastdbcmd could not list the database just built at {prefix}: {_last_error(done)}")
    return all(line.startswith("lcl|") for line in done.stdout.splitlines() if line)


def inspect_blast_database(db: str, molecule: Molecule) -> Database | None:
    """`blastdbcmd -info` on an existing database of the given molecule type; None if there is none.

    Raises:
        InputError: the path contains whitespace (BLAST would read it as several databases).
        BackendError: BLAST+ is not installed, or blastdbcmd failed in an unexpected way.
    """
    argument = _db_argument(db)
    _reject_whitespace(argument, "the database path")
    done = _run(["blastdbcmd", "-db", argument, "-dbtype", molecule, "-info"])
    if done.returncode != 0:
        if "No alias or index file found" in done.stderr or "not found" in done.stderr.lower():
            return None
        raise _error(f"blastdbcmd cannot read database {db!r}: {_last_error(done)}")
    info, title = _INFO.search(done.stdout), _TITLE.search(done.stdout)
    if info is None:
        raise BackendError(f"unexpected `blastdbcmd -info` output for {db!r}: {done.stdout[:200]!r}")
    return Database(
        path=argument,
        label=(title.group(1).strip() if title else "") or Path(argument).name,
        molecule=molecule,
        sequences=int(info.group(1).replace(",", "")),
        residues=int(info.group(2).replace(",", "")),
        source=db,
    )


def _db_argument(db: str) -> str:
    """An absolute path for a database given by path; a bare name stays a name for BLASTDB to resolve."""
    path = Path(db).expanduser()
    if path.is_absolute():
        return str(path)
    parent = path.parent
    if str(parent) != "." or any(n.startswith(path.name + ".") for n in os.listdir(".")):
        return str(path.absolute())
    return db


def _reject_whitespace(path: str, what: str) -> None:
    if re.search(r"\s", path):
        raise _error(
            f"{what} {path!r} contains whitespace, which BLAST reads as a list of databases: "
            "use a path without spaces (or set BLASTFLOW_DATA_DIR to one)"
        )


def _run(
    argv: list[str], *, stdin: object = subprocess.DEVNULL, timeout: float | None = _TOOL_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, stdin=stdin, capture_output=True, text=True, timeout=timeout, check=False)  # type: ignore[call-overload]
    except FileNotFoundError as exc:
        raise BackendError(
            f"BLAST+ is not installed here: {argv[0]} was not found on PATH. Install NCBI BLAST+ "
            "(e.g. `apt install ncbi-blast+` or `conda install -c bioconda blast`)"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise BackendError(f"{argv[0]} did not answer within {timeout:.0f} s") from exc


def _last_error(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line.strip() for line in (done.stderr + "\n" + done.stdout).splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    return (errors or lines or [f"exit code {done.returncode}"])[-1]


def _error(message: str) -> InputError:
    return InputError(message, code="invalid_database")

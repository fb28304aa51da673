"""Query FASTA: a path or FASTA text, read with Biopython and validated record by record.

Every problem is an `InputError` that names the record and its line and says how
to fix it: not FASTA, binary or compressed, empty, a record without id or
sequence, an id BLAST cannot keep (non-ASCII: it would come back garbled),
duplicate ids, characters that are not residues, a mix of nucleotide and protein
sequences. Ids are data: whatever characters they hold, they only
ever travel in argument lists and files, never through a shell.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from Bio.SeqIO.FastaIO import SimpleFastaParser

from blastflow.confine import shown
from blastflow.errors import InputError
from blastflow.programs import MOLECULE_NAMES, Molecule

__all__ = [
    "FastaRecord",
    "Query",
    "fasta_lines",
    "is_fasta_text",
    "load_query",
    "read_fasta",
    "record_molecule",
]

NUCLEOTIDE_CODES = "ACGTUNRYKMSWBDHV"  # IUPAC, case-insensitive
# A sequence is nucleotide when at least this share of it is A, C, G, T, U or N. Proteins sit near 25 %
# (A, C, G, T and N are amino acids too); nucleotide sequences with ambiguity codes stay far above it.
NUCLEOTIDE_SHARE = 0.75
_NOT_NUCLEOTIDE = re.compile(f"[^{NUCLEOTIDE_CODES}{NUCLEOTIDE_CODES.lower()}]")
_NOT_PROTEIN = re.compile(r"[^A-Za-z*]")
_HEADER_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_HOW_FASTA_LOOKS = "A FASTA record is a header line '>id optional description' followed by lines of residues."


@dataclass(frozen=True, slots=True)
class FastaRecord:
    """One validated FASTA record. `title` is the header without '>', `line` its line number."""

    id: str
    title: str
    sequence: str
    line: int
    molecule: Molecule

    @property
    def length(self) -> int:
        return len(self.sequence)


@dataclass(frozen=True, slots=True)
class Query:
    """A validated query: its records (in file order), their molecule type and where they came from."""

    records: tuple[FastaRecord, ...]
    molecule: Molecule
    source: str

    @property
    def count(self) -> int:
        return len(self.records)

    @property
    def total_length(self) -> int:
        return sum(r.length for r in self.records)


def load_query(query: str) -> Query:
    """Read and validate a query given as FASTA text (starts with '>') or as a path to a FASTA file.

    Text of several lines that does not start with '>' is read as text too,
    so it fails as "not FASTA" rather than as a strange missing file.

    Args:
        query: FASTA text, or the path of a FASTA file.

    Returns:
        The validated `Query`.

    Raises:
        InputError: the query is missing, empty, not FASTA, or has a bad record.

    Example:
        >>> q = load_query(">s1 first\\nMKTAYIAKQR\\n>s2\\nMKV*\\n")
        >>> (q.count, q.total_length, q.molecule, q.records[0].title)
        (2, 14, 'prot', 's1 first')
    """
    if not query.strip():
        raise InputError(
            "the query is empty: give FASTA text starting with '>' or the path of a FASTA file", code="invalid_query"
        )
    if is_fasta_text(query):
        source = "the query text"
        text = query.lstrip()
        skipped = query[: len(query) - len(text)].count("\n")  # keep line numbers those of the text as given
        records = list(read_fasta(io.StringIO("\n" * skipped + text), source))
    else:
        path = Path(query).expanduser()
        source = str(path)
        records = list(read_fasta(fasta_lines(path, "query"), source, role="query"))
    return Query(records=tuple(records), molecule=records[0].molecule, source=source)


def is_fasta_text(query: str) -> bool:
    """A query given as FASTA text rather than as a path: it starts with '>' or has line breaks (a path has none).

    >>> is_fasta_text(">q1\\nMKV"), is_fasta_text("hello\\nworld"), is_fasta_text("/data/q.fasta")
    (True, True, False)
    """
    return query.lstrip().startswith(">") or "\n" in query.rstrip()


def fasta_lines(path: Path, role: str) -> Iterator[str]:
    """The text lines of a FASTA file, after checking it exists, is not empty and is text.

    Args:
        path: the file.
        role: what the file is for ("query", "database"), used in messages.

    Raises:
        InputError: missing, a directory, empty, compressed, binary or not UTF-8 text.
    """
    if not path.exists():
        raise InputError(
            f"{role} file {str(path)!r} does not exist: give the path of a FASTA file"
            + (" or FASTA text starting with '>'" if role == "query" else ""),
            code=f"invalid_{role}",
        )
    if not path.is_file():
        raise InputError(f"{role} {str(path)!r} is not a file: give the path of a FASTA file", code=f"invalid_{role}")
    return _checked_lines(path, role)


def _checked_lines(path: Path, role: str) -> Iterator[str]:
    code = f"invalid_{role}"
    with path.open("rb") as raw:
        head = raw.read(4096)
        if not head.strip():
            raise InputError(f"{role} file {str(path)!r} is empty: it must hold FASTA records", code=code)
        if head[:2] == b"\x1f\x8b":
            raise InputError(f"{role} file {str(path)!r} is gzip-compressed: decompress it first (gunzip)", code=code)
        if b"\x00" in head:
            raise InputError(
                f"{role} file {str(path)!r} is a binary file, not FASTA text: give the FASTA file itself (plain text "
                "starting with '>'), not a BLAST database file, an archive or a document",
                code=code,
            )
        raw.seek(0)
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", newline=None)
        number = 0
        try:
            for number, line in enumerate(text, start=1):  # noqa: B007 - `number` names the bad line below
                yield line
        except UnicodeDecodeError as exc:
            raise InputError(
                f"{role} file {str(path)!r} is not UTF-8 text (bad byte near line {number + 1}): "
                "save it as plain text (UTF-8 or ASCII)",
                code=code,
            ) from exc


class _Lines:
    """Feeds lines to Biopython's parser, counting them and remembering each header's line number."""

    def __init__(self, lines: Iterable[str], source: str, code: str) -> None:
        self._lines = iter(lines)
        self._source = source
        self._code = code
        self.number = 0
        self.headers: deque[int] = deque()
        self.seen_header = False

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.number += 1
        if "\x00" in line:
            raise InputError(
                f"{self._source} is binary, not FASTA text (NUL byte on line {self.number}): give the FASTA file "
                "itself (plain text starting with '>'), not a BLAST database file, an archive or a document",
                code=self._code,
            )
        if line.startswith(">"):
            self.headers.append(self.number)
            self.seen_header = True
        elif not self.seen_header and line.strip():
            raise InputError(
                # Never quote the line: a file that is not FASTA may be anything the worker can read.
                f"{self._source} is not FASTA: line {self.number} should be a header starting with '>' "
                f"but does not start with '>'. {_HOW_FASTA_LOOKS}",
                code=self._code,
            )
        return line


def read_fasta(lines: Iterable[str], source: str, role: str = "query") -> Iterator[FastaRecord]:
    """Validated records from FASTA lines (Biopython's parser), one at a time.

    Checks each record's id (present, unique, printable header), sequence
    (present, residue letters only, valid for its molecule) and that all
    records share one molecule type.

    Args:
        lines: FASTA text lines (with or without newlines).
        source: how to name the input in messages (a path, "the query text").
        role: what the FASTA is for ("query", "database"); errors get the code `invalid_<role>`.

    Raises:
        InputError: the first problem found, naming the record and line.

    Example:
        >>> [r.id for r in read_fasta([">a x\\n", "ACGT\\n", ">b\\n", "ACGN\\n"], "t.fa")]
        ['a', 'b']
        >>> list(read_fasta([">a\\n", "AC1GT\\n"], "t.fa"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        blastflow.errors.InputError: t.fa: record 'a' (line 1) has '1' at residue 3: a sequence holds residue letters...
    """
    code = f"invalid_{role}"
    feed = _Lines(lines, source, code)
    seen: dict[str, int] = {}
    first: dict[Molecule, FastaRecord] = {}
    for title, sequence in SimpleFastaParser(feed):
        record = _record(title, sequence, feed.headers.popleft(), source, code)
        if record.id in seen:
            raise InputError(
                f"{source}: duplicate id {shown(record.id)} at lines {seen[record.id]} and {record.line}: "
                "ids must be unique because BLAST reports hits by id; rename or remove one of them",
                code=code,
            )
        seen[record.id] = record.line
        first.setdefault(record.molecule, record)
        if len(first) > 1:
            raise _mixed(first, source)
        yield record
    if not seen:
        raise InputError(f"{source} holds no FASTA records. {_HOW_FASTA_LOOKS}", code=code)


def _record(title: str, sequence: str, line: int, source: str, code: str) -> FastaRecord:
    where = f"{source}: line {line}"
    if not title.strip():
        raise InputError(f"{where} is a header without an id ('>' alone): write '>id optional description'", code=code)
    if _HEADER_CONTROL.search(title):
        raise InputError(f"{where}: the header contains a control character: remove it", code=code)
    record_id = title.split(None, 1)[0]
    where = f"{source}: record {shown(record_id)} (line {line})"
    odd = next((char for char in record_id if not (char.isascii() and char.isprintable())), None)
    if odd is not None:
        # BLAST writes ids as ASCII: it would report this one garbled ('#' for each byte), so its hits
        # could not be matched back, and a look-alike ('а' for 'a') could pass for another id.
        raise InputError(
            f"{where}: the id has {odd!r} ({unicodedata.name(odd, 'unnamed')}, U+{ord(odd):04X}) at position "
            f"{record_id.index(odd) + 1}, which BLAST cannot keep in an id: rename the record using ASCII letters, "
            "digits and punctuation only (the description after the id may stay as it is)",
            code=code,
        )
    if not sequence:
        raise InputError(
            f"{where} has no sequence: put its residues on the lines after the header, or remove it", code=code
        )
    bad = _NOT_PROTEIN.search(sequence)
    if bad:
        raise InputError(
            f"{where} has {bad.group()!r} at residue {bad.start() + 1}: a sequence holds residue letters only "
            "('*' allowed at a protein stop); remove digits, gaps ('-'), dots, spaces and other symbols",
            code=code,
        )
    molecule = record_molecule(sequence)
    if molecule == "nucl":
        bad = _NOT_NUCLEOTIDE.search(sequence)
        if bad:
            raise InputError(
                f"{where} looks like a nucleotide sequence but has {bad.group()!r} at residue {bad.start() + 1}, "
                f"which is not a nucleotide code ({NUCLEOTIDE_CODES}): correct the sequence",
                code=code,
            )
    return FastaRecord(id=record_id, title=title.strip(), sequence=sequence, line=line, molecule=molecule)


def record_molecule(sequence: str) -> Molecule:
    """Nucleotide if mostly A, C, G, T, U or N, else protein.

    >>> record_molecule("ACGTNNACGTRY"), record_molecule("MKTAYIAKQRQISFVKSHFSRQ")
    ('nucl', 'prot')
    """
    upper = sequence.upper()
    core = sum(upper.count(code) for code in "ACGTUN")
    return "nucl" if core >= NUCLEOTIDE_SHARE * len(upper) else "prot"


def _mixed(first: dict[Molecule, FastaRecord], source: str) -> InputError:
    nucl, prot = first["nucl"], first["prot"]
    return InputError(
        f"{source} mixes {MOLECULE_NAMES['nucl']} sequences (e.g. {shown(nucl.id)}, line {nucl.line}) and "
        f"{MOLECULE_NAMES['prot']} sequences (e.g. {shown(prot.id)}, line {prot.line}): BLAST searches one molecule "
        "type per run, so split them into two files and run one search each",
        code="wrong_molecule",
    )

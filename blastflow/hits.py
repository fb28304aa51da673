"""BLAST hits in the tabular form finalize writes and the page reads.

Finalize renders each batch archive (format 11) with `blast_formatter -outfmt
"6 <HIT_FIELDS>"` and concatenates the batches into `hits.tsv` with a header
row of `HIT_COLUMNS`. Column names are for people; fields are BLAST's.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import astuple, dataclass, fields
from pathlib import Path

__all__ = ["ARCHIVE_FILE", "HITS_FILE", "HIT_COLUMNS", "HIT_FIELDS", "Hit", "read_hits", "write_hits"]

HITS_FILE = "hits.tsv"
ARCHIVE_FILE = "results.asn"  # merged BLAST archive (format 11): input for blast_formatter

# BLAST outfmt 6 specifiers, in the order of `Hit`'s fields.
HIT_FIELDS = (
    "qseqid sseqid stitle pident length mismatch gapopen qstart qend sstart send evalue bitscore qcovs qlen slen"
)


@dataclass(frozen=True, slots=True)
class Hit:
    query: str
    subject: str
    description: str
    pct_identity: float
    length: int
    mismatches: int
    gap_opens: int
    q_start: int
    q_end: int
    s_start: int
    s_end: int
    evalue: float
    bitscore: float
    query_coverage: float
    query_length: int
    subject_length: int

    @classmethod
    def from_row(cls, row: list[str]) -> Hit:
        values = [f.type for f in fields(cls)]
        casts = {"str": str, "int": int, "float": float}
        return cls(*(casts[t](v) for t, v in zip(values, row, strict=True)))  # type: ignore[arg-type]


HIT_COLUMNS = tuple(f.name for f in fields(Hit))


def parse_outfmt6(lines: Iterable[str]) -> Iterator[Hit]:
    """Hits from `blast_formatter -outfmt "6 HIT_FIELDS"` output (comment lines skipped)."""
    for line in lines:
        line = line.rstrip("\n")
        if line and not line.startswith("#"):
            yield Hit.from_row(line.split("\t"))


def write_hits(path: Path, hits: Iterable[Hit]) -> int:
    """Write hits as TSV with a header; return how many."""
    count = 0
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(HIT_COLUMNS)
        for hit in hits:
            writer.writerow(astuple(hit))
            count += 1
    return count


def read_hits(path: Path) -> list[Hit]:
    """Read a `hits.tsv` written by `write_hits`."""
    with path.open(newline="") as handle:
        reader = csv.reader(handle, delimiter="\t")
        header = next(reader, None)
        if header is None:
            return []
        if tuple(header) != HIT_COLUMNS:
            raise ValueError(f"{path} is not a blastflow hits file (header {header[:3]}…)")
        return [Hit.from_row(row) for row in reader]

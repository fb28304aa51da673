"""BLAST hits in the tabular forms finalize writes and the page reads.

Finalize renders each batch archive (format 11) with `blast_formatter -outfmt
"6 <HIT_FIELDS>"` and concatenates the batches into `hits.tsv` with a header
row of `HIT_COLUMNS` (the download), then converts that file, streaming, into
`hits.parquet` (the page's queries, see `blastflow.hit_query`). Column names are
for people; fields are BLAST's.
"""

from __future__ import annotations

import csv
import os
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import astuple, dataclass, fields
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

__all__ = [
    "ARCHIVE_FILE",
    "HITS_FILE",
    "HIT_COLUMNS",
    "HIT_FIELDS",
    "HIT_SCHEMA",
    "PARQUET_FILE",
    "Hit",
    "read_hits",
    "tsv_to_parquet",
    "write_hits",
]

HITS_FILE = "hits.tsv"
PARQUET_FILE = "hits.parquet"
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
_ARROW_TYPES = {"str": pa.string(), "int": pa.int64(), "float": pa.float64()}
HIT_SCHEMA = pa.schema([(f.name, _ARROW_TYPES[str(f.type)]) for f in fields(Hit)])
_BLOCK_BYTES = 8 << 20  # the TSV is converted this many bytes at a time: memory stays at one block's table


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


def tsv_to_parquet(tsv: Path, dest: Path) -> int:
    """Convert a `hits.tsv` (as `write_hits` writes it) into a Parquet file, streaming; return the row count.

    The file is read block by block and written as one row group per block, in file order, so memory stays
    bounded whatever the number of hits. The Parquet file appears whole or not at all (written beside `dest`
    under another name, then renamed): a reader never sees half a file.

    Raises:
        ValueError: `tsv` does not start with the `HIT_COLUMNS` header, or a row does not fit the columns.
    """
    with tsv.open(newline="") as handle:
        header = handle.readline().rstrip("\r\n").split("\t")
    if header != [""] and tuple(header) != HIT_COLUMNS:
        raise ValueError(f"{tsv} is not a blastflow hits file (header {header[:3]}…)")
    part = dest.with_name(f".{dest.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part")  # created with the umask's mode
    try:
        rows = _stream_rows(tsv, Path(part), empty=header == [""])
        os.replace(part, dest)
    except BaseException:
        Path(part).unlink(missing_ok=True)
        raise
    return rows


def _stream_rows(tsv: Path, dest: Path, *, empty: bool) -> int:
    rows = 0
    with pq.ParquetWriter(dest, HIT_SCHEMA, compression="zstd") as writer:
        if empty:
            return 0
        try:
            for batch in _csv_batches(tsv):
                writer.write_table(batch)
                rows += batch.num_rows
        except pa.ArrowInvalid as err:
            raise ValueError(f"{tsv} has a row that does not fit the hits columns: {err}") from err
    return rows


def _csv_batches(tsv: Path) -> Iterator[pa.Table]:
    """The rows after the header, parsed a block of whole lines at a time.

    Arrow's own streaming reader parses ahead of its consumer without bound (the whole file, measured); blocks
    cut here on line ends keep memory at one block's table whatever the file's size. A row never holds a line
    break (titles are one line), so a line end is always a row end.
    """
    read = pa_csv.ReadOptions(column_names=list(HIT_COLUMNS))
    parse = pa_csv.ParseOptions(delimiter="\t")  # quoted as csv.writer quotes: '"' doubled
    convert = pa_csv.ConvertOptions(
        column_types=HIT_SCHEMA, strings_can_be_null=False, quoted_strings_can_be_null=False
    )
    with tsv.open("rb") as handle:
        handle.readline()  # the header
        while block := handle.read(_BLOCK_BYTES):
            block += handle.readline()  # to the end of the line
            yield pa_csv.read_csv(pa.py_buffer(block), read_options=read, parse_options=parse, convert_options=convert)

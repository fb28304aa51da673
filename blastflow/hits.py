"""BLAST hits in the tabular forms finalize writes and the page reads.

Finalize renders the merged archive (format 11) with `blast_formatter -outfmt
"6 std qcovs qlen slen stitle"` straight into `hits.tsv`: BLAST's own bytes, the
12 standard `-outfmt 6` columns first, so tools that read BLAST tabular read it,
and no header row. The subject title is last because it is free text (it may hold
tabs): a reader takes the rest of the line. That file is converted, streaming,
into `hits.parquet` (the page's queries, see `blastflow.hit_query`). Column names
(`HIT_COLUMNS`) are for people; fields are BLAST's.

A `hits.tsv` written before this layout (a header row `query, subject,
description, ...`, quoted as `csv.writer` quotes) is still read, the old way:
`is_legacy` tells them apart by that header, which no BLAST row can start with.
"""

from __future__ import annotations

import csv
import os
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
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
    "LEGACY_COLUMNS",
    "PARQUET_FILE",
    "Hit",
    "hit_rows",
    "is_legacy",
    "parse_outfmt6",
    "read_hits",
    "tsv_to_parquet",
    "write_hits",
]

HITS_FILE = "hits.tsv"
PARQUET_FILE = "hits.parquet"
ARCHIVE_FILE = "results.asn"  # merged BLAST archive (format 11): input for blast_formatter

# BLAST outfmt 6 specifiers, in the order of `Hit`'s fields: `std` is the 12 standard columns.
HIT_FIELDS = "std qcovs qlen slen stitle"


@dataclass(frozen=True, slots=True)
class Hit:
    query: str
    subject: str
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
    description: str  # last: the one free-text field, it may hold tabs

    @classmethod
    def from_row(cls, row: list[str]) -> Hit:
        return cls(*(cast(v) for cast, v in zip(_CASTS, row, strict=True)))


HIT_COLUMNS = tuple(f.name for f in fields(Hit))
_CASTS = tuple({"str": str, "int": int, "float": float}[str(f.type)] for f in fields(Hit))
_ARROW_TYPES = {"str": pa.string(), "int": pa.int64(), "float": pa.float64()}
HIT_SCHEMA = pa.schema([(f.name, _ARROW_TYPES[str(f.type)]) for f in fields(Hit)])
_TABS = len(HIT_COLUMNS) - 1  # tabs in a row whose title has none
_BLOCK_BYTES = 8 << 20  # the TSV is converted this many bytes at a time: memory stays at one block's table
# The columns of a hits.tsv written before BLAST's own layout, in that file's order (its header row).
LEGACY_COLUMNS = (
    "query", "subject", "description", "pct_identity", "length", "mismatches", "gap_opens", "q_start", "q_end",
    "s_start", "s_end", "evalue", "bitscore", "query_coverage", "query_length", "subject_length",
)  # fmt: skip
_LEGACY_HEADER = "\t".join(LEGACY_COLUMNS).encode()


def is_legacy(path: Path) -> bool:
    """True for a hits.tsv in the old layout (header row, description third); BLAST's rows never start so."""
    with path.open("rb") as handle:
        return handle.readline().rstrip(b"\r\n") == _LEGACY_HEADER


def parse_outfmt6(lines: Iterable[str]) -> Iterator[Hit]:
    """Hits from `blast_formatter -outfmt "6 HIT_FIELDS"` output (comment lines skipped)."""
    for line in lines:
        line = line.rstrip("\n")
        if line and not line.startswith("#"):
            yield Hit.from_row(line.split("\t", _TABS))


def hit_rows(path: Path) -> Iterator[list[str]]:
    """The rows of a hits.tsv, streamed, as text fields in `HIT_COLUMNS` order (either layout)."""
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        if handle.readline().rstrip("\r\n") != _LEGACY_HEADER.decode():
            handle.seek(0)
            for line in handle:
                line = line.rstrip("\r\n")
                if line and not line.startswith("#"):
                    yield line.split("\t", _TABS)
            return
        order = [LEGACY_COLUMNS.index(name) for name in HIT_COLUMNS]
        for row in csv.reader(handle, delimiter="\t"):
            yield [row[i] for i in order]


def write_hits(path: Path, hits: Iterable[Hit]) -> int:
    """Write hits in hits.tsv's layout (`HIT_FIELDS`' columns, title last, no header); return how many.

    For tests and fixtures: numbers are as Python prints them, not as BLAST does; the layout is BLAST's.
    """
    count = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        for hit in hits:
            handle.write("\t".join(str(getattr(hit, name)) for name in HIT_COLUMNS) + "\n")
            count += 1
    return count


def read_hits(path: Path) -> list[Hit]:
    """Every hit of a `hits.tsv` (either layout), typed; for tests and small searches."""
    return [Hit.from_row(row) for row in hit_rows(path)]


def tsv_to_parquet(tsv: Path, dest: Path) -> int:
    """Convert a `hits.tsv` (BLAST's layout, or the legacy one) into a Parquet file, streaming; return the row count.

    The file is read block by block and written as one row group per block, in file order, so memory stays
    bounded whatever the number of hits. The Parquet file appears whole or not at all (written beside `dest`
    under another name, then renamed): a reader never sees half a file.

    Raises:
        ValueError: `tsv` is not a hits file (its first row is too short), or a row does not fit the columns.
    """
    legacy = is_legacy(tsv)
    if not legacy:
        _check_first_row(tsv)
    part = dest.with_name(f".{dest.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part")  # created with the umask's mode
    try:
        rows = _stream_rows(tsv, Path(part), legacy=legacy)
        os.replace(part, dest)
    except BaseException:
        Path(part).unlink(missing_ok=True)
        raise
    return rows


def _check_first_row(tsv: Path) -> None:
    with tsv.open("rb") as handle:
        first = handle.readline()
    fields_found = first.count(b"\t") + 1
    if first.strip() and fields_found < len(HIT_COLUMNS):
        shown = first[:60].decode("utf-8", "replace").rstrip()
        raise ValueError(
            f"{tsv} is not a blastflow hits file: its first row {shown!r} has {fields_found} fields, "
            f"BLAST tabular '6 {HIT_FIELDS}' has {len(HIT_COLUMNS)}"
        )


def _stream_rows(tsv: Path, dest: Path, *, legacy: bool) -> int:
    rows = 0
    with pq.ParquetWriter(dest, HIT_SCHEMA, compression="zstd") as writer:
        try:
            for batch in _legacy_batches(tsv) if legacy else _csv_batches(tsv):
                writer.write_table(batch)
                rows += batch.num_rows
        except pa.ArrowInvalid as err:
            raise ValueError(f"{tsv} has a row that does not fit the hits columns: {err}") from err
    return rows


def _blocks(tsv: Path, *, skip_header: bool) -> Iterator[bytes]:
    """The file in blocks of whole lines (`_BLOCK_BYTES` and on to the next line end).

    Arrow's own streaming reader parses ahead of its consumer without bound (the whole file, measured); blocks
    cut here on line ends keep memory at one block's table whatever the file's size. A row never holds a line
    break (titles are one line), so a line end is always a row end.
    """
    with tsv.open("rb") as handle:
        if skip_header:
            handle.readline()
        while block := handle.read(_BLOCK_BYTES):
            block += handle.readline()  # to the end of the line (rebound: one copy of the block alive, not two)
            yield block


_CONVERT = pa_csv.ConvertOptions(column_types=HIT_SCHEMA, strings_can_be_null=False, quoted_strings_can_be_null=False)


def _csv_batches(tsv: Path) -> Iterator[pa.Table]:
    """BLAST's rows, a block at a time. '"' is text, not a quote (BLAST never quotes).

    Arrow parses a block whose titles hold no tab; a block it refuses (a title with a tab makes more columns, or
    a bad row) is split again in Python, which keeps tabs in titles and names a bad row. Trying Arrow first costs
    nothing in the usual case; counting the tabs of every block first cost 0.27 s per million hits (measured).
    """
    read = pa_csv.ReadOptions(column_names=list(HIT_COLUMNS))
    parse = pa_csv.ParseOptions(delimiter="\t", quote_char=False)
    for block in _blocks(tsv, skip_header=False):
        try:
            table = pa_csv.read_csv(pa.py_buffer(block), read_options=read, parse_options=parse,
                                    convert_options=_CONVERT)  # fmt: skip
        except pa.ArrowInvalid:
            table = _split_block(block)
        yield table


def _split_block(block: bytes) -> pa.Table:
    """A block where some title holds a tab: each line split in Python, the title being the rest of the line."""
    rows = [line.split(b"\t", _TABS) for line in block.split(b"\n") if line]
    for row in rows:
        if len(row) != len(HIT_COLUMNS):
            raise pa.ArrowInvalid(f"expected {len(HIT_COLUMNS)} fields, found {len(row)}: {row[:3]}")
    columns = [pa.array([row[i].decode("utf-8", "replace") for row in rows], pa.string()) for i in range(len(rows[0]))]
    return pa.Table.from_arrays(columns, names=list(HIT_COLUMNS)).cast(HIT_SCHEMA)


def _legacy_batches(tsv: Path) -> Iterator[pa.Table]:
    """A hits.tsv of the old layout: after its header, quoted as `csv.writer` quotes ('"' doubled)."""
    read = pa_csv.ReadOptions(column_names=list(LEGACY_COLUMNS))
    parse = pa_csv.ParseOptions(delimiter="\t")
    for block in _blocks(tsv, skip_header=True):
        table = pa_csv.read_csv(pa.py_buffer(block), read_options=read, parse_options=parse, convert_options=_CONVERT)
        yield table.select(list(HIT_COLUMNS))

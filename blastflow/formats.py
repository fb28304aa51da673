"""Every BLAST output format of a finished search, rendered on demand from its stored archive.

`results.asn` is the batch archives concatenated (see `blastflow.results`). A
format is made by `blast_formatter` from that archive, never by searching
again: the archive is split back into its batches, each batch is rendered
alone, and the per-batch outputs are merged into ONE output, the way BLAST+
prints it when run directly over the whole query set with the same database
and options. Rendering each batch alone (rather than the whole archive in one
call) keeps every output in step with its batch even when a batch has no
hits: SAM prints nothing at all for such a batch.

The hits themselves: `tsv` is `hits.tsv` as finalize stored it (blast_formatter's own outfmt 6 bytes, no
header; a header row of `HIT_COLUMNS` on request, cached apart); `csv` and `json` are made from it, streamed,
with named columns (json: one object per hit, numbers as numbers).

What the merges do (small pure functions, tested alone):

- pairwise (0): the first batch's header, every batch's queries, the last batch's footer.
- XML (5): one document; `Iteration_iter-num` and the `Query_N` ids numbered across batches.
- tabular with comments (7): one "# BLAST processed N queries" line with the total, at the end.
- SAM (17, blastn only): one header (@HD, every batch's @SQ, the first @PG); `Query_N` reference names
  numbered across batches, so batch 2's Query_1 does not collide with batch 1's.

What still differs from a direct BLAST+ run (measured with BLAST+ 2.12 in tests/test_formats.py):

- pairwise and XML: the per-query statistics blast_formatter prints (pairwise "Effective search space used";
  XML `Statistics_eff-space`, `Statistics_hsp-len`) are recomputed by blast_formatter for the batch, not
  the values the search used for that query. Hits, scores and e-values are the search's own.
- SAM: the @PG line's command line is blast_formatter's, not the search's.

Cached files live in `results_dir/formats/`, written to a temporary file and renamed, so a half-written file
never counts; a cached file older than `results.asn` is made again.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from blastflow.confine import served
from blastflow.errors import BackendError, InputError
from blastflow.hits import ARCHIVE_FILE, HIT_COLUMNS, HITS_FILE, Hit, hit_rows, is_legacy
from blastflow.provenance import NO_HITS_FILE, PROVENANCE_FILE, read_provenance
from blastflow.results import FormatterError, blast_formatter

__all__ = [
    "FORMATS",
    "FORMATS_DIR",
    "HEADER_FORMATS",
    "OutputFormat",
    "ResultsSummary",
    "database_dir",
    "describe_results",
    "formats_for",
    "formatted",
    "known_problem",
    "merge_pairwise",
    "merge_sam",
    "merge_tabular_comments",
    "merge_xml",
    "split_archive",
]

FORMATS_DIR = "formats"
_ERROR_KEPT_S = 600  # a failed rendering is shown instead of its button this long, then tried again on a click
_ARCHIVE_START = "Blast4-archive ::="
_QUERY_N = re.compile(r"\bQuery_(\d+)\b")


@dataclass(frozen=True, slots=True)
class OutputFormat:
    """One downloadable output: BLAST's outfmt number (None: not made by blast_formatter), its file, its mime."""

    outfmt: int | None
    file_name: str
    mime: str
    description: str


FORMATS: dict[str, OutputFormat] = {
    "tsv": OutputFormat(None, HITS_FILE, "text/tab-separated-values",
                        "BLAST tabular as BLAST+ prints it (outfmt 6, no header): the 12 standard columns, then "
                        "query coverage, query length, subject length and subject title."),
    "csv": OutputFormat(None, "hits.csv", "text/csv",
                        "The same hits as comma-separated values, with a header row naming the columns."),
    "json": OutputFormat(None, "hits.json", "application/json",
                         "The same hits as a JSON array of objects, one per hit: named fields, numbers as numbers."),
    "pairwise": OutputFormat(0, "pairwise.txt", "text/plain",
                             "BLAST's pairwise report (outfmt 0): every alignment drawn out, as on the NCBI site."),
    "xml": OutputFormat(5, "results.xml", "application/xml",
                        "BLAST XML (outfmt 5): for programs that read BLAST XML, e.g. Biopython, Blast2GO."),
    "tabular-comments": OutputFormat(7, "tabular-comments.tsv", "text/tab-separated-values",
                                     "BLAST tabular with comment lines (outfmt 7): lists queries without hits too."),
    "sam": OutputFormat(17, "results.sam", "text/plain",
                        "SAM (outfmt 17, blastn only): alignments for samtools and genome browsers."),
    "archive": OutputFormat(11, ARCHIVE_FILE, "application/octet-stream",
                            "BLAST archive (ASN.1, outfmt 11): `blast_formatter -archive FILE -outfmt N` "
                            "makes any other BLAST format from it."),
}  # fmt: skip


HEADER_FORMATS = ("tsv",)  # the formats `formatted(..., header=True)` can prefix with a row of column names


def formats_for(program: str) -> list[str]:
    """The formats a search of `program` has: all of them, SAM only for blastn.

    >>> "sam" in formats_for("blastn"), "sam" in formats_for("blastp")
    (True, False)
    """
    return [name for name in FORMATS if name != "sam" or program == "blastn"]


def formatted(results_dir: Path, fmt: str, *, program: str | None = None, header: bool = False) -> Path:
    """The file of format `fmt` for the results in `results_dir`, made (and cached) on the first call.

    Args:
        results_dir: a finished job's results directory (`job.results_location`).
        fmt: a name in `FORMATS`.
        program: the search's BLAST program; refuses SAM for anything but blastn (None: not checked here).
        header: prefix one row of column names (`HIT_COLUMNS`); only for `HEADER_FORMATS`.

    Returns:
        The path of the file: `results.asn` / `hits.tsv` themselves, else a cached file in `formats/`.

    Raises:
        InputError: unknown format, SAM for a program other than blastn, or a header for a format without one.
        BackendError: the archive (or hits file) is missing or blast_formatter cannot read it.
    """
    spec = _check_format(fmt, program, header=header)
    if fmt in ("archive", "tsv") and not header:
        return _source(results_dir, spec.file_name)
    if spec.outfmt is None:
        source = _source(results_dir, HITS_FILE)
        name = "hits.header.tsv" if header else spec.file_name
        return _cached(results_dir, name, source, lambda out: _TABLES[fmt](source, out))
    archive = _source(results_dir, ARCHIVE_FILE)
    failed = _error_file(results_dir, spec)
    try:
        made = _cached(results_dir, spec.file_name, archive, lambda out: _render(results_dir, archive, fmt, out))
    except BackendError as exc:
        with contextlib.suppress(OSError):  # a read-only results directory: the error still reaches the caller
            failed.write_text(str(exc), encoding="utf-8")  # the page shows it instead of a button next time
        raise
    failed.unlink(missing_ok=True)
    return made


def known_problem(results_dir: Path, fmt: str) -> str | None:
    """Why format `fmt` cannot be had, when that is known without rendering it; None: try.

    Known: its source file is missing, the archive is not a BLAST archive at all, or rendering it already failed
    (the error `formatted` recorded, for `_ERROR_KEPT_S` and as long as the archive has not been replaced since).
    """
    spec = FORMATS[fmt]
    try:
        source = _source(results_dir, HITS_FILE if spec.outfmt is None else ARCHIVE_FILE)
    except BackendError as exc:
        return str(exc)
    if spec.outfmt is None:
        return None
    with source.open("rb") as handle:
        start = handle.read(len(_ARCHIVE_START))
    if start != _ARCHIVE_START.encode():
        return f"{source} is not a BLAST archive (it does not start with {_ARCHIVE_START!r}): it was damaged"
    failed = _error_file(results_dir, spec)
    if not failed.is_file():
        return None
    recorded = failed.stat().st_mtime
    if recorded < source.stat().st_mtime or time.time() - recorded > _ERROR_KEPT_S:
        return None  # the archive was replaced, or time enough passed to try again (e.g. its database is back)
    return failed.read_text(encoding="utf-8", errors="replace")


def _error_file(results_dir: Path, spec: OutputFormat) -> Path:
    return served(results_dir, f"{FORMATS_DIR}/.{spec.file_name}.error")


@dataclass(frozen=True, slots=True)
class ResultsSummary:
    """What a results directory holds: hit counts, the queries without hits, its files and the formats made."""

    hits: int
    queries_with_hits: int
    no_hits: list[str] | None  # None: no `no_hits.txt` (a job finalized before it was written)
    files: list[str]
    made: list[str]  # formats already in the cache


def describe_results(results_dir: Path) -> ResultsSummary:
    """Count the hits and the queries with hits in `hits.tsv` (streamed) and read `no_hits.txt` if there is one.

    Raises:
        BackendError: `hits.tsv` is missing.
    """
    hits, queries = 0, set[str]()
    for row in hit_rows(_source(results_dir, HITS_FILE)):
        hits += 1
        queries.add(row[0])
    no_hits_path = served(results_dir, NO_HITS_FILE)
    no_hits = no_hits_path.read_text(encoding="utf-8").split() if no_hits_path.is_file() else None
    files = sorted(path.name for path in results_dir.iterdir() if path.is_file())
    cache = results_dir / FORMATS_DIR
    made = [name for name, spec in FORMATS.items() if (cache / spec.file_name).is_file()]
    return ResultsSummary(hits, len(queries), no_hits, files, made)


def _check_format(fmt: str, program: str | None, *, header: bool = False) -> OutputFormat:
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}", code="unknown_format")
    if header and fmt not in HEADER_FORMATS:
        raise InputError(
            f"a header row applies only to {', '.join(HEADER_FORMATS)} (BLAST tabular has none); {fmt} "
            f"{'names its columns already' if FORMATS[fmt].outfmt is None else 'has its own layout, set by BLAST'}",
            code="header_not_available",
        )
    if fmt == "sam" and program is not None and program != "blastn":
        raise InputError(
            f"SAM (outfmt 17) exists only for blastn (BLAST+ writes it only for nucleotide-to-nucleotide "
            f"alignments); this search is {program}: choose pairwise, xml or tabular-comments instead",
            code="format_not_available",
        )
    return FORMATS[fmt]


def _source(results_dir: Path, name: str) -> Path:
    path = served(results_dir, name)  # a symlink out of the folder is refused, never read
    if not path.is_file():
        raise BackendError(
            f"{path} is missing: the results directory was moved or cleaned up; every format is made from it, "
            "so run the search again to have them",
            code="results_missing",
        )
    return path


def _cached(results_dir: Path, name: str, source: Path, make: Callable[[Path], None]) -> Path:
    """`results_dir/formats/name`, made by `make(temp_path)` unless a copy newer than `source` is there."""
    dest = served(results_dir, f"{FORMATS_DIR}/{name}")
    if dest.is_file() and dest.stat().st_mtime_ns >= source.stat().st_mtime_ns:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        make(tmp)
        tmp.replace(dest)  # atomic: a reader sees the old file or the whole new one
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _tsv_to_csv(source: Path, out: Path) -> None:
    """The hits with a header row of `HIT_COLUMNS`, values as hits.tsv has them (BLAST's text), csv-quoted."""
    with out.open("w", newline="", encoding="utf-8") as dst:
        writer = csv.writer(dst, lineterminator="\n")
        writer.writerow(HIT_COLUMNS)
        writer.writerows(hit_rows(source))


def _tsv_with_header(source: Path, out: Path) -> None:
    """hits.tsv's bytes after one row of `HIT_COLUMNS`, tab-separated (a legacy file: its rows in today's order)."""
    with source.open("rb") as src, out.open("wb") as dst:
        dst.write(("\t".join(HIT_COLUMNS) + "\n").encode())
        if not is_legacy(source):
            shutil.copyfileobj(src, dst)
            return
        for row in hit_rows(source):
            dst.write(("\t".join(row) + "\n").encode())


def _tsv_to_json(source: Path, out: Path) -> None:
    """A JSON array of one object per hit, typed (numbers are numbers), written a row at a time: never a list."""
    with out.open("w", encoding="utf-8") as dst:
        dst.write("[")
        for index, row in enumerate(hit_rows(source)):
            hit = Hit.from_row(row)
            dst.write(",\n" if index else "\n")
            dst.write(json.dumps({name: getattr(hit, name) for name in HIT_COLUMNS}, ensure_ascii=False))
        dst.write("\n]\n")


_TABLES: dict[str, Callable[[Path, Path], None]] = {"tsv": _tsv_with_header, "csv": _tsv_to_csv, "json": _tsv_to_json}


# --------------------------------------------------------------------------------------------------------------
# Rendering: split the archive into batches, blast_formatter each, merge.
# --------------------------------------------------------------------------------------------------------------


def split_archive(lines: Iterable[str]) -> Iterator[list[str]]:
    """The batch archives inside a concatenated archive, each as its lines (one batch if no marker is found)."""
    batch: list[str] = []
    for line in lines:
        if line.startswith(_ARCHIVE_START) and batch:
            yield batch
            batch = []
        batch.append(line)
    if batch:
        yield batch


def _render(results_dir: Path, archive: Path, fmt: str, out: Path) -> None:
    outfmt = FORMATS[fmt].outfmt
    blastdb = database_dir(results_dir)
    with tempfile.TemporaryDirectory(prefix="blastflow-formats-", dir=out.parent) as tmp:
        rendered, counts = [], []
        with archive.open(encoding="utf-8", errors="replace") as handle:
            for index, batch in enumerate(split_archive(handle)):
                part = Path(tmp) / f"batch_{index:03d}.asn"
                part.write_text("".join(batch), encoding="utf-8")
                counts.append(_query_count(batch))
                rendered.append(_blast_formatter(archive, part, outfmt, blastdb))
        _write_merged(fmt, rendered, counts, out)


def database_dir(results_dir: Path) -> Path | None:
    """Where blast_formatter finds the search's database: the directory finalize used (`provenance.json`),
    else an elastic-blast job's copy beside the results; None: the archive's own path, or BLASTDB, finds it."""
    try:
        recorded = read_provenance(results_dir / PROVENANCE_FILE).database.directory
    except (OSError, ValueError):
        recorded = ""
    for place in (Path(recorded) if recorded else None, results_dir.parent / "blastdb"):
        if place is not None and place.is_dir():
            return place
    return None


def _query_count(batch: Sequence[str]) -> int:
    """How many queries a batch archive holds: BLAST names them Query_1..Query_n (0 if they carry own ids)."""
    return max((int(n) for line in batch for n in _QUERY_N.findall(line)), default=0)


def _blast_formatter(archive: Path, part: Path, outfmt: int | None, blastdb: Path | None) -> Path:
    """Render one batch of `archive` (split out to `part`); errors name the stored archive, not the part."""
    try:
        return blast_formatter(part, part.with_suffix(".out"), str(outfmt), blastdb=blastdb)
    except FormatterError as exc:
        raise FormatterError(f"{archive} cannot be read by blast_formatter: {exc.cause}", exc.cause) from None


def _write_merged(fmt: str, rendered: Sequence[Path], counts: Sequence[int], out: Path) -> None:
    def batches() -> Iterator[Iterator[str]]:
        for path in rendered:
            with path.open(encoding="utf-8", errors="replace") as handle:
                yield iter(handle)

    merges: dict[str, Callable[[], Iterable[str]]] = {
        "pairwise": lambda: merge_pairwise(batches()),
        "xml": lambda: merge_xml(batches()),
        "tabular-comments": lambda: merge_tabular_comments(batches()),
        "sam": lambda: merge_sam(batches, counts),
    }
    with out.open("w", encoding="utf-8") as dest:
        dest.writelines(merges[fmt]())


# --------------------------------------------------------------------------------------------------------------
# The merges: per-batch outputs (each an iterable of lines with their newlines) in, one output's lines out.
# --------------------------------------------------------------------------------------------------------------


def merge_pairwise(batches: Iterable[Iterable[str]]) -> Iterator[str]:
    """Pairwise (outfmt 0): the first header, every batch's "Query=" sections, the last footer.

    >>> one = ["BLASTP\\n", "\\n", "Query= a\\n", "hit\\n", "  Database: db\\n", "end\\n"]
    >>> two = ["BLASTP\\n", "\\n", "Query= b\\n", "  Database: db\\n", "end\\n"]
    >>> "".join(merge_pairwise([one, two]))
    'BLASTP\\n\\nQuery= a\\nhit\\nQuery= b\\n  Database: db\\nend\\n'
    """
    footer: list[str] = []
    for index, batch in enumerate(batches):
        part = "header"
        footer = []
        for line in batch:
            if part == "header" and line.startswith("Query="):
                part = "body"
            elif part == "body" and line.startswith("  Database:"):
                part = "footer"
            if part == "footer":
                footer.append(line)
            elif part == "body" or index == 0:
                yield line
    yield from footer


def merge_xml(batches: Iterable[Iterable[str]]) -> Iterator[str]:
    """BLAST XML (outfmt 5): one document, iterations and `Query_N` ids numbered across the batches.

    >>> doc = ["<BlastOutput>\\n", "<BlastOutput_iterations>\\n", "<Iteration_iter-num>1</Iteration_iter-num>\\n",
    ...        "<Iteration_query-ID>Query_1</Iteration_query-ID>\\n", "</BlastOutput_iterations>\\n",
    ...        "</BlastOutput>\\n"]
    >>> [line for line in merge_xml([doc, doc]) if "Iteration_" in line][2:]
    ['<Iteration_iter-num>2</Iteration_iter-num>\\n', '<Iteration_query-ID>Query_2</Iteration_query-ID>\\n']
    """
    seen = 0  # iterations (queries) of the batches before this one
    footer: list[str] = []
    for index, batch in enumerate(batches):
        part, footer, here = "header", [], 0
        for line in batch:
            if part == "body" and "</BlastOutput_iterations>" in line:
                part = "footer"
            if part == "footer":
                footer.append(line)
                continue
            if part == "body":
                if "<Iteration_iter-num>" in line:
                    here += 1
                    line = re.sub(r"(?<=<Iteration_iter-num>)\d+", str(seen + here), line)
                elif "<Iteration_query-ID>" in line:
                    line = _shift(line, seen)
            if part == "body" or index == 0:
                yield line
            if part == "header" and "<BlastOutput_iterations>" in line:
                part = "body"
        seen += here
    yield from footer


def merge_tabular_comments(batches: Iterable[Iterable[str]]) -> Iterator[str]:
    """Tabular with comments (outfmt 7): each batch's "# BLAST processed" line replaced by one total at the end.

    >>> "".join(merge_tabular_comments([["# Query: a\\n", "# BLAST processed 1 queries\\n"],
    ...                                 ["# Query: b\\n", "# Query: c\\n", "# BLAST processed 2 queries\\n"]]))
    '# Query: a\\n# Query: b\\n# Query: c\\n# BLAST processed 3 queries\\n'
    """
    total = 0
    for batch in batches:
        for line in batch:
            processed = re.fullmatch(r"# BLAST processed (\d+) quer(?:y|ies)\n?", line)
            if processed:
                total += int(processed.group(1))
            else:
                yield line
    yield f"# BLAST processed {total} queries\n"


def merge_sam(batches: Callable[[], Iterable[Iterable[str]]], counts: Sequence[int]) -> Iterator[str]:
    """SAM (outfmt 17): one header, then every alignment; batch k's `Query_N` becomes `Query_(N + queries before)`.

    `batches` is called twice (the header comes first, from every batch); `counts[k]` is how many queries batch k
    searched, hits or not (a batch without hits prints nothing at all).

    >>> one = ["@HD\\tVN:1.2\\n", "@SQ\\tSN:Query_2\\tLN:9\\n", "@PG\\tID:0\\n", "s1\\t0\\tQuery_2\\t1\\n"]
    >>> two = ["@HD\\tVN:1.2\\n", "@SQ\\tSN:Query_1\\tLN:7\\n", "@PG\\tID:0\\n", "s2\\t0\\tQuery_1\\t1\\n"]
    >>> "".join(merge_sam(lambda: [one, two], [2, 1])).splitlines()
    ['@HD\\tVN:1.2', '@SQ\\tSN:Query_2\\tLN:9', '@SQ\\tSN:Query_3\\tLN:7', '@PG\\tID:0', 's1\\t0\\tQuery_2\\t1', \
's2\\t0\\tQuery_3\\t1']
    """
    offsets = [sum(counts[:k]) for k in range(len(counts))]
    first: dict[str, list[str]] = {}
    sequences: list[str] = []
    for offset, batch in zip(offsets, batches(), strict=True):
        for line in batch:
            if line.startswith("@SQ"):
                sequences.append(_renumber(line, offset))
            elif line.startswith("@"):
                first.setdefault(line[:3], []).append(line)
    heads = [lines[0] for lines in first.values()]
    yield from (line for line in heads if line.startswith("@HD"))
    yield from sequences
    yield from (line for line in heads if not line.startswith("@HD"))
    for offset, batch in zip(offsets, batches(), strict=True):
        yield from (_renumber(line, offset) for line in batch if not line.startswith("@"))


def _renumber(line: str, offset: int) -> str:
    """A SAM line with `Query_N` in its reference-name fields (SN:, RNAME, RNEXT) moved on by `offset`."""
    if not offset:
        return line
    fields = line.split("\t")
    columns = [1] if line.startswith("@SQ") else [2, 6]  # only names, never a subject id that looks alike
    for column in columns:
        if column < len(fields):
            fields[column] = _shift(fields[column], offset)
    return "\t".join(fields)


def _shift(text: str, offset: int) -> str:
    """`Query_N` in `text` as `Query_(N + offset)`: BLAST numbers queries from 1 in each batch."""
    return _QUERY_N.sub(lambda m: f"Query_{int(m.group(1)) + offset}", text)

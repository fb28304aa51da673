"""Pairwise alignments of one query, read from the search's BLAST XML one query (and one page of hits) at a time.

The XML (`blast_formatter -outfmt 5` of the job's archive, rendered and cached by
`blastflow.formats`) can be large: hundreds of queries with hundreds of hits each.
So the page never parses all of it:

- `alignment_index` finds the byte range of every `<Iteration>` (one per query) in
  one streaming pass and caches it beside the XML (`results.xml.index.json`,
  rebuilt when the XML is newer or a different size);
- `query_alignments` reads only that query's bytes, keeps only the requested page
  of `<Hit>` elements, wraps them in the document's header and footer and parses
  that small document with `Bio.Blast.NCBIXML`;
- `format_hsp` writes one HSP as BLAST's own pairwise text (`-outfmt 0`) does,
  wrapped at 60 columns, with coordinates for gaps, minus strands and frames.

The query id is the first word of `Iteration_query-def` (the merged archive
restarts `Query_N` per batch). Masked query residues are shown as the XML has
them (`X` / `N`); BLAST's pairwise text shows them in lower case instead.
"""

from __future__ import annotations

import io
import json
import mmap
import os
import re
import tempfile
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any
from xml.sax.saxutils import unescape

from blastflow.errors import BackendError

__all__ = [
    "INDEX_SUFFIX",
    "LINE_WIDTH",
    "AlignmentIndex",
    "Hsp",
    "IndexedQuery",
    "QueryAlignments",
    "SubjectHit",
    "alignment_index",
    "format_hsp",
    "query_alignments",
]

LINE_WIDTH = 60  # residues per line, as BLAST's pairwise output
INDEX_SUFFIX = ".index.json"
_INDEX_VERSION = 1
_FOOTER = b"</BlastOutput_iterations>\n</BlastOutput>\n"
_ITERATION = re.compile(rb"<Iteration>")
_HIT = re.compile(rb"<Hit>")
_TRANSLATED_QUERY = frozenset({"blastx", "tblastx"})
_TRANSLATED_SUBJECT = frozenset({"tblastn", "tblastx"})
_ORDINAL_ID = "gnl|BL_ORD_ID|"  # a database made without -parse_seqids: the defline's first word is the id


@dataclass(frozen=True, slots=True)
class IndexedQuery:
    """Where one query's `<Iteration>` lies in the XML, and how many hits it has."""

    query_id: str
    start: int
    end: int
    hits: int


@dataclass(frozen=True, slots=True)
class AlignmentIndex:
    """The byte map of one XML file: its header's length and every query in result order."""

    xml_path: Path
    header_end: int
    queries: tuple[IndexedQuery, ...]

    def find(self, query_id: str) -> IndexedQuery | None:
        """The query with this id (the first, should a query appear twice)."""
        return next((q for q in self.queries if q.query_id == query_id), None)

    @property
    def with_hits(self) -> list[str]:
        """Ids of the queries that have at least one hit, in result order."""
        return [q.query_id for q in self.queries if q.hits]


@dataclass(frozen=True, slots=True)
class Hsp:
    """One high-scoring pair, as the XML gives it (frames are 0 where they do not apply)."""

    bits: float
    score: int
    evalue: float
    identities: int
    positives: int | None
    gaps: int
    align_len: int
    query_from: int
    query_to: int
    sbjct_from: int
    sbjct_to: int
    query_frame: int
    sbjct_frame: int
    query: str
    midline: str
    sbjct: str


@dataclass(frozen=True, slots=True)
class SubjectHit:
    """One subject sequence hit by the query, with its HSPs."""

    subject_id: str
    description: str
    length: int
    hsps: tuple[Hsp, ...]


@dataclass(frozen=True, slots=True)
class QueryAlignments:
    """One page of a query's hits: `hits` are hits `offset .. offset + len(hits)` of `total`."""

    query_id: str
    query_def: str
    query_len: int
    program: str
    total: int
    offset: int
    hits: tuple[SubjectHit, ...]


def _unreadable(xml_path: Path, why: str) -> BackendError:
    return BackendError(
        f"{xml_path} cannot be read as BLAST XML: {why}. Delete it so it is rendered again from the archive.",
        code="alignments_xml",
    )


# ---------------------------------------------------------------------------------------------------------------
# The index: one streaming pass, cached beside the XML.
# ---------------------------------------------------------------------------------------------------------------


def alignment_index(xml_path: Path) -> AlignmentIndex:
    """The XML's query map, from its cache file when that is current, else built and cached (atomically).

    Raises:
        BackendError: the XML is missing, not BLAST XML, or cut short (the message names the file).
    """
    cache = xml_path.with_name(xml_path.name + INDEX_SUFFIX)
    try:
        stat = xml_path.stat()
    except OSError as err:
        raise BackendError(f"{xml_path} is missing: {err.strerror}.", code="alignments_xml") from err
    cached = _read_index(cache, xml_path, stat)
    if cached is not None:
        return cached
    index = _build_index(xml_path)
    _write_index(cache, index, stat.st_size)
    return index


def _read_index(cache: Path, xml_path: Path, stat: os.stat_result) -> AlignmentIndex | None:
    """The cached index, or None when it is missing, unreadable, older than the XML or for another size."""
    try:
        if cache.stat().st_mtime_ns < stat.st_mtime_ns:
            return None
        data = json.loads(cache.read_text())
    except (OSError, ValueError):
        return None
    if data.get("version") != _INDEX_VERSION or data.get("xml_size") != stat.st_size:
        return None
    queries = tuple(IndexedQuery(q, s, e, h) for q, s, e, h in data["queries"])
    return AlignmentIndex(xml_path, int(data["header_end"]), queries)


def _write_index(cache: Path, index: AlignmentIndex, xml_size: int) -> None:
    """Temporary file then rename: a reader never sees half an index. A read-only folder just skips the cache."""
    data = {
        "version": _INDEX_VERSION,
        "xml_size": xml_size,
        "header_end": index.header_end,
        "queries": [[q.query_id, q.start, q.end, q.hits] for q in index.queries],
    }
    try:
        fd, tmp = tempfile.mkstemp(dir=cache.parent, prefix=f".{cache.name}.", suffix=".part")
        with os.fdopen(fd, "w") as out:
            json.dump(data, out)
        os.replace(tmp, cache)
    except OSError:
        return


def _build_index(xml_path: Path) -> AlignmentIndex:
    """Scan the file once (memory-mapped: never read whole into memory) for each `<Iteration>`'s range."""
    with xml_path.open("rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            raise _unreadable(xml_path, "the file is empty")
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            if data.find(b"<BlastOutput>", 0, 4096) < 0:
                raise _unreadable(xml_path, "it has no <BlastOutput> element")
            starts = [m.start() for m in _ITERATION.finditer(data)]  # no match may outlive the map
            queries = tuple(_iteration(xml_path, data, start) for start in starts)
            header_end = queries[0].start if queries else data.find(b"</BlastOutput_iterations>")
    if header_end < 0:
        raise _unreadable(xml_path, "it ends before </BlastOutput_iterations>")
    return AlignmentIndex(xml_path, header_end, queries)


def _iteration(xml_path: Path, data: mmap.mmap, start: int) -> IndexedQuery:
    close = data.find(b"</Iteration>", start)
    if close < 0:
        raise _unreadable(xml_path, f"the <Iteration> at byte {start} never ends (the file is cut short)")
    end = close + len(b"</Iteration>")
    query_id = _query_id(_element(data, b"Iteration_query-def", start, end)) or _element(
        data, b"Iteration_query-ID", start, end
    )
    return IndexedQuery(query_id, start, end, data[start:end].count(b"<Hit>"))


def _element(data: mmap.mmap, tag: bytes, start: int, end: int) -> str:
    """The text of the first `<tag>` between start and end, unescaped ('' if absent)."""
    opening = data.find(b"<" + tag + b">", start, end)
    if opening < 0:
        return ""
    opening += len(tag) + 2
    closing = data.find(b"</" + tag + b">", opening, end)
    return unescape(data[opening:closing].decode("utf-8", "replace"), {"&quot;": '"', "&apos;": "'"})


def _query_id(query_def: str) -> str:
    words = query_def.split(maxsplit=1)
    return words[0] if words else ""


# ---------------------------------------------------------------------------------------------------------------
# One query's page of hits.
# ---------------------------------------------------------------------------------------------------------------


def query_alignments(
    xml_path: Path, query_id: str, offset: int = 0, limit: int | None = None, *, subject: str | None = None
) -> QueryAlignments:
    """Hits `offset .. offset + limit` of one query, reading only that query's bytes of the XML.

    Args:
        xml_path: the search's BLAST XML (`formatted(results_dir, "xml")`).
        query_id: the first word of the query's definition line.
        offset: the first hit wanted (0-based).
        limit: how many hits at most (None: all from offset).
        subject: only the hits of this subject id (as `SubjectHit.subject_id` or the XML's Hit_id gives it).

    Raises:
        BackendError: the XML cannot be read, or has no query of that id (the message names the file).
    """
    index = alignment_index(xml_path)
    entry = index.find(query_id)
    if entry is None:
        raise BackendError(f"{xml_path} has no query {query_id!r}.", code="alignments_query")
    with xml_path.open("rb") as handle:
        header = handle.read(index.header_end)
        handle.seek(entry.start)
        iteration = handle.read(entry.end - entry.start)
    page, total = _page_of_hits(iteration, offset, limit, subject)
    record = _parse(xml_path, header + page + b"\n" + _FOOTER)
    hits = tuple(_subject_hit(alignment) for alignment in record.alignments)
    return QueryAlignments(
        query_id=query_id,
        query_def=record.query,
        query_len=int(record.query_letters or 0),
        program=record.application.lower(),
        total=total,
        offset=offset,
        hits=hits,
    )


def _page_of_hits(iteration: bytes, offset: int, limit: int | None, subject: str | None) -> tuple[bytes, int]:
    """The iteration with only the wanted hits kept between its head and its tail, and how many there were."""
    starts = [m.start() for m in _HIT.finditer(iteration)]
    if not starts:
        return iteration, 0
    hits_end = iteration.rfind(b"</Iteration_hits>")
    bounds = [*starts, hits_end]
    hits = [iteration[a:b] for a, b in pairwise(bounds)]
    if subject is not None:
        hits = [hit for hit in hits if _is_subject(hit, subject)]
    first = max(offset, 0)
    last = len(hits) if limit is None else first + max(limit, 0)
    return iteration[: starts[0]] + b"".join(hits[first:last]) + iteration[hits_end:], len(hits)


def _is_subject(hit: bytes, subject: str) -> bool:
    """Whether this `<Hit>` is the subject's: by Hit_id, or by the definition's first word (no -parse_seqids)."""
    for tag in (b"Hit_id", b"Hit_def"):
        opening = hit.find(b"<" + tag + b">")
        if opening >= 0:
            value = hit[opening + len(tag) + 2 : hit.find(b"</" + tag + b">", opening)]
            if unescape(value.decode("utf-8", "replace")).split(" ", 1)[0] == subject:
                return True
    return False


def _parse(xml_path: Path, document: bytes) -> Any:
    from Bio.Blast import NCBIXML  # Biopython loads in ~0.1 s: only where alignments are read

    try:
        return NCBIXML.read(io.BytesIO(document))
    except Exception as err:  # expat and Biopython raise several types for a malformed document
        raise _unreadable(xml_path, str(err) or type(err).__name__) from err


def _subject_hit(alignment: Any) -> SubjectHit:
    """The subject's id and description: a database without -parse_seqids puts the id first in the definition."""
    subject_id, description = alignment.hit_id, alignment.hit_def
    if subject_id.startswith(_ORDINAL_ID) and description:
        subject_id, _, description = description.partition(" ")
    return SubjectHit(subject_id, description, int(alignment.length), tuple(_hsp(h) for h in alignment.hsps))


def _hsp(hsp: Any) -> Hsp:
    frames = (*hsp.frame, 0, 0)[:2]
    gaps = hsp.gaps if isinstance(hsp.gaps, int) else hsp.query.count("-") + hsp.sbjct.count("-")
    return Hsp(
        bits=float(hsp.bits),
        score=int(hsp.score),
        evalue=float(hsp.expect),
        identities=int(hsp.identities),
        positives=hsp.positives if isinstance(hsp.positives, int) else None,
        gaps=gaps,
        align_len=int(hsp.align_length),
        query_from=int(hsp.query_start),
        query_to=int(hsp.query_end),
        sbjct_from=int(hsp.sbjct_start),
        sbjct_to=int(hsp.sbjct_end),
        query_frame=int(frames[0] or 0),
        sbjct_frame=int(frames[1] or 0),
        query=hsp.query,
        midline=hsp.match,
        sbjct=hsp.sbjct,
    )


# ---------------------------------------------------------------------------------------------------------------
# BLAST's pairwise text for one HSP.
# ---------------------------------------------------------------------------------------------------------------


def format_hsp(hsp: Hsp, program: str, width: int = LINE_WIDTH) -> str:
    """One HSP as BLAST's pairwise text: score lines, then Query / midline / Sbjct blocks of `width` columns.

    Coordinates follow BLAST: a gap does not advance them, a minus strand or a
    negative frame counts down, and a translated sequence moves 3 nucleotides per residue.

    Example:
        >>> hsp = Hsp(50.1, 120, 2e-9, 5, 5, 1, 6, 1, 5, 11, 16, 0, 0, "MKT-AY", "MKT AY", "MKTWAY")
        >>> print(format_hsp(hsp, "blastp"))
         Score = 50.1 bits (120),  Expect = 2e-09
         Identities = 5/6 (83%), Positives = 5/6 (83%), Gaps = 1/6 (17%)
        <BLANKLINE>
        Query  1   MKT-AY  5
                   MKT AY
        Sbjct  11  MKTWAY  16
    """
    program = program.lower()
    lines = [*_summary(hsp, program), ""]
    query = _Track(hsp.query, *_axis(hsp.query_from, hsp.query_to, hsp.query_frame, program in _TRANSLATED_QUERY))
    sbjct = _Track(hsp.sbjct, *_axis(hsp.sbjct_from, hsp.sbjct_to, hsp.sbjct_frame, program in _TRANSLATED_SUBJECT))
    blocks = [(query.block(i, width), sbjct.block(i, width), i) for i in range(0, len(hsp.query), width)]
    digits = max(len(str(n)) for q, s, _ in blocks for n in (q[0], q[2], s[0], s[2]))
    for q, s, i in blocks:
        if i:
            lines.append("")
        lines.append(f"Query  {q[0]:<{digits}}  {q[1]}  {q[2]}")
        lines.append(" " * (digits + 9) + hsp.midline[i : i + width].rstrip())
        lines.append(f"Sbjct  {s[0]:<{digits}}  {s[1]}  {s[2]}")
    return "\n".join(lines)


def _axis(first: int, last: int, frame: int, translated: bool) -> tuple[int, int, int]:
    """Start, direction (+1/-1) and residue step: the XML gives a translated minus frame as low..high."""
    if translated:
        return (max(first, last), -1, 3) if frame < 0 else (min(first, last), 1, 3)
    return (first, -1, 1) if first > last else (first, 1, 1)


@dataclass
class _Track:
    """One aligned row, counting its coordinates block by block."""

    residues: str
    position: int
    direction: int
    step: int

    def block(self, offset: int, width: int) -> tuple[int, str, int]:
        """(start, residues, end) of the block at `offset`; advances the position past it."""
        chunk = self.residues[offset : offset + width]
        count = len(chunk) - chunk.count("-")
        start = self.position
        self.position += self.direction * self.step * count
        end = self.position - self.direction if count else start - self.direction
        return start, chunk, end


def _summary(hsp: Hsp, program: str) -> list[str]:
    lines = [f" Score = {_bits(hsp.bits)} bits ({hsp.score}),  Expect = {_evalue(hsp.evalue)}"]
    counts = [f"Identities = {_fraction(hsp.identities, hsp.align_len)}"]
    if program != "blastn" and hsp.positives is not None:
        counts.append(f"Positives = {_fraction(hsp.positives, hsp.align_len)}")
    counts.append(f"Gaps = {_fraction(hsp.gaps, hsp.align_len)}")
    lines.append(" " + ", ".join(counts))
    if program == "blastn":
        lines.append(f" Strand={_strand(hsp.query_frame)}/{_strand(hsp.sbjct_frame)}")
    elif program == "tblastx":
        lines.append(f" Frame = {hsp.query_frame:+d}/{hsp.sbjct_frame:+d}")
    elif program == "blastx":
        lines.append(f" Frame = {hsp.query_frame:+d}")
    elif program == "tblastn":
        lines.append(f" Frame = {hsp.sbjct_frame:+d}")
    return lines


def _strand(frame: int) -> str:
    return "Minus" if frame < 0 else "Plus"


def _fraction(part: int, whole: int) -> str:
    """`part/whole (pct%)`, rounded as BLAST does: 100% only when all, else at most 99%."""
    pct = 100 if part == whole else min(99, int(0.5 + 100.0 * part / whole)) if whole else 0
    return f"{part}/{whole} ({pct}%)"


def _bits(bits: float) -> str:
    """BLAST's bit-score text: whole bits (truncated) from 100 up, one decimal below."""
    if bits > 9999:
        return f"{bits:4.3e}"
    if bits > 99.9:
        return str(int(bits))
    return f"{bits:.1f}"


def _evalue(evalue: float) -> str:
    """BLAST's e-value text (its GetScoreString rules)."""
    if evalue < 1.0e-180:
        return "0.0"
    if evalue < 1.0e-99:
        return f"{evalue:2.0e}"
    if evalue < 0.0009:
        return f"{evalue:3.0e}"
    if evalue < 0.1:
        return f"{evalue:4.3f}"
    if evalue < 1.0:
        return f"{evalue:3.2f}"
    if evalue < 10.0:
        return f"{evalue:2.1f}"
    return f"{evalue:.0f}"

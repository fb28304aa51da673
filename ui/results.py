"""The results tabs that show tables and files: Descriptions (the hits table) and Downloads.

The hits table is paged, sorted and filtered server-side (`blastflow.hit_query`,
DuckDB over the search's `hits.parquet`): a run of the page reads one page of
rows and a count, never every hit, so a search with millions of hits renders
as fast as a small one.
"""

from __future__ import annotations

import hashlib
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from blastflow.confine import job_results_dir, served
from blastflow.errors import InputError
from blastflow.hit_query import HitFilter, count_hits, page, totals
from blastflow.hits import ARCHIVE_FILE, HITS_FILE, PARQUET_FILE, tsv_to_parquet
from blastflow.model import JobRecord, Phase
from blastflow.provenance import NO_HITS_FILE
from ui.hit_table import HIT_TABLE_COLUMNS, shown_hits
from ui.view.refresh import TAB_ALIGNMENTS

__all__ = [
    "PAGE_SIZES",
    "JobResults",
    "cached_count",
    "cached_totals",
    "file_stamp",
    "load_results",
    "render_descriptions",
    "selected_hit",
    "show_missing",
]


PAGE_SIZES = (50, 100, 500)
_DESCRIPTION_COLUMNS = list(HIT_TABLE_COLUMNS.values())[:8]
_EVALUE_LIMITS = {"any": None, "≤ 1e-5": 1e-5, "≤ 1e-10": 1e-10, "≤ 1e-20": 1e-20, "≤ 1e-50": 1e-50}
_PAGE_KEY = "hits_page"
_SHOWN_KEY = "hits_shown"  # (query, subject) of each row on the page, for the row-selection callback
_TABLE_KEY = "hits_table"


@dataclass(frozen=True)
class JobResults:
    """A job's results as the page found them: the hits files, or why there are none here."""

    parquet_path: Path | None
    hits_path: Path | None
    archive_path: Path | None
    location: str | None
    problem: str | None = None  # why a local results directory could not be read
    directory: Path | None = None  # the job's own results folder, checked (`blastflow.confine.job_results_dir`)


def load_results(job: JobRecord) -> JobResults:
    """Find the job's hits in its local results directory (looked at afresh on each run, never cached: fix P1).

    A job finished before finalize wrote `hits.parquet` has only `hits.tsv`: it is converted once (see
    `_parquet_for`), and the Parquet file is what later runs read.
    """
    location = job.results_location
    if not location or "://" in location:  # none yet, or in a bucket: the page says where
        return JobResults(None, None, None, location)
    try:  # only the job's own folder, and only files that stay inside it (no symlink out), are read
        directory = job_results_dir(location, job.job_id)
        hits_path, archive = served(directory, HITS_FILE), served(directory, ARCHIVE_FILE)
    except InputError as err:
        return JobResults(None, None, None, location, str(err))
    if not hits_path.is_file():
        return JobResults(None, None, None, location, f"{hits_path} is not readable from this machine.")
    try:
        parquet = _parquet_for(hits_path, served(directory, PARQUET_FILE))
    except (OSError, ValueError) as err:
        return JobResults(None, None, None, location, f"{hits_path} could not be read: {err}")
    return JobResults(parquet, hits_path, archive if archive.is_file() else None, location, directory=directory)


def _parquet_for(tsv: Path, beside: Path) -> Path:
    """The Parquet file of a hits table: finalize's, or one converted from `tsv` once (written atomically).

    Beside the TSV when the results directory is writable; else in this machine's temporary directory, named
    by the TSV's path, size and time, so a changed file is converted again.
    """
    if beside.is_file():
        return beside
    try:
        tsv_to_parquet(tsv, beside)
        return beside
    except PermissionError:
        stat = tsv.stat()
        name = hashlib.sha256(f"{tsv.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:24]
        cached = Path(tempfile.gettempdir()) / "blastflow-hits" / f"{name}.parquet"
        if not cached.is_file():
            cached.parent.mkdir(parents=True, exist_ok=True)
            tsv_to_parquet(tsv, cached)
        return cached


def show_missing(job: JobRecord, results: JobResults) -> None:
    """Say why there are no hits to show: not finished yet, no results, unreadable, or stored elsewhere."""
    if job.phase is not Phase.COMPLETED:
        if job.is_terminal:
            st.info("This job ended without results.")
        else:
            st.info("Results appear here when the search completes.", icon=":material/hourglass_top:")
    elif results.problem:
        st.warning("The hits table cannot be shown here.")
        st.code(results.problem, language=None, wrap_lines=True)
    elif results.location:
        st.info("The results are not on this machine. They are stored at:")
        st.code(results.location, language=None, wrap_lines=True)
    else:
        st.warning("The job completed but recorded no results location.")


def _queries_without_hits(listed: Path, shown: int = 1000) -> None:
    """How many queries found nothing, and which (folded; the whole list is under Downloads)."""
    if not listed.is_file():
        return  # a job finished before finalize listed them
    with listed.open(encoding="utf-8", errors="replace") as handle:
        ids = [line.strip() for line in handle if line.strip()]
    if not ids:
        st.caption("Every query has at least one hit.")
        return
    with st.expander(f"{len(ids):,} quer{'y' if len(ids) == 1 else 'ies'} without hits", icon=":material/block:"):
        more = f"\n… and {len(ids) - shown:,} more (Downloads: queries without hits)" if len(ids) > shown else ""
        st.code("\n".join(ids[:shown]) + more, language=None)


def render_descriptions(job: JobRecord, results: JobResults) -> None:
    """The hits table: filtered, sorted and paged by DuckDB; selecting a row opens its alignment."""
    path = results.parquet_path
    if path is None:
        show_missing(job, results)
        return
    total, queries = cached_totals(path)
    if results.directory is not None:
        _queries_without_hits(served(results.directory, NO_HITS_FILE))
    if total == 0:
        st.info("The search found no hits: no query matched the database within the e-value cut-off.")
        return
    hit_filter = _filters()
    sort, descending, size = _sorting()
    matching = cached_count(path, hit_filter)
    number = _page_number(matching, size)
    rows = page(path, hit_filter, sort=sort, descending=descending, offset=(number - 1) * size, limit=size)
    first, last = ((number - 1) * size + 1, (number - 1) * size + len(rows)) if len(rows) else (0, 0)
    st.caption(
        f"rows {first:,}–{last:,} of {matching:,} filtered ({total:,} total; {queries:,} queries with hits); "
        f"page {number:,} of {max(1, math.ceil(matching / size)):,}. Select a row to see its alignment."
    )
    st.session_state[_SHOWN_KEY] = list(zip(rows["Query"], rows["Subject"], strict=True))  # as BLAST wrote them
    st.dataframe(
        shown_hits(rows),  # hit text sanitised on its way to the page
        hide_index=True,
        column_order=_DESCRIPTION_COLUMNS,
        key=_TABLE_KEY,
        on_select=_open_alignment,
        selection_mode="single-row",
        column_config={
            "Description": st.column_config.TextColumn(width="large"),
            "% identity": st.column_config.NumberColumn(format="%.2f"),
            "E-value": st.column_config.NumberColumn(format="%.2e"),
            "Bit score": st.column_config.NumberColumn(format="%.1f"),
            "Query coverage %": st.column_config.NumberColumn(format="%.0f"),
        },
    )


def file_stamp(path: Path) -> tuple[int, int]:
    """(size, modification time) of a results file: part of every cache key, so a rewritten file is read anew."""
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def cached_totals(path: Path) -> tuple[int, int]:
    """`hit_query.totals`, computed once per Parquet file (written whole, once, by finalize) for all sessions."""
    return _cached_totals(str(path), file_stamp(path))


def cached_count(path: Path, hit_filter: HitFilter) -> int:
    """`hit_query.count_hits`, once per file and filter: paging through a filter's rows then costs only the page."""
    f = hit_filter
    return _cached_count(str(path), file_stamp(path), f.text, f.max_evalue, f.min_identity)


@st.cache_data(max_entries=64, show_spinner=False)
def _cached_totals(path: str, stamp: tuple[int, int]) -> tuple[int, int]:
    return totals(Path(path))


@st.cache_data(max_entries=256, show_spinner=False)
def _cached_count(path: str, stamp: tuple[int, int], text: str, max_evalue: float | None, min_identity: float) -> int:
    return count_hits(Path(path), HitFilter(text, max_evalue, min_identity))


def _first_page() -> None:
    st.session_state[_PAGE_KEY] = 1  # a new filter or order starts at its first page


def _filters() -> HitFilter:
    text_col, evalue_col, identity_col = st.columns([3, 1, 2])
    with text_col:
        text = st.text_input(
            "Filter", key="hits_filter", placeholder="Query, subject or description contains…", on_change=_first_page
        )
    with evalue_col:
        evalue = st.selectbox("E-value", list(_EVALUE_LIMITS), key="hits_evalue", on_change=_first_page)
    with identity_col:
        identity = st.slider("Minimum % identity", 0, 100, 0, key="hits_identity", on_change=_first_page)
    return HitFilter(text or "", _EVALUE_LIMITS[evalue], float(identity))


def _sorting() -> tuple[str, bool, int]:
    """The sort column, whether descending, and the page size, as chosen above the table."""
    sort_col, order_col, size_col = st.columns([3, 2, 1])
    columns = list(HIT_TABLE_COLUMNS.values())
    with sort_col:
        sort = st.selectbox("Sort by", columns, index=columns.index("E-value"), key="hits_sort", on_change=_first_page)
    with order_col:
        order = st.radio(
            "Order", ["Ascending", "Descending"], key="hits_order", horizontal=True, on_change=_first_page
        )
    with size_col:
        size = st.selectbox("Rows per page", PAGE_SIZES, index=1, key="hits_page_size", on_change=_first_page)
    return sort, order == "Descending", int(size)


def _page_number(matching: int, size: int) -> int:
    """The page asked for, kept within the pages there are (a narrower filter may leave fewer)."""
    pages = max(1, math.ceil(matching / size))
    if st.session_state.get(_PAGE_KEY, 1) > pages:
        st.session_state[_PAGE_KEY] = pages
    # No max_value and a fixed label: the widget keeps its identity (and value) while the page count changes.
    number = st.number_input("Page", min_value=1, step=1, key=_PAGE_KEY)
    return min(int(number), pages)


def _open_alignment() -> None:
    """Row selected: remember its query and subject and switch to the Alignments tab (before the rerun)."""
    chosen = selected_hit(st.session_state[_TABLE_KEY]["selection"]["rows"], st.session_state.get(_SHOWN_KEY, []))
    if chosen is not None:
        # Imported here, not at the top: both modules import this one.
        from ui.alignments import ALIGN_QUERY_KEY, ALIGN_SUBJECT_KEY
        from ui.job_page import TAB_KEY

        st.session_state[ALIGN_QUERY_KEY], st.session_state[ALIGN_SUBJECT_KEY] = chosen
        st.session_state[TAB_KEY] = TAB_ALIGNMENTS


def selected_hit(rows: list[int], shown: list[tuple[str, str]]) -> tuple[str, str] | None:
    """The (query, subject) of the selected row of the page shown; None when nothing (still) shown is selected.

    Example:
        >>> selected_hit([1], [("q1", "s1"), ("q1", "s2")]), selected_hit([], [("q1", "s1")])
        (('q1', 's2'), None)
    """
    if rows and 0 <= rows[0] < len(shown):
        query, subject = shown[rows[0]]
        return query, subject
    return None

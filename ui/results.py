"""The results tabs that show tables and files: Descriptions (the hits table) and Downloads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st

from blastflow.hits import ARCHIVE_FILE, HITS_FILE, read_hits
from blastflow.model import JobRecord, Phase
from ui.hit_table import HIT_TABLE_COLUMNS, filter_hits, hits_frame

__all__ = ["JobResults", "load_results", "render_descriptions", "render_downloads", "show_missing"]

_DESCRIPTION_COLUMNS = list(HIT_TABLE_COLUMNS.values())[:8]
_EVALUE_LIMITS = {"any": None, "≤ 1e-5": 1e-5, "≤ 1e-10": 1e-10, "≤ 1e-20": 1e-20, "≤ 1e-50": 1e-50}


@dataclass(frozen=True)
class JobResults:
    """A job's results as the page found them: the hits table and files, or why there are none here."""

    frame: pd.DataFrame | None
    hits_path: Path | None
    archive_path: Path | None
    location: str | None
    problem: str | None = None  # why a local results directory could not be read


def load_results(job: JobRecord) -> JobResults:
    """Read the job's hits from its local results directory (read fresh each time, never cached: fix P1)."""
    location = job.results_location
    if not location or "://" in location:  # none yet, or in a bucket: the page says where
        return JobResults(None, None, None, location)
    directory = Path(location)
    hits_path = directory / HITS_FILE
    if not hits_path.is_file():
        return JobResults(None, None, None, location, f"{hits_path} is not readable from this machine.")
    try:
        frame = hits_frame(read_hits(hits_path))
    except (OSError, ValueError) as err:
        return JobResults(None, None, None, location, f"{hits_path} could not be read: {err}")
    archive = directory / ARCHIVE_FILE
    return JobResults(frame, hits_path, archive if archive.is_file() else None, location)


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


def render_descriptions(job: JobRecord, results: JobResults) -> None:
    """The hits table: sortable by any column (click a header), filtered by text, e-value and identity."""
    frame = results.frame
    if frame is None:
        show_missing(job, results)
        return
    if frame.empty:
        st.info("The search found no hits: no query matched the database within the e-value cut-off.")
        return
    text_col, evalue_col, identity_col = st.columns([3, 1, 2])
    with text_col:
        text = st.text_input("Filter", key="hits_filter", placeholder="Query, subject or description contains…")
    with evalue_col:
        evalue = st.selectbox("E-value", list(_EVALUE_LIMITS), key="hits_evalue")
    with identity_col:
        identity = st.slider("Minimum % identity", 0, 100, 0, key="hits_identity")
    shown = filter_hits(frame, text or "", _EVALUE_LIMITS[evalue], float(identity))
    queries = frame["Query"].nunique()
    st.caption(f"{len(shown):,} of {len(frame):,} hits ({queries:,} queries with hits). Click a header to sort.")
    st.dataframe(
        shown,
        hide_index=True,
        column_order=_DESCRIPTION_COLUMNS,
        key="hits_table",
        column_config={
            "Description": st.column_config.TextColumn(width="large"),
            "% identity": st.column_config.NumberColumn(format="%.2f"),
            "E-value": st.column_config.NumberColumn(format="%.2e"),
            "Bit score": st.column_config.NumberColumn(format="%.1f"),
            "Query coverage %": st.column_config.NumberColumn(format="%.0f"),
        },
    )


def render_downloads(job: JobRecord, results: JobResults) -> None:
    """TSV and CSV of the hits, and the merged BLAST archive (format 11, for blast_formatter)."""
    frame, hits_path = results.frame, results.hits_path
    if frame is None or hits_path is None:
        show_missing(job, results)
        return
    stem = f"blastflow-{job.job_id[:8]}"
    st.download_button(
        "Hits (TSV)",
        data=lambda: hits_path.read_bytes(),
        file_name=f"{stem}-hits.tsv",
        mime="text/tab-separated-values",
        icon=":material/download:",
        on_click="ignore",
    )
    st.download_button(
        "Hits (CSV)",
        data=lambda: frame.to_csv(index=False).encode(),
        file_name=f"{stem}-hits.csv",
        mime="text/csv",
        icon=":material/download:",
        on_click="ignore",
    )
    if results.archive_path is not None:
        archive = results.archive_path
        st.download_button(
            "BLAST archive (ASN.1, format 11)",
            data=lambda: archive.read_bytes(),
            file_name=f"{stem}-{ARCHIVE_FILE}",
            mime="application/octet-stream",
            icon=":material/download:",
            on_click="ignore",
        )
        st.caption("Reformat the archive into any BLAST output with `blast_formatter -archive FILE -outfmt N`.")
    else:
        st.caption("No BLAST archive was kept for this job.")
    st.text(f"Results directory: {results.location}")

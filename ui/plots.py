"""The Plots tab: hits per query, e-value and identity distributions, and a per-query graphical overview.

The overview follows SequenceServer's: the query is the x axis, one bar per
hit spans the aligned part of the query, best hits on top, coloured by e-value.
Every chart is drawn from rows DuckDB already aggregated (`blastflow.hit_query`:
binned counts, the top queries, one query's best hits), never one row per hit,
so the browser gets a few dozen rows whatever the size of the search. Chart
builders return Altair charts and are tested without Streamlit.
"""

from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from blastflow import hit_query
from blastflow.model import JobRecord
from blastflow.sanitise import sanitise
from ui.hit_table import shown_hits
from ui.results import JobResults, file_stamp, show_missing

__all__ = ["evalue_chart", "hits_per_query_chart", "identity_chart", "overview_chart", "render_plots"]

_TOP_QUERIES = 40
_PICKER_QUERIES = 200  # the overview's picker lists this many queries (most hits first); a search finds others


def hits_per_query_chart(counts: pd.DataFrame) -> alt.Chart:
    """A bar per query from `hit_query.hits_per_query` (columns Query, Hits, most first)."""
    return (
        alt.Chart(counts, title=f"Hits per query (top {len(counts)})")
        .mark_bar()
        .encode(
            x=alt.X("Hits:Q", title="Hits"),
            y=alt.Y("Query:N", sort="-x", title=None),
            tooltip=["Query:N", "Hits:Q"],
        )
        .properties(width="container", height=max(120, 18 * len(counts)))
    )


def evalue_chart(bins: pd.DataFrame) -> alt.Chart:
    """Distribution of -log10(e-value) from binned counts (From, To, Hits): higher is a better hit."""
    return _histogram(bins, "E-value distribution", "−log10(e-value)")


def identity_chart(bins: pd.DataFrame) -> alt.Chart:
    """Distribution of percent identity from binned counts (From, To, Hits)."""
    return _histogram(bins, "Identity distribution", "% identity")


def _histogram(bins: pd.DataFrame, title: str, axis: str) -> alt.Chart:
    return (
        alt.Chart(bins, title=title)
        .mark_bar()
        .encode(
            x=alt.X("From:Q", title=axis),
            x2="To:Q",
            y=alt.Y("Hits:Q", title="Hits"),
            tooltip=[
                alt.Tooltip("From:Q", format=".1f"),
                alt.Tooltip("To:Q", format=".1f"),
                alt.Tooltip("Hits:Q", format=","),
            ],
        )
    )


def overview_chart(rows: pd.DataFrame, query: str) -> alt.LayerChart:
    """Where each subject aligns along `query` (rows of `hit_query.overview_rows`), coloured by e-value."""
    length = int(rows["Query length"].max()) if len(rows) else 1
    axis = alt.Scale(domain=[0, length], nice=False)
    query_bar = (
        alt.Chart(pd.DataFrame({"Start": [1], "End": [length], "Row": [0], "Label": [f"{query} ({length:,})"]}))
        .mark_bar(color="#555", height=6, clip=True)
        .encode(
            x=alt.X("Start:Q", scale=axis, title=f"Position on the query (length {length:,})"),
            x2="End:Q",
            y=alt.Y("Row:O", axis=None),
            tooltip=[alt.Tooltip("Label:N", title="Query")],
        )
    )
    hits = (
        alt.Chart(rows)
        .mark_bar(height=8, clip=True)
        .encode(
            x=alt.X("Start:Q", scale=axis),
            x2="End:Q",
            y=alt.Y("Row:O", axis=None),
            color=alt.Color("-log10 E:Q", scale=alt.Scale(scheme="viridis", reverse=True), title="−log10(e-value)"),
            tooltip=[
                "Subject:N",
                "Description:N",
                alt.Tooltip("E-value:Q", format=".2e"),
                alt.Tooltip("% identity:Q", format=".1f"),
                alt.Tooltip("Start:Q", title="Query from"),
                alt.Tooltip("End:Q", title="Query to"),
            ],
        )
    )
    return alt.layer(query_bar, hits, title=f"Graphical overview: {query}").properties(
        width="container", height=max(80, 14 * (len(rows) + 1))
    )


def render_plots(job: JobRecord, results: JobResults) -> None:
    """The Plots tab."""
    path = results.parquet_path
    if path is None:
        show_missing(job, results)
        return
    per_query, evalues, identities = _aggregates(str(path), file_stamp(path))
    if per_query.empty:
        st.info("No hits to plot.")
        return
    query = _pick_query(path)
    if query is not None:
        _show(overview_chart(shown_hits(hit_query.overview_rows(path, query)), sanitise(query)))  # ids are text too
    left, right = st.columns(2)
    with left:
        st.altair_chart(evalue_chart(evalues), width="stretch")
    with right:
        st.altair_chart(identity_chart(identities), width="stretch")
    _show(hits_per_query_chart(shown_hits(per_query)))


@st.cache_data(max_entries=32, show_spinner=False)
def _aggregates(path: str, stamp: tuple[int, int]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Hits per query and the two histograms: whole-file scans, made once per Parquet file for all sessions
    (finalize writes it whole, once; `stamp` makes a rewritten file a new entry)."""
    hits = Path(path)
    return (
        hit_query.hits_per_query(hits, _TOP_QUERIES),
        hit_query.evalue_histogram(hits),
        hit_query.identity_histogram(hits),
    )


@st.cache_data(max_entries=256, show_spinner=False)
def _query_names(path: str, stamp: tuple[int, int], search: str) -> list[str]:
    return hit_query.query_names(Path(path), search, _PICKER_QUERIES)


def _pick_query(path: Path) -> str | None:
    """The overview's query: from those with most hits, or those whose name contains the text typed."""
    search = st.text_input("Find a query", key="overview_search", placeholder="Part of a query name…")
    queries = _query_names(str(path), file_stamp(path), (search or "").strip())
    if not queries:
        st.caption("No query name contains that text.")
        return None
    return st.selectbox("Graphical overview of query", queries, key="overview_query", format_func=sanitise)


def _show(chart: alt.Chart | alt.LayerChart) -> None:
    # Streamlit sizes a chart itself unless told its height: pass the one the builder chose for the data.
    st.altair_chart(chart, width="stretch", height=int(chart.height))

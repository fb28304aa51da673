"""The Plots tab: hits per query, e-value and identity distributions, and a per-query graphical overview.

The overview follows SequenceServer's: the query is the x axis, one bar per
hit spans the aligned part of the query, best hits on top, coloured by e-value.
Chart builders return Altair charts and are tested without Streamlit.
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from blastflow.model import JobRecord
from ui.hit_table import hits_per_query, neg_log10_evalue, overview_rows
from ui.results import JobResults, show_missing

__all__ = ["evalue_chart", "hits_per_query_chart", "identity_chart", "overview_chart", "render_plots"]

_TOP_QUERIES = 40


def hits_per_query_chart(frame: pd.DataFrame, top: int = _TOP_QUERIES) -> alt.Chart:
    """A bar per query (the `top` with most hits), longest first."""
    counts = hits_per_query(frame).head(top)
    return (
        alt.Chart(counts, title=f"Hits per query (top {min(top, len(counts))})")
        .mark_bar()
        .encode(
            x=alt.X("Hits:Q", title="Hits"),
            y=alt.Y("Query:N", sort="-x", title=None),
            tooltip=["Query:N", "Hits:Q"],
        )
        .properties(width="container", height=max(120, 18 * len(counts)))
    )


def evalue_chart(frame: pd.DataFrame) -> alt.Chart:
    """Distribution of -log10(e-value): higher is a better hit (zero e-values are capped at 300)."""
    data = pd.DataFrame({"-log10 E": [neg_log10_evalue(v) for v in frame["E-value"]]})
    return (
        alt.Chart(data, title="E-value distribution")
        .mark_bar()
        .encode(
            x=alt.X("-log10 E:Q", bin=alt.Bin(maxbins=40), title="−log10(e-value)"),
            y=alt.Y("count():Q", title="Hits"),
            tooltip=[alt.Tooltip("count():Q", title="Hits")],
        )
    )


def identity_chart(frame: pd.DataFrame) -> alt.Chart:
    """Distribution of percent identity."""
    return (
        alt.Chart(frame[["% identity"]], title="Identity distribution")
        .mark_bar()
        .encode(
            x=alt.X("% identity:Q", bin=alt.Bin(maxbins=40), title="% identity"),
            y=alt.Y("count():Q", title="Hits"),
            tooltip=[alt.Tooltip("count():Q", title="Hits")],
        )
    )


def overview_chart(frame: pd.DataFrame, query: str) -> alt.LayerChart:
    """Where each subject aligns along `query`: a bar from query start to end per hit, coloured by e-value."""
    rows = overview_rows(frame, query)
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
    frame = results.frame
    if frame is None:
        show_missing(job, results)
        return
    if frame.empty:
        st.info("No hits to plot.")
        return
    queries = hits_per_query(frame)["Query"].tolist()
    query = st.selectbox("Graphical overview of query", queries, key="overview_query")
    if query is not None:
        _show(overview_chart(frame, query))
    left, right = st.columns(2)
    with left:
        st.altair_chart(evalue_chart(frame), width="stretch")
    with right:
        st.altair_chart(identity_chart(frame), width="stretch")
    _show(hits_per_query_chart(frame))


def _show(chart: alt.Chart | alt.LayerChart) -> None:
    # Streamlit sizes a chart itself unless told its height: pass the one the builder chose for the data.
    st.altair_chart(chart, width="stretch", height=int(chart.height))

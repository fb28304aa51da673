"""The job list: newest first, filter by status, search by title or id; a click opens the job."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from blastflow.errors import StoreError
from blastflow.model import JobStatus
from blastflow.store.base import StateStore
from ui.view.header import status_badge
from ui.view.job_list import JOB_LIST_COLUMNS, filter_jobs, job_rows
from ui.view.refresh import LIST_REFRESH_S, list_refresh_interval

__all__ = ["LIST_LIMIT", "open_job", "render"]

LIST_LIMIT = 1_000  # newest jobs the list reads


def open_job(job_id: str) -> None:
    """Go to the job page: the job id goes in the URL, so the page can be bookmarked and shared."""
    st.query_params["job"] = job_id
    st.rerun(scope="app")


def render(store: StateStore) -> None:
    """The job list page."""
    st.title("BLAST jobs")
    left, right = st.columns([1, 2])
    with left:
        statuses = st.multiselect(
            "Status",
            list(JobStatus),
            format_func=lambda s: status_badge(s).label,
            key="status",
            bind="query-params",
            placeholder="All",
        )
    with right:
        search = st.text_input("Search", key="q", bind="query-params", placeholder="Title or job id")
    _live_list(store, tuple(statuses), search or "")


def _live_list(store: StateStore, statuses: tuple[JobStatus, ...], search: str) -> None:
    interval = st.session_state.get("list_refresh", LIST_REFRESH_S)

    @st.fragment(run_every=interval)
    def body() -> None:
        try:
            jobs = store.list_jobs(status=list(statuses) or None, limit=LIST_LIMIT)
        except StoreError as err:
            st.warning("The job store cannot be read right now; the list will try again.")
            st.code(str(err), language=None, wrap_lines=True)
            return
        shown = filter_jobs(jobs, statuses, search)
        wanted = list_refresh_interval(jobs)
        if wanted != interval:
            st.session_state["list_refresh"] = wanted
            st.rerun(scope="app")  # run_every is fixed per fragment: rebuild it with the new interval
        _table(shown, len(jobs) >= LIST_LIMIT)

    body()


def _table(jobs: list, truncated: bool) -> None:
    if not jobs:
        st.info("No jobs match. Start one with `blastflow run` or from the Prefect UI.")
        return
    rows = job_rows(jobs, datetime.now(UTC))
    caption = f"{len(rows):,} job{'s' if len(rows) != 1 else ''}, newest first. Click a row to open the job."
    if truncated:
        caption += f" Only the newest {LIST_LIMIT:,} jobs are read."
    st.caption(caption)
    event = st.dataframe(
        pd.DataFrame(rows, columns=list(JOB_LIST_COLUMNS)),
        hide_index=True,
        on_select="rerun",
        selection_mode="single-row",
        key="job_table",
        column_config={
            "Title": st.column_config.TextColumn(width="large"),
            # A live job's batches finished; empty once the job has ended.
            "Progress": st.column_config.ProgressColumn(format="%.0f%%", min_value=0, max_value=100, width="small"),
        },
    )
    selected = event.selection.rows if event is not None else []
    if selected:
        open_job(rows[selected[0]]["Job id"])

"""The job page: header, failure banner, and the Run / Descriptions / Plots / Downloads tabs, refreshed live.

Everything below the "All jobs" button is one fragment that re-reads the job
from the store on every run (never a cached snapshot: fix P1) and reruns on
its own while there is something to watch (fix N).
"""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from blastflow.errors import StoreError
from blastflow.model import JobRecord, is_job_id
from blastflow.store.base import StateStore
from ui.alignments import render_alignments
from ui.downloads import render_downloads
from ui.header import render_banner, render_header
from ui.plots import render_plots
from ui.provenance import render_provenance, render_rerun
from ui.results import load_results, render_descriptions
from ui.timeline import render_timeline
from ui.view.refresh import LIVE_REFRESH_S, TABS, decide_tab, opening_tab, refresh_interval

__all__ = ["TAB_KEY", "render"]

TAB_KEY = "tab"  # the widget key and the URL query parameter of the selected tab


def _back_to_list() -> None:
    st.query_params.pop("job", None)
    # The next job page opens on its own tab, not on this one's.
    st.query_params.pop(TAB_KEY, None)
    st.session_state.pop(TAB_KEY, None)


def render(store: StateStore, job_id: str, prefect_ui_url: str | None) -> None:
    """The page of one job."""
    st.button("All jobs", icon=":material/arrow_back:", type="tertiary", on_click=_back_to_list)
    if not is_job_id(job_id):
        st.error("The link does not name a job: a job id is a UUID such as 1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b.")
        return
    interval = st.session_state.get(f"refresh:{job_id}", LIVE_REFRESH_S)
    st.fragment(_live, run_every=interval)(store, job_id, interval, prefect_ui_url)


def _live(store: StateStore, job_id: str, interval: float | None, prefect_ui_url: str | None) -> None:
    try:
        job = store.get(job_id)
    except StoreError as err:
        st.warning("The job store cannot be read right now; the page will try again.")
        st.code(str(err), language=None, wrap_lines=True)
        return
    wanted = refresh_interval(job, datetime.now(UTC))
    st.session_state[f"refresh:{job_id}"] = wanted
    if wanted != interval:
        st.rerun(scope="app")  # run_every is fixed per fragment: rebuild it with the new interval (None stops it)
    if job is None:
        st.warning("There is no job with this id in the store (yet). The page will look again.")
        st.code(job_id, language=None)
        return
    render_header(job, prefect_ui_url)
    render_banner(job)
    render_provenance(job)
    render_rerun(job)
    _tabs(store, job)


def _tabs(store: StateStore, job: JobRecord) -> None:
    _choose_tab(job)
    run, descriptions, alignments, plots, downloads = st.tabs(list(TABS), key=TAB_KEY, on_change="rerun")
    _tab_to_url(st.session_state[TAB_KEY])
    # Tabs that track state: only the open one is built (and reads its data).
    if run.open is not False:
        with run:
            render_timeline(store, job)
    if descriptions.open or alignments.open or plots.open or downloads.open:
        results = load_results(job)
        if descriptions.open:
            with descriptions:
                render_descriptions(job, results)
        if alignments.open:
            with alignments:
                render_alignments(job, results)
        if plots.open:
            with plots:
                render_plots(job, results)
        if downloads.open:
            with downloads:
                render_downloads(job, results)


def _choose_tab(job: JobRecord) -> None:
    """The tab this run shows (fix L2): the one shown so far; on opening, the URL's; Descriptions once on completion."""
    current = st.session_state.get(TAB_KEY)
    if current not in TABS:  # the page opens (a load, a reload, a link)
        current = opening_tab(job.phase, st.query_params.get(TAB_KEY))
    seen_key = f"seen_phase:{job.job_id}"  # per job and browser session
    chosen = decide_tab(st.session_state.get(seen_key), job.phase, current).switch_to or current
    if st.session_state.get(TAB_KEY) != chosen:
        st.session_state[TAB_KEY] = chosen
    st.session_state[seen_key] = job.phase


def _tab_to_url(tab: str) -> None:
    """The URL always names the tab shown, Run too, so a reload or a shared link opens on it (fix L2).

    Streamlit's own binding drops the default tab from the URL; a reload then
    could not tell "the user chose Run" from "no tab asked for".
    """
    if st.query_params.get(TAB_KEY) != tab:
        st.query_params[TAB_KEY] = tab

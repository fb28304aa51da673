"""The job page header (title, status, times, backend, Prefect link) and the failure banner."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from blastflow.model import JobRecord
from ui.view.failure import failure_banner
from ui.view.header import job_header
from ui.view.markdown import escape_markdown

__all__ = ["render_banner", "render_header"]


def render_header(job: JobRecord, prefect_ui_url: str | None) -> None:
    """Title, status badge, phase message, started/elapsed/finished, backend and the Prefect run link."""
    header = job_header(job, datetime.now(UTC), prefect_ui_url)
    # A heading takes Markdown: the job's title goes in escaped, so it shows as the text it is.
    st.subheader(escape_markdown(header.title), anchor=False)
    badge, message = st.columns([1, 5], vertical_alignment="center")
    with badge:
        st.badge(header.badge.label, icon=header.badge.icon, color=header.badge.color)
    with message:
        st.text(header.phase_message)
    facts = st.columns(4)
    values = (
        ("Elapsed", header.elapsed),
        ("Started", header.started),
        ("Finished", header.finished),
        ("Backend", header.backend),
    )
    for column, (name, value) in zip(facts, values, strict=True):
        with column:
            st.caption(name)
            st.text(value or "–")
    details = " · ".join(
        part
        for part in (
            f"Job {job.job_id}",
            f"{header.program} against {header.database}" if header.program and header.database else header.program,
            header.queries,
            f"code {job.code_version}" if job.code_version else "",
            f"rerun of {job.rerun_of}" if job.rerun_of else "",
        )
        if part
    )
    st.text(details)
    if header.prefect_url:
        st.link_button("Open the flow run in Prefect", header.prefect_url, icon=":material/open_in_new:")


def render_banner(job: JobRecord) -> None:
    """The failure banner: our heading, then the authoritative error as text (fix D)."""
    banner = failure_banner(job)
    if banner is None:
        return
    with st.container(border=True, key="failure_banner"):
        st.error(banner.heading, icon=":material/error:")
        st.code(banner.text, language=None, wrap_lines=True)
        if banner.code and banner.code != banner.text:
            st.caption(f"Error code: {escape_markdown(banner.code)}")

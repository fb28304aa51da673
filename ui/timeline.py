"""The execution timeline: one step expander per step, with its state, counts and console."""

from __future__ import annotations

import streamlit as st

from blastflow.model import JobRecord
from blastflow.store.base import StateStore
from ui import logs
from ui.view.timeline import StepDisplay, StepView, timeline

__all__ = ["render_timeline"]


def render_timeline(store: StateStore, job: JobRecord) -> None:
    """Steps in order. Only the active or failed step is open by default (fix L); only ACTIVE spins (fix E)."""
    st.markdown("##### Execution steps")
    for step in timeline(job):
        state = job.steps[step.name]
        # Stateful, so a closed step's console is neither read nor sent. The label and icon change
        # only when the step's state does, and then the step falls back to its default (open or not).
        expander = st.expander(
            step.title,
            expanded=step.expanded,
            icon=step.icon,
            type="step",
            key=f"step_{step.name.value}",
            on_change="rerun",
        )
        with expander:
            # Always some content: a step without any ends Streamlit's connected timeline.
            if step.state is StepDisplay.PENDING:
                st.caption("Not started yet.")
                continue
            # One slot for the summary lines, so lines coming and going never shift the console below
            # (a shifted console is a new element, and would lose the user's scroll position).
            with st.container(key=f"summary_{step.name.value}", gap=None):
                _summary(step)
            if step.state is StepDisplay.ERROR and state.error and state.error != job.error:
                st.code(state.error, language=None, wrap_lines=True)  # the banner already shows the job's
            if expander.open is False:
                st.caption(f"{step.log_line_count:,} lines of output" if step.log_line_count else "Open to see output.")
                continue
            logs.render_console(store, job, step.name)


def _summary(step: StepView) -> None:
    """A running step with batches: a bar of the batches finished and ONE line beside it (counts, ETA). Any other
    step: its summary and its counts. Fix K: a stopped step never shows an ETA."""
    if step.progress is not None:
        st.progress(step.progress)  # no text on the bar: Streamlit renders that as Markdown, job text is text
        st.text(step.summary or step.counters)
        return
    for text in (step.summary, step.counters):
        if text:
            st.text(text)

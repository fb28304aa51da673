"""The provenance card (what produced these results) and the Run again button of a finished job."""

from __future__ import annotations

import os
import subprocess
import sys

import streamlit as st

from blastflow.confine import job_results_dir, served
from blastflow.errors import BlastflowError, InputError
from blastflow.model import JobRecord, new_job_id
from blastflow.provenance import PROVENANCE_FILE, card_text, read_provenance
from blastflow.rerun import rerun_parameters
from blastflow.settings import get_settings

__all__ = ["render_provenance", "render_rerun", "start_rerun_process"]


def render_provenance(job: JobRecord) -> None:
    """A collapsed card under the header once the results exist; the whole record downloadable as JSON."""
    location = job.results_location
    if not location or "://" in location:
        return
    try:
        path = served(job_results_dir(location, job.job_id), PROVENANCE_FILE)
    except InputError:
        return  # not the job's own folder: the Descriptions tab says why
    if not path.is_file():
        return
    try:
        provenance = read_provenance(path)
    except (OSError, ValueError) as err:
        st.caption(f"The provenance record {path} cannot be read: {type(err).__name__}")
        return
    with st.expander(f"Provenance: {provenance.program} {provenance.blast_version}", icon=":material/fingerprint:"):
        st.code(card_text(provenance), language=None, wrap_lines=True)
        st.download_button(
            "provenance.json", data=lambda: path.read_bytes(), file_name=f"blastflow-{job.job_id[:8]}-provenance.json",
            mime="application/json", icon=":material/download:", on_click="ignore",
        )


def render_rerun(job: JobRecord) -> None:
    """Run again: the same search as a new job linked to this one (a finished job only)."""
    if not job.is_terminal:
        return
    started = st.session_state.get(f"rerun:{job.job_id}")
    if started:
        st.success(f"Started the same search again as job {started}.", icon=":material/replay:")
        st.link_button("Open the new job", f"?job={started}", icon=":material/open_in_new:")
        return
    if st.button("Run again", icon=":material/replay:", key=f"rerun_button:{job.job_id}"):
        try:
            new_id = start_rerun_process(job)
        except BlastflowError as err:
            st.error("This search cannot be run again.")
            st.code(str(err), language=None, wrap_lines=True)
            return
        st.session_state[f"rerun:{job.job_id}"] = new_id
        st.rerun(scope="app")


def start_rerun_process(job: JobRecord) -> str:
    """Check the rerun can start, then start `blastflow rerun` on its own: the page never runs a search itself.

    Returns the new job's id. Raises `InputError` (a `BlastflowError`) when the search cannot be run again.
    """
    settings = get_settings()
    new_id = new_job_id()
    rerun_parameters(job, settings.job_dir(job.job_id), settings.data_dir / "inputs", new_id)  # fails early, here
    logs = settings.data_dir / "reruns"
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / f"{new_id}.log").open("wb") as log:
        subprocess.Popen(  # an argument list: no shell
            [sys.executable, "-m", "ops.cli", "rerun", job.job_id, "--job-id", new_id],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy(),
            start_new_session=True,  # it outlives this page's script run
        )
    return new_id

"""The Downloads tab: every output format of the search, each made only when its button is clicked.

Every button's data is a callable (`blastflow.formats.formatted`), so opening the
tab renders nothing: a format is made by blast_formatter from the stored archive
on the first click and cached in the results folder. A format known not to work
(its file missing or damaged, or its last rendering failed) shows the error as
text instead of a button.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from blastflow.confine import served
from blastflow.formats import FORMATS, formats_for, formatted, known_problem
from blastflow.model import JobRecord, Phase
from blastflow.provenance import NO_HITS_FILE
from ui.results import JobResults, show_missing

__all__ = ["render_downloads"]

_LABELS = {
    "tsv": "Hits (TSV)",
    "csv": "Hits (CSV)",
    "json": "Hits (JSON)",
    "pairwise": "Pairwise alignments (outfmt 0)",
    "xml": "BLAST XML (outfmt 5)",
    "tabular-comments": "Tabular with comments (outfmt 7)",
    "sam": "SAM (outfmt 17)",
    "archive": "BLAST archive (ASN.1, outfmt 11)",
}


def render_downloads(job: JobRecord, results: JobResults) -> None:
    """A download button and a caption per format this search's program has, and the queries without hits."""
    if results.hits_path is None or results.problem or results.directory is None:
        show_missing(job, results)
        if job.phase is not Phase.COMPLETED and job.program:
            will = ", ".join(_LABELS[name] for name in formats_for(job.program))
            st.caption(f"A completed {job.program} search has: {will}, and the list of queries without hits.")
        return
    directory = results.directory
    stem = f"blastflow-{job.job_id[:8]}"
    for name in formats_for(job.program):
        _format_download(directory, name, job.program or None, stem)
    no_hits = served(directory, NO_HITS_FILE)
    if no_hits.is_file():
        st.download_button(
            "Queries without hits (one id per line)",
            data=lambda: no_hits.read_bytes(),
            file_name=f"{stem}-{NO_HITS_FILE}",
            mime="text/plain",
            icon=":material/download:",
            on_click="ignore",
        )
    st.text(f"Results directory: {results.location}")


def _format_download(directory: Path, name: str, program: str | None, stem: str) -> None:
    spec = FORMATS[name]
    problem = known_problem(directory, name)
    if problem is not None:
        st.warning(f"{_LABELS[name]} cannot be made:")
        st.code(problem, language=None, wrap_lines=True)
        return
    st.download_button(
        _LABELS[name],
        data=lambda: formatted(directory, name, program=program).read_bytes(),
        file_name=f"{stem}-{spec.file_name}",
        mime=spec.mime,
        icon=":material/download:",
        on_click="ignore",
        key=f"download:{name}",
    )
    st.caption(spec.description)

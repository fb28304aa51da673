"""The Alignments tab: one query's pairwise alignments, a page of hits at a time, as BLAST-style text.

Each run reads the XML's cached query index and one query's bytes only (see
`blastflow.alignments`), so a query with hundreds of hits opens as fast as one
with three. The Descriptions table opens a hit here by setting `ALIGN_QUERY_KEY`
and `ALIGN_SUBJECT_KEY` in the session and switching the tab.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from blastflow.alignments import QueryAlignments, SubjectHit, alignment_index, format_hsp, query_alignments
from blastflow.errors import BlastflowError
from blastflow.formats import formatted
from blastflow.model import JobRecord, Phase
from blastflow.sanitise import sanitise
from ui.results import JobResults, show_missing

__all__ = ["ALIGN_PAGE_KEY", "ALIGN_QUERY_KEY", "ALIGN_SUBJECT_KEY", "HITS_PER_PAGE", "render_alignments"]

ALIGN_QUERY_KEY = "align_query"  # the query shown (a selectbox; the Descriptions table may set it)
ALIGN_SUBJECT_KEY = "align_subject"  # show only this subject's hit (set from a Descriptions row; None: all)
ALIGN_PAGE_KEY = "align_page"  # 1-based page of hits
HITS_PER_PAGE = 10


def render_alignments(job: JobRecord, results: JobResults) -> None:
    """The tab: pick a query (queries with hits, in result order), then a page of its hits, each HSP as text."""
    directory = _local_results(job, results)
    if directory is None:
        show_missing(job, results)
        return
    try:
        xml = formatted(directory, "xml", program=job.program or None)
        queries = alignment_index(xml).with_hits
    except (BlastflowError, OSError) as err:  # a folder we cannot write to or read: say so, never crash
        _show_error(err)
        return
    if not queries:
        st.info("No query has hits: there are no alignments to show.")
        return
    query = _choose_query(queries)
    subject = st.session_state.get(ALIGN_SUBJECT_KEY)
    _show_page(xml, query, subject)


def _local_results(job: JobRecord, results: JobResults) -> Path | None:
    """The results directory when the job completed and its results are on this machine."""
    if job.phase is not Phase.COMPLETED or results.problem:
        return None
    return results.directory


def _show_error(err: Exception) -> None:
    st.error("The alignments cannot be shown.")
    st.code(sanitise(str(err)), language=None, wrap_lines=True)


def _choose_query(queries: list[str]) -> str:
    if st.session_state.get(ALIGN_QUERY_KEY) not in queries:  # none yet, or one without hits: the first query
        st.session_state[ALIGN_QUERY_KEY] = queries[0]
        st.session_state.pop(ALIGN_SUBJECT_KEY, None)
    st.selectbox(  # the ids stay as BLAST wrote them (they select the XML's hits); only their labels are sanitised
        f"Query ({len(queries):,} with hits)", queries, key=ALIGN_QUERY_KEY, on_change=_forget_subject_and_page,
        format_func=sanitise,
    )
    return st.session_state[ALIGN_QUERY_KEY]


def _forget_subject_and_page() -> None:
    """Another query chosen, or "all hits" asked for: the first page of all the query's hits."""
    st.session_state.pop(ALIGN_SUBJECT_KEY, None)
    st.session_state[ALIGN_PAGE_KEY] = 1


def _show_page(xml: Path, query: str, subject: str | None) -> None:
    if subject:
        st.text(sanitise(f"Only the hit of subject {subject}"))
        st.button("Show all hits of this query", key="align_all_hits", on_click=_forget_subject_and_page)
    page_number = max(1, int(st.session_state.get(ALIGN_PAGE_KEY) or 1))
    try:
        page = query_alignments(xml, query, (page_number - 1) * HITS_PER_PAGE, HITS_PER_PAGE, subject=subject or None)
        if not page.hits and page_number > 1:  # past the end (fewer hits than before): back to the first page
            st.session_state[ALIGN_PAGE_KEY] = page_number = 1
            page = query_alignments(xml, query, 0, HITS_PER_PAGE, subject=subject or None)
    except (BlastflowError, OSError) as err:
        _show_error(err)
        return
    if not page.hits:
        st.info("This query has no hit of that subject.")
        return
    _page_control(page, page_number)
    for rank, hit in enumerate(page.hits, start=page.offset + 1):
        _show_hit(rank, hit, page.program)


def _page_control(page: QueryAlignments, page_number: int) -> None:
    pages = -(-page.total // HITS_PER_PAGE)
    last = page.offset + len(page.hits)
    hits = f"hits {page.offset + 1}-{last} of {page.total:,}"
    st.text(f"Query {sanitise(page.query_def)} · length {page.query_len:,} · {hits}")
    if pages > 1:
        st.session_state[ALIGN_PAGE_KEY] = min(page_number, pages)
        st.number_input(f"Page (of {pages})", min_value=1, max_value=pages, step=1, key=ALIGN_PAGE_KEY)


def _show_hit(rank: int, hit: SubjectHit, program: str) -> None:
    with st.container(border=True):
        st.text(sanitise(f"{rank}. {hit.subject_id} {hit.description}\nLength={hit.length:,}"))  # FASTA header text
        for hsp in hit.hsps:
            st.code(format_hsp(hsp, program), language=None)

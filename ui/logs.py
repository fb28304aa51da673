"""One live console block per step, fed from the log table and following its tail.

The page keeps, per job and step, the newest `LOG_TAIL_LINES` lines and
the store's cursor in the session; each refresh reads only the lines after the
cursor (fix H: one block, from the log table, never the row's snapshot too).
"""

from __future__ import annotations

import streamlit as st

from blastflow.model import JobRecord, StepName
from blastflow.sanitise import sanitise
from blastflow.store.base import LogLine, StateStore
from blastflow.store.cursor import encode_cursor
from ui.view.console import LOG_TAIL_LINES, LogTail, console_view, extend_tail

__all__ = ["CONSOLE_MAX_HEIGHT", "read_tail", "render_console"]

CONSOLE_MAX_HEIGHT = 420  # pixels; the block scrolls inside and follows the tail
_LINE_HEIGHT = 21
_PAGE = 5_000  # lines per read while catching up


def read_tail(store: StateStore, job_id: str, step: StepName, tail: LogTail | None, line_count: int = 0) -> LogTail:
    """`tail` brought up to date with the store: only lines after its cursor are read.

    The first read of a step starts near its end: `line_count` (the step's
    `log_line_count` on the row) says where, so a 100,000-line log costs one
    read of the newest lines. If the count ran past the log, it reads from the
    start instead, keeping only the newest lines on the way.

    Args:
        store: the state store.
        job_id: the job.
        step: the step whose log to read.
        tail: what this page already holds (None: nothing yet).
        line_count: how many lines the row says the step has logged.
    """
    if tail is not None:
        return _catch_up(store, job_id, step, tail, clean=True)
    start = max(0, line_count - LOG_TAIL_LINES)
    first = LogTail(cursor=encode_cursor({step: start})) if start else LogTail()
    tail = _catch_up(store, job_id, step, first, clean=False)
    if start and not tail.lines:
        tail = _catch_up(store, job_id, step, LogTail(), clean=False)
    # Sanitise what is kept, not every line paged past (the store sanitised each on write, too).
    return LogTail(tuple(sanitise(text) for text in tail.lines), tail.seqs, tail.cursor)


def _catch_up(store: StateStore, job_id: str, step: StepName, tail: LogTail, *, clean: bool) -> LogTail:
    while True:
        page = store.read_logs(job_id, step, after=tail.cursor, limit=_PAGE)
        lines = [_clean(line) for line in page.lines] if clean else page.lines
        tail = extend_tail(tail, lines, page.cursor)
        if len(page.lines) < _PAGE:
            return tail


def _clean(line: LogLine) -> LogLine:
    return LogLine(line.step, line.seq, sanitise(line.text))


def render_console(store: StateStore, job: JobRecord, step: StepName) -> None:
    """The step's console: the newest lines as text in a block that follows the tail (fix M)."""
    key = f"log:{job.job_id}:{step.value}"
    tail = read_tail(store, job.job_id, step, st.session_state.get(key), job.steps[step].log_line_count)
    st.session_state[key] = tail
    console = console_view(tail, job.steps[step].last_output)
    if console.source == "none":
        st.caption("No output yet.")
        return
    shown = len(tail.lines) if console.source == "log" else console.text.count("\n") + 1
    # Always one caption, so the console below it stays the same element as lines arrive.
    if console.hidden:
        st.caption(f"{console.hidden:,} earlier lines not shown; the newest {shown:,} follow.")
    elif console.source == "snapshot":
        st.caption("The last lines the job recorded for this step.")
    else:
        st.caption(f"{shown:,} line{'s' if shown != 1 else ''}.")
    lines = console.text.count("\n") + 1
    height = max(80, min(CONSOLE_MAX_HEIGHT, 40 + lines * _LINE_HEIGHT))
    # autoscroll keeps a fixed-height container at the bottom while the user is there (fix M).
    with st.container(height=height, autoscroll=True, key=f"console_{step.value}"):
        st.code(console.text, language=None)

"""A step's console (fix H): the bounded log tail, never a line twice, one block from the log or the snapshot."""

from __future__ import annotations

from blastflow.model import StepName
from blastflow.store.base import LogLine
from ui.view.console import LogTail, console_view, extend_tail


def _lines(step: StepName, seqs: range) -> list[LogLine]:
    return [LogLine(step, s, f"line {s}") for s in seqs]


def test_log_tail_keeps_the_newest_lines_and_counts_the_rest() -> None:
    tail = extend_tail(LogTail(), _lines(StepName.RUN, range(1, 101)), "run:100", limit=30)
    assert tail.lines[0] == "line 71" and tail.lines[-1] == "line 100" and len(tail.lines) == 30
    assert tail.hidden == 70 and tail.cursor == "run:100"
    tail = extend_tail(tail, _lines(StepName.RUN, range(101, 106)), "run:105", limit=30)
    assert tail.lines[0] == "line 76" and tail.lines[-1] == "line 105" and tail.hidden == 75


def test_log_tail_never_holds_a_line_twice() -> None:
    tail = extend_tail(LogTail(), _lines(StepName.RUN, range(1, 6)), "run:5")
    again = extend_tail(tail, _lines(StepName.RUN, range(3, 8)), "run:7")
    assert again.lines == tuple(f"line {i}" for i in range(1, 8))
    unchanged = extend_tail(again, [], None)
    assert unchanged == again


def test_log_tail_started_mid_log_counts_the_lines_before_it() -> None:
    tail = extend_tail(LogTail(cursor="run:98000"), _lines(StepName.RUN, range(98_001, 100_001)), "run:100000")
    assert tail.hidden == 98_000 and len(tail.lines) == 2_000


def test_console_is_one_block_from_the_log_table_or_else_the_snapshot_never_both() -> None:
    tail = extend_tail(LogTail(), _lines(StepName.SUBMIT, range(1, 4)), "submit:3")
    from_log = console_view(tail, last_output="line 2\nline 3")
    assert from_log.source == "log" and from_log.text == "line 1\nline 2\nline 3"
    assert from_log.text.count("line 3") == 1
    backfill = console_view(LogTail(), last_output="pod-1: done")
    assert backfill.source == "snapshot" and backfill.text == "pod-1: done"
    assert console_view(LogTail(), "  ").source == "none"

"""A step's console: the bounded tail of its log the page holds, and the one block that shows it (fix H)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from blastflow.store.base import LogLine

__all__ = ["LOG_TAIL_LINES", "ConsoleView", "LogTail", "console_view", "extend_tail"]

LOG_TAIL_LINES = 2_000  # lines of one step's log the page renders at most


@dataclass(frozen=True, slots=True)
class LogTail:
    """The bounded tail of one step's log the page holds between refreshes.

    `cursor` is the store's cursor after the last line read, so a refresh reads
    only newer lines; `seqs` are the sequence numbers of the lines kept.
    """

    lines: tuple[str, ...] = ()
    seqs: tuple[int, ...] = ()
    cursor: str | None = None

    @property
    def last_seq(self) -> int:
        return self.seqs[-1] if self.seqs else 0

    @property
    def hidden(self) -> int:
        """How many earlier lines exist but are not kept (sequence numbers start at 1)."""
        return self.seqs[0] - 1 if self.seqs else 0


def extend_tail(tail: LogTail, new: Sequence[LogLine], cursor: str | None, limit: int = LOG_TAIL_LINES) -> LogTail:
    """The tail after `new` lines arrived: at most `limit` lines, the newest ones.

    Lines at or below the last sequence already held are dropped, so a line is
    never shown twice even if a page of lines is read again.

    Example:
        >>> from blastflow.model import StepName
        >>> from blastflow.store.base import LogLine
        >>> t = extend_tail(LogTail(), [LogLine(StepName.RUN, i, f"l{i}") for i in (1, 2, 3)], "c3", limit=2)
        >>> t.lines, t.hidden
        (('l2', 'l3'), 1)
    """
    fresh = [line for line in new if line.seq > tail.last_seq]
    if not fresh:
        return LogTail(tail.lines, tail.seqs, cursor or tail.cursor)
    lines = (tail.lines + tuple(line.text for line in fresh))[-limit:]
    seqs = (tail.seqs + tuple(line.seq for line in fresh))[-limit:]
    return LogTail(lines, seqs, cursor or tail.cursor)


@dataclass(frozen=True, slots=True)
class ConsoleView:
    """The one console block of a step: text, and how many earlier lines it leaves out."""

    text: str
    hidden: int
    source: str  # "log" (the log table), "snapshot" (the row's bounded tail) or "none"


def console_view(tail: LogTail, last_output: str) -> ConsoleView:
    """The console block of a step: the log table's lines, or the row's tail when the table has none.

    Never both (fix H): the row's `last_output` is a debounced sample of the
    same stream, so showing it beside the log lines would repeat them.

    Example:
        >>> console_view(LogTail(("a", "b"), (1, 2), "c"), "b").text
        'a\\nb'
        >>> console_view(LogTail(), "backfilled pod log").source
        'snapshot'
    """
    if tail.lines:
        return ConsoleView("\n".join(tail.lines), tail.hidden, "log")
    if last_output.strip():
        return ConsoleView(last_output, 0, "snapshot")
    return ConsoleView("", 0, "none")

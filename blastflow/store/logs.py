"""Rules both stores share for job logs and listings: argument checks, the store gate, paging by cursor."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from blastflow.errors import InputError
from blastflow.model import STEP_ORDER, JobStatus, StepName
from blastflow.sanitise import sanitise
from blastflow.store.base import LogLine, LogPage
from blastflow.store.cursor import decode_cursor, encode_cursor
from blastflow.store.limits import check_log_line

__all__ = ["ReadPlan", "clean_lines", "page_of_lines", "parse_limit", "parse_statuses", "parse_step", "read_plan"]


def parse_step(step: object) -> StepName:
    """`step` as a StepName, or InputError naming the valid steps.

    Example:
        >>> parse_step("submit")
        <StepName.SUBMIT: 'submit'>
    """
    try:
        return StepName(step)
    except ValueError:
        valid = ", ".join(s.value for s in STEP_ORDER)
        raise InputError(f"unknown step {sanitise(str(step))[:40]!r}; steps are: {valid}") from None


def parse_statuses(status: JobStatus | str | Sequence[JobStatus | str] | None) -> list[JobStatus] | None:
    """The statuses to filter by (None: all), or InputError naming the valid ones."""
    if status is None:
        return None
    wanted = [status] if isinstance(status, str) else list(status)
    try:
        return [JobStatus(s) for s in wanted]
    except ValueError:
        valid = ", ".join(s.value for s in JobStatus)
        raise InputError(f"unknown job status in {wanted!r}; statuses are: {valid}") from None


def parse_limit(limit: object, what: str) -> int:
    """A positive integer limit, or InputError."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InputError(f"{what} must be a positive whole number, not {limit!r}")
    return limit


def clean_lines(lines: Sequence[str]) -> list[str]:
    """The store gate: every line sanitised (again: idempotent) and checked, before anything is written.

    Raises:
        InputError: `lines` is a single string, or holds something that is not text.
        StoreLimitError: a line is too long to store; nothing of the call is written.

    Example:
        >>> clean_lines(["\\x1b[31merror\\x1b[0m AccountKey=abc123=="])
        ['error AccountKey=***']
    """
    if isinstance(lines, str):
        raise InputError("append_logs takes a list of lines, not one string; wrap it: [line]")
    texts: list[str] = []
    for position, line in enumerate(lines, start=1):
        if not isinstance(line, str):
            raise InputError(f"log line {position} is {type(line).__name__}, not text")
        text = sanitise(line)
        check_log_line(text, position)
        texts.append(text)
    return texts


@dataclass(frozen=True)
class ReadPlan:
    """What a `read_logs` call reads: each step with the last sequence already seen, and a line budget."""

    steps: list[tuple[StepName, int]]
    positions: dict[StepName, int]
    limit: int | None
    after: str | None


def read_plan(step: StepName | str | None, after: str | None, limit: int | None) -> ReadPlan:
    """Check `read_logs` arguments and decide which steps to read from where.

    Example:
        >>> read_plan("submit", "prepare:3,submit:5", 10).steps
        [(<StepName.SUBMIT: 'submit'>, 5)]
    """
    positions = decode_cursor(after)
    steps = [parse_step(step)] if step is not None else list(STEP_ORDER)
    if limit is not None:
        limit = parse_limit(limit, "limit")
    return ReadPlan([(s, positions.get(s, 0)) for s in steps], positions, limit, after)


def page_of_lines(plan: ReadPlan, found: Sequence[tuple[StepName, Sequence[tuple[int, str]]]]) -> LogPage:
    """The page for lines read per step (in order), cut to the plan's limit, with the cursor after the last.

    The cursor moves only for lines returned, so the next call resumes exactly after them.
    """
    lines: list[LogLine] = []
    positions = dict(plan.positions)
    for step, rows in found:
        for seq, text in rows:
            if plan.limit is not None and len(lines) >= plan.limit:
                break
            lines.append(LogLine(step, seq, text))
            positions[step] = seq
    cursor = encode_cursor(positions) if lines else plan.after
    return LogPage(lines, cursor)

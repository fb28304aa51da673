"""Log arguments, the store gate and paging, shared by both stores (pure)."""

from __future__ import annotations

import pytest

from blastflow.errors import InputError, StoreLimitError
from blastflow.model import JobStatus, StepName
from blastflow.sanitise import MASK
from blastflow.store.logs import clean_lines, page_of_lines, parse_statuses, read_plan


def test_the_gate_sanitises_every_line_and_is_idempotent() -> None:
    lines = ["\x1b[32mok\x1b[0m", "Authorization: Bearer abc.def.ghi", "ACGTNNNNACGT"]
    cleaned = clean_lines(lines)
    assert cleaned == ["ok", f"Authorization: {MASK}", "ACGTNNNNACGT"]
    assert clean_lines(cleaned) == cleaned


def test_the_gate_checks_every_line_before_returning_any() -> None:
    with pytest.raises(StoreLimitError, match="log line 3"):
        clean_lines(["a", "b", "c" * 31_000])
    with pytest.raises(InputError, match="log line 2 is int"):
        clean_lines(["a", 5])


def test_statuses_accept_one_or_many() -> None:
    assert parse_statuses(None) is None
    assert parse_statuses("failed") == [JobStatus.FAILED]
    assert parse_statuses([JobStatus.RUNNING, "queued"]) == [JobStatus.RUNNING, JobStatus.QUEUED]


def test_a_page_stops_at_the_limit_and_its_cursor_after_the_last_line() -> None:
    plan = read_plan(None, "prepare:2", 3)
    page = page_of_lines(plan, [(StepName.PREPARE, [(3, "p3")]), (StepName.SUBMIT, [(1, "s1"), (2, "s2"), (3, "s3")])])
    assert [(line.step, line.seq) for line in page.lines] == [
        (StepName.PREPARE, 3),
        (StepName.SUBMIT, 1),
        (StepName.SUBMIT, 2),
    ]
    assert page.cursor == "prepare:3,submit:2"


def test_an_empty_page_keeps_the_cursor_it_was_given() -> None:
    assert page_of_lines(read_plan(None, "run:4", None), []).cursor == "run:4"
    assert page_of_lines(read_plan(None, None, None), []).cursor is None

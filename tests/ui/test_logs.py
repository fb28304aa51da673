"""Reading a step's log tail from a real SQLite store: start near the end, then only what is new."""

from __future__ import annotations

from typing import Any

from blastflow.merge import JobUpdate, StepUpdate
from blastflow.model import Phase, StepName, new_job_id
from blastflow.store.base import LogPage
from ui import logs
from ui.view.console import LOG_TAIL_LINES, console_view


class CountingStore:
    """A double around the real store that only counts the log lines it hands out."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.lines_read = 0

    def read_logs(
        self, job_id: str, step: StepName | None = None, after: str | None = None, limit: int | None = None
    ) -> LogPage:
        page = self.store.read_logs(job_id, step, after, limit)
        self.lines_read += len(page.lines)
        return page


def _job_with_lines(seeded: Any, count: int) -> str:
    job_id = new_job_id()
    seeded.store.update(job_id, JobUpdate(job_id=job_id, phase=Phase.RUNNING))
    seeded.log(job_id, StepName.RUN, [f"line {n}" for n in range(1, count + 1)])
    return job_id


def test_first_read_starts_near_the_end_and_later_reads_take_only_new_lines(seeded: Any) -> None:
    job_id = _job_with_lines(seeded, 20_000)
    store = CountingStore(seeded.store)
    count = seeded.store.get(job_id).steps[StepName.RUN].log_line_count
    tail = logs.read_tail(store, job_id, StepName.RUN, None, count)
    assert store.lines_read == LOG_TAIL_LINES
    assert tail.lines[0] == "line 18001" and tail.lines[-1] == "line 20000" and tail.hidden == 18_000
    seeded.store.append_logs(job_id, StepName.RUN, ["\x1b[31mnew\x1b[0m AccountKey=abc123==;"])
    tail = logs.read_tail(store, job_id, StepName.RUN, tail, count + 1)
    assert store.lines_read == LOG_TAIL_LINES + 1
    assert tail.lines[-1] == "new AccountKey=***;" and len(tail.lines) == LOG_TAIL_LINES
    assert logs.read_tail(store, job_id, StepName.RUN, tail, count + 1) == tail


def test_a_row_count_past_the_log_falls_back_to_reading_from_the_start(seeded: Any) -> None:
    job_id = new_job_id()
    seeded.store.update(
        job_id, JobUpdate(job_id=job_id, phase=Phase.RUNNING, steps={StepName.RUN: StepUpdate(log_lines_added=9_000)})
    )
    seeded.store.append_logs(job_id, StepName.RUN, ["only", "three", "lines"])
    count = seeded.store.get(job_id).steps[StepName.RUN].log_line_count
    tail = logs.read_tail(seeded.store, job_id, StepName.RUN, None, count)
    assert tail.lines == ("only", "three", "lines") and tail.hidden == 0


def test_a_log_longer_than_the_row_says_is_still_bounded(seeded: Any) -> None:
    job_id = new_job_id()
    seeded.store.update(job_id, JobUpdate(job_id=job_id, phase=Phase.RUNNING))
    seeded.store.append_logs(job_id, StepName.SUBMIT, [f"l{n}" for n in range(1, 12_001)])  # row never told
    tail = logs.read_tail(seeded.store, job_id, StepName.SUBMIT, None, 0)
    assert len(tail.lines) == LOG_TAIL_LINES and tail.lines[-1] == "l12000" and tail.hidden == 10_000


def test_no_lines_yet(seeded: Any) -> None:
    job_id = new_job_id()
    seeded.store.update(job_id, JobUpdate(job_id=job_id, phase=Phase.PREPARING))
    tail = logs.read_tail(seeded.store, job_id, StepName.PREPARE, None, 0)
    assert tail.lines == () and console_view(tail, "").source == "none"
    seeded.store.append_logs(job_id, StepName.PREPARE, ["first"])
    assert logs.read_tail(seeded.store, job_id, StepName.PREPARE, tail, 1).lines == ("first",)

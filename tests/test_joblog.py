"""The step log sink: batched table writes, debounced row tail, nothing lost while the store is down."""

from __future__ import annotations

from blastflow.errors import StoreUnavailable
from blastflow.joblog import StepLog
from blastflow.merge import TAIL_MAX_LINES
from blastflow.model import StepName

JOB = "0b6c7a2e-1d3f-4a5b-9c8d-7e6f5a4b3c2d"


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_table_writes_are_batched_to_the_interval(sqlite_store) -> None:
    clock = Clock()
    log = StepLog(sqlite_store, JOB, StepName.SUBMIT, flush_interval_s=1.0, row_interval_s=5.0, clock=clock)
    log.add("a")  # first line goes at once
    for i in range(50):
        clock.t += 0.01
        log.add(f"line {i}")
    stored = sqlite_store.read_logs(JOB, StepName.SUBMIT).lines
    assert [line.text for line in stored] == ["a"]  # the rest waits for the interval
    clock.t += 1.0
    log.tick()
    assert len(sqlite_store.read_logs(JOB, StepName.SUBMIT).lines) == 51


def test_row_tail_is_bounded_but_counts_every_line(sqlite_store) -> None:
    clock = Clock()
    log = StepLog(sqlite_store, JOB, StepName.RUN, clock=clock)
    for i in range(500):
        log.add(f"line {i}")
    log.close()
    step = sqlite_store.get(JOB).steps[StepName.RUN]
    assert step.log_line_count == 500
    assert step.last_output.splitlines()[-1] == "line 499"
    assert len(step.last_output.splitlines()) <= TAIL_MAX_LINES


class FlakyStore:
    """Wraps a real store; fails every call while `down` is set, like an unreachable endpoint."""

    def __init__(self, inner) -> None:
        self.inner, self.down = inner, False

    def append_logs(self, *args, **kwargs):
        if self.down:
            raise StoreUnavailable("endpoint down")
        return self.inner.append_logs(*args, **kwargs)

    def update(self, *args, **kwargs):
        if self.down:
            raise StoreUnavailable("endpoint down")
        return self.inner.update(*args, **kwargs)


def test_lines_survive_a_store_outage(sqlite_store) -> None:
    clock = Clock()
    flaky = FlakyStore(sqlite_store)
    log = StepLog(flaky, JOB, StepName.SUBMIT, clock=clock)
    log.add("before")
    flaky.down = True
    for i in range(20):
        clock.t += 0.5
        log.add(f"during {i}")
    flaky.down = False
    clock.t += 30
    log.close()
    texts = [line.text for line in sqlite_store.read_logs(JOB, StepName.SUBMIT).lines]
    assert texts == ["before", *(f"during {i}" for i in range(20))]
    assert sqlite_store.get(JOB).steps[StepName.SUBMIT].log_line_count == 21

"""The step log sink: batched table writes, debounced row tail, nothing lost while the store is down."""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

from blastflow.errors import StoreUnavailable
from blastflow.joblog import StepLog
from blastflow.merge import TAIL_MAX_LINES, JobUpdate
from blastflow.model import Phase, StepName
from blastflow.results import Results
from blastflow.search import Batch, PreparedRun
from blastflow.settings import Settings
from blastflow.steps import StepContext
from blastflow.steps.finalize import POD_LOGS_CAPTURED, finalize
from blastflow.store.limits import MAX_LOG_LINE_UNITS, encoded_line_units
from tests.doubles.scripted_backend import FakeClock, ScriptedBackend

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


class Lines(logging.Handler):
    """What the run logger (Prefect's, in a flow) was given."""

    def __init__(self) -> None:
        super().__init__()
        self.said: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.said.append(record.getMessage())


def test_every_line_is_sanitised_and_cut_once_where_it_enters_the_step_log(sqlite_store) -> None:
    """No single line can fail a step: a 100,000-character line is stored cut, with the note; every sink
    (the run logger, the table, the row's tail) gets the same sanitised text, even from a caller that forgot."""
    logger = logging.getLogger("test_joblog.sinks")
    logger.addHandler(handler := Lines())
    logger.setLevel(logging.INFO)
    logger.propagate = False
    log = StepLog(sqlite_store, JOB, StepName.RUN, logger=logger, clock=Clock())
    log.add("G" * 100_000)
    log.add("\x1b[31mretrying\x1b[0m with AccountKey=c2VjcmV0a2V5c2VjcmV0a2V5==;")
    log.close()
    stored = [line.text for line in sqlite_store.read_logs(JOB, StepName.RUN).lines]
    assert stored[0].startswith("G" * 29_000) and stored[0].endswith(" characters cut]")
    assert encoded_line_units(stored[0]) <= MAX_LOG_LINE_UNITS
    assert stored[1] == "retrying with AccountKey=***;"
    assert handler.said == stored
    assert sqlite_store.get(JOB).steps[StepName.RUN].last_output.endswith("retrying with AccountKey=***;")


def test_a_pod_log_line_of_100000_characters_does_not_fail_finalize(sqlite_store, tmp_path: Path, monkeypatch) -> None:
    """It used to raise StoreLimitError in finalize (not transient: no retry) and fail a finished search."""
    run = PreparedRun(job_id=JOB, backend="scripted", program="blastp", workdir=tmp_path, config_path=tmp_path / "cfg",
                      database="db", database_label="db", molecule="prot",
                      batches=[Batch(index=0, path=tmp_path / "batch_000.fa", sequences=1, residues=100)])  # fmt: skip
    long_line = "P" * 100_000
    backend = ScriptedBackend(pod_logs=[{"batch_000": f"start\n{long_line}\nrun end 000 0\n"}],
                              archives=[tmp_path / "batch_000.asn"])  # fmt: skip

    def merge(found: list[Path], dest: Path, *, program: str | None = None, blastdb: Path | None = None) -> Results:
        return Results(hits_path=dest / "hits.tsv", archive_path=None, hit_count=0)

    monkeypatch.setattr(importlib.import_module("blastflow.steps.finalize"), "merge_results", merge)
    sqlite_store.update(JOB, JobUpdate(job_id=JOB, phase=Phase.FINALIZING))
    clock = FakeClock()
    ctx = StepContext(job_id=JOB, store=sqlite_store, backend=backend, settings=Settings(data_dir=tmp_path),
                      sleep=clock.sleep, clock=clock)  # fmt: skip

    assert finalize(ctx, run).pod_logs == POD_LOGS_CAPTURED
    assert sqlite_store.get(JOB).phase is Phase.COMPLETED
    run_lines = [line.text for line in sqlite_store.read_logs(JOB, StepName.RUN).lines]
    assert run_lines[0] == "── batch_000 ──" and run_lines[1] == "start" and run_lines[-1] == "run end 000 0"
    assert run_lines[2].startswith("P" * 29_000)
    assert run_lines[2].endswith(f" [… {100_000 - run_lines[2].count('P'):,} characters cut]")

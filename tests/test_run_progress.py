"""What `blastflow run` says while its search runs: the progress text, when a plain line is printed, the exit code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from blastflow.model import JobRecord, Phase, StepName, StepState, StepStatus
from blastflow.run_progress import PlainState, exit_code, plain_update, run_progress

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def job_at(phase: Phase, **steps: StepState) -> JobRecord:
    return JobRecord(job_id="j", phase=phase, created_at=T0, updated_at=T0,
                     steps={StepName(name): state for name, state in steps.items()})  # fmt: skip


def running(counters: dict[str, int] | None = None, message: str = "", started_s: float = 0) -> StepState:
    return StepState(status=StepStatus.RUNNING, started_at=T0 + timedelta(seconds=started_s),
                     counters=counters or {}, message=message)  # fmt: skip


def test_the_text_names_the_step_its_batches_the_elapsed_time_and_an_eta() -> None:
    job = job_at(Phase.RUNNING, run=running({"succeeded": 3, "running": 2, "pending": 5}, started_s=10))

    progress = run_progress(job, T0 + timedelta(seconds=40))

    assert progress.step is StepName.RUN and progress.counts is not None and progress.counts.total == 10
    assert progress.line == (
        "BLAST run: 3 of 10 batches done (30%), 2 running, 5 pending; about 1 min 10 s left · 40.0 s"
    )


def test_a_step_without_batches_shows_its_message_without_an_eta_and_the_start_counts_the_wait() -> None:
    prepare = run_progress(job_at(Phase.PREPARING, prepare=running(message="6 queries; about 5 s left")), T0)
    assert prepare.line == "Prepare run: 6 queries · 0 ms"
    assert run_progress(None, T0, waited_s=12.34).line == "Starting: Prefect and the search process · 12.3 s"
    assert run_progress(job_at(Phase.CANCELLED), T0).label == "Cancelled"


def test_plain_lines_come_at_each_step_change_and_at_most_every_10_s_within_a_step() -> None:
    def at_batches(done: int, phase: Phase = Phase.RUNNING) -> object:
        step = "finalize" if phase is Phase.FINALIZING else "run"
        return run_progress(job_at(phase, **{step: running({"succeeded": done, "pending": 9 - done})}), T0)

    said = []
    state = PlainState()
    # (seconds, snapshot): a new step prints at once; changes inside one wait for 10 s since the last line.
    for now_s, progress in [(0, at_batches(0)), (1, at_batches(1)), (5, at_batches(2)), (10.5, at_batches(3)),
                            (11, at_batches(3)), (30, at_batches(3)), (31, at_batches(3, Phase.FINALIZING))]:
        line, state = plain_update(state, progress, now_s)
        if line is not None:
            said.append((now_s, line.split(" batches")[0]))

    assert said == [(0, "BLAST run: 0 of 9"), (10.5, "BLAST run: 3 of 9"), (31, "Finalize & export: 3 of 9")]


def test_only_a_completed_job_exits_0() -> None:
    codes = {phase: exit_code(job_at(phase)) for phase in Phase}
    assert codes.pop(Phase.COMPLETED) == 0
    assert set(codes.values()) == {1}
    assert exit_code(None) == 1

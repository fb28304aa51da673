"""The merge: the one write path's rules (DESIGN.md "One write path") and its invariants under random writes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import UnionType
from typing import get_args

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blastflow.merge import (
    ERROR_MAX_CHARS,
    ORPHAN_SOURCE,
    TAIL_MAX_CHARS,
    TAIL_MAX_LINES,
    JobUpdate,
    StepUpdate,
    is_consistent,
    merge,
)
from blastflow.model import (
    FAILURE_PHASES,
    PHASE_MESSAGES,
    STEP_ORDER,
    TERMINAL_PHASES,
    JobRecord,
    JobStatus,
    Phase,
    StepName,
    StepStatus,
    new_job_id,
)

T0 = datetime(2026, 5, 22, 17, 28, 4, tzinfo=UTC)
CRASH = "AttributeError: module 'api.tasks.blast' has no attribute '_tail_text'"
LIVE_ORDER = [Phase.QUEUED, Phase.PREPARING, Phase.SUBMITTING, Phase.SUBMITTED, Phase.RUNNING, Phase.FINALIZING]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def step_update(**fields: object) -> StepUpdate:
    return StepUpdate(**fields)  # type: ignore[arg-type]


def running_submit() -> JobRecord:
    """A job whose worker crashed mid-submit: steps.submit is still running (the notes' failing run)."""
    job = merge(None, JobUpdate(job_id=new_job_id(), phase=Phase.PREPARING, source="task"), at(0))
    job = merge(
        job, JobUpdate(steps={StepName.PREPARE: step_update(status=StepStatus.COMPLETED)}, source="task"), at(2)
    )
    job = merge(job, JobUpdate(phase=Phase.SUBMITTING, source="task"), at(3))
    job = merge(
        job,
        JobUpdate(steps={StepName.SUBMIT: step_update(lines=["Starting elastic-blast submit helper job…"])}),
        at(5),
    )
    assert job.steps[StepName.SUBMIT].status is StepStatus.RUNNING
    return job


def running_steps(job: JobRecord) -> list[StepName]:
    return [name for name, step in job.steps.items() if step.status is StepStatus.RUNNING]


# ── creating a record ─────────────────────────────────────────────────────────


def test_creating_a_record_needs_a_job_id() -> None:
    with pytest.raises(ValueError, match="job_id"):
        merge(None, JobUpdate(phase=Phase.QUEUED), T0)


def test_creating_a_record_sets_times_and_version_one() -> None:
    job_id = new_job_id()
    job = merge(None, JobUpdate(job_id=job_id, title="fire ant", backend="local"), T0)
    assert (job.job_id, job.version, job.created_at, job.updated_at) == (job_id, 1, T0, T0)
    assert (job.phase, job.status, job.title) == (Phase.QUEUED, JobStatus.QUEUED, "fire ant")
    assert list(job.steps) == list(STEP_ORDER)


def test_an_update_for_another_job_is_refused() -> None:
    job = merge(None, JobUpdate(job_id=new_job_id()), T0)
    with pytest.raises(ValueError, match="cannot be merged"):
        merge(job, JobUpdate(job_id=new_job_id(), phase=Phase.PREPARING), at(1))
    assert merge(job, JobUpdate(job_id=job.job_id, phase=Phase.PREPARING), at(1)).phase is Phase.PREPARING


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        merge(None, JobUpdate(job_id=new_job_id()), datetime(2026, 5, 22, 17, 28))


def test_a_job_id_with_control_characters_is_refused() -> None:
    with pytest.raises(ValueError, match="job id"):
        merge(None, JobUpdate(job_id="job\x1b[31m"), T0)


def test_version_grows_by_one_per_merge_and_the_input_is_not_modified() -> None:
    job = merge(None, JobUpdate(job_id=new_job_id()), T0)
    before = job.model_dump()
    versions = []
    current = job
    for i in range(5):
        current = merge(current, JobUpdate(), at(i + 1))
        versions.append(current.version)
    assert versions == [2, 3, 4, 5, 6]
    assert current.updated_at == at(5)
    assert job.model_dump() == before


# ── fix F and fix G: no orphan spinner after a failure ────────────────────────


def test_fix_f_failed_update_demotes_the_orphan_running_submit_step() -> None:
    job = running_submit()
    failed = merge(job, JobUpdate(phase=Phase.FAILED, error=CRASH, error_code="AttributeError", source="hook"), at(65))
    submit = failed.steps[StepName.SUBMIT]
    assert submit.status is StepStatus.FAILED
    assert submit.source == ORPHAN_SOURCE
    assert submit.completed_at == at(65)
    assert submit.duration_ms == 62_000  # started at 3 s
    assert submit.error == CRASH
    assert submit.last_output == "Starting elastic-blast submit helper job…"
    # the finished step is left alone, the steps never reached stay pending
    assert failed.steps[StepName.PREPARE].status is StepStatus.COMPLETED
    assert failed.steps[StepName.PREPARE].source == "task"
    assert [failed.steps[s].status for s in STEP_ORDER[2:]] == [StepStatus.PENDING] * 3
    assert (failed.status, failed.error, failed.error_code) == (JobStatus.FAILED, CRASH, "AttributeError")
    assert is_consistent(failed)


@pytest.mark.parametrize("phase", sorted(FAILURE_PHASES))
def test_every_failure_phase_leaves_no_running_step(phase: Phase) -> None:
    failed = merge(running_submit(), JobUpdate(phase=phase, error=f"ended {phase.value}"), at(70))
    assert running_steps(failed) == []
    assert failed.steps[StepName.SUBMIT].status is StepStatus.FAILED
    assert failed.steps[StepName.SUBMIT].error == f"ended {phase.value}"


def test_fix_g_a_reconcile_worker_lost_write_through_merge_leaves_no_running_step() -> None:
    job = running_submit()
    job = merge(job, JobUpdate(phase=Phase.SUBMITTED), at(40))
    job = merge(job, JobUpdate(phase=Phase.RUNNING, steps={StepName.RUN: step_update(counters={"running": 3})}), at(60))
    assert running_steps(job) == [StepName.RUN]
    why = "Worker lost: no state update for 960 s (threshold 900 s) while running"
    lost = merge(
        job, JobUpdate(phase=Phase.WORKER_LOST, error=why, error_code="worker_lost", source="reconcile"), at(1020)
    )
    assert lost.phase is Phase.WORKER_LOST and lost.status is JobStatus.FAILED
    assert running_steps(lost) == []
    run = lost.steps[StepName.RUN]
    assert (run.status, run.source, run.error, run.completed_at) == (StepStatus.FAILED, ORPHAN_SOURCE, why, at(1020))
    assert run.counters == {"running": 3}
    assert lost.steps[StepName.WAIT_FOR_PODS].status is StepStatus.COMPLETED


def test_the_failing_step_keeps_its_own_error_and_other_orphans_get_the_job_error() -> None:
    job = running_submit()
    update = JobUpdate(
        phase=Phase.SUBMIT_FAILED,
        error="elastic-blast submit exited with code 8: ERROR: quota exceeded",
        steps={StepName.SUBMIT: step_update(status=StepStatus.FAILED, error="ERROR: quota exceeded", source="task")},
        source="task",
    )
    failed = merge(job, update, at(30))
    submit = failed.steps[StepName.SUBMIT]
    assert (submit.status, submit.source, submit.error) == (StepStatus.FAILED, "task", "ERROR: quota exceeded")


def test_an_orphan_without_a_job_error_says_how_the_job_ended() -> None:
    cancelled = merge(running_submit(), JobUpdate(phase=Phase.CANCELLED, source="hook"), at(30))
    submit = cancelled.steps[StepName.SUBMIT]
    assert cancelled.status is JobStatus.CANCELLED
    assert (submit.status, submit.source) == (StepStatus.FAILED, ORPHAN_SOURCE)
    assert submit.error == PHASE_MESSAGES[Phase.CANCELLED]


def test_a_step_that_fails_while_the_job_is_live_does_not_end_the_job() -> None:
    job = running_submit()
    job = merge(job, JobUpdate(phase=Phase.SUBMITTED), at(10))
    attempt = merge(
        job, JobUpdate(steps={StepName.WAIT_FOR_PODS: step_update(status=StepStatus.FAILED, error="timeout")}), at(20)
    )
    assert attempt.phase is Phase.SUBMITTED and attempt.status is JobStatus.RUNNING
    assert attempt.steps[StepName.WAIT_FOR_PODS].status is StepStatus.FAILED
    # Prefect retries the task: the step runs again, keeping its first start
    retry = merge(attempt, JobUpdate(phase=Phase.SUBMITTED), at(25))
    wait = retry.steps[StepName.WAIT_FOR_PODS]
    assert (wait.status, wait.started_at, wait.completed_at, wait.duration_ms) == (
        StepStatus.RUNNING,
        at(10),
        None,
        None,
    )
    done = merge(retry, JobUpdate(phase=Phase.RUNNING), at(40))
    assert done.steps[StepName.WAIT_FOR_PODS].status is StepStatus.COMPLETED
    assert done.steps[StepName.WAIT_FOR_PODS].duration_ms == 30_000


# ── promotion of earlier steps ────────────────────────────────────────────────


def test_a_later_step_starting_completes_earlier_running_steps() -> None:
    job = merge(None, JobUpdate(job_id=new_job_id(), phase=Phase.PREPARING, source="task"), at(0))
    job = merge(job, JobUpdate(phase=Phase.SUBMITTING, source="task"), at(4))
    prepare = job.steps[StepName.PREPARE]
    assert (prepare.status, prepare.completed_at, prepare.duration_ms) == (StepStatus.COMPLETED, at(4), 4000)
    assert job.steps[StepName.SUBMIT].status is StepStatus.RUNNING
    # an explicit step start promotes too, skipping over steps that never ran
    job = merge(job, JobUpdate(steps={StepName.RUN: step_update(status=StepStatus.RUNNING)}, source="poll"), at(9))
    assert job.steps[StepName.SUBMIT].status is StepStatus.COMPLETED
    assert job.steps[StepName.SUBMIT].source == "poll"
    assert job.steps[StepName.WAIT_FOR_PODS].status is StepStatus.PENDING
    assert running_steps(job) == [StepName.RUN]


def test_the_submitted_phase_starts_wait_for_pods() -> None:
    job = running_submit()
    job = merge(
        job,
        JobUpdate(phase=Phase.SUBMITTED, steps={StepName.SUBMIT: step_update(status=StepStatus.COMPLETED)}),
        at(30),
    )
    assert running_steps(job) == [StepName.WAIT_FOR_PODS]
    assert job.active_step is StepName.WAIT_FOR_PODS


def test_a_failed_earlier_step_is_not_promoted_to_completed() -> None:
    job = running_submit()
    job = merge(job, JobUpdate(steps={StepName.SUBMIT: step_update(status=StepStatus.FAILED, error="x")}), at(6))
    job = merge(job, JobUpdate(phase=Phase.SUBMITTED), at(7))
    assert job.steps[StepName.SUBMIT].status is StepStatus.FAILED


# ── phases move forward; terminal phases are sticky ───────────────────────────


def test_a_late_earlier_live_phase_is_ignored() -> None:
    job = merge(running_submit(), JobUpdate(phase=Phase.RUNNING), at(30))
    late = merge(job, JobUpdate(phase=Phase.SUBMITTING, steps={StepName.SUBMIT: step_update(lines=["late"])}), at(31))
    assert late.phase is Phase.RUNNING
    assert late.steps[StepName.SUBMIT].status is StepStatus.COMPLETED
    assert late.steps[StepName.SUBMIT].last_output.endswith("late")  # its content still lands


def test_a_completed_step_never_restarts() -> None:
    job = merge(running_submit(), JobUpdate(phase=Phase.SUBMITTED), at(30))
    stale = merge(job, JobUpdate(steps={StepName.SUBMIT: step_update(status=StepStatus.RUNNING)}), at(31))
    assert stale.steps[StepName.SUBMIT].status is StepStatus.COMPLETED
    assert running_steps(stale) == [StepName.WAIT_FOR_PODS]
    back = merge(job, JobUpdate(steps={StepName.WAIT_FOR_PODS: step_update(status=StepStatus.PENDING)}), at(32))
    assert back.steps[StepName.WAIT_FOR_PODS].status is StepStatus.RUNNING  # nothing returns a step to pending


def completed_job() -> JobRecord:
    job = merge(running_submit(), JobUpdate(phase=Phase.SUBMITTED), at(30))
    job = merge(job, JobUpdate(phase=Phase.RUNNING), at(40))
    job = merge(job, JobUpdate(phase=Phase.FINALIZING), at(100))
    return merge(job, JobUpdate(phase=Phase.COMPLETED, results_location="/jobs/x/results", source="task"), at(110))


def test_completing_closes_the_running_finalize_step_and_skips_nothing_that_ran() -> None:
    job = completed_job()
    assert job.phase is Phase.COMPLETED and job.status is JobStatus.COMPLETED
    assert [job.steps[s].status for s in STEP_ORDER] == [StepStatus.COMPLETED] * 5
    finalize = job.steps[StepName.FINALIZE]
    assert (finalize.completed_at, finalize.duration_ms, finalize.source) == (at(110), 10_000, "task")


def test_completing_marks_steps_that_never_ran_skipped() -> None:
    job = merge(None, JobUpdate(job_id=new_job_id(), phase=Phase.PREPARING), at(0))
    job = merge(job, JobUpdate(phase=Phase.RUNNING), at(1))  # a backend without submit or pods
    job = merge(job, JobUpdate(phase=Phase.COMPLETED), at(5))
    statuses = [job.steps[s].status for s in STEP_ORDER]
    assert statuses == [StepStatus.COMPLETED, StepStatus.SKIPPED, StepStatus.SKIPPED, StepStatus.COMPLETED,
                        StepStatus.SKIPPED]  # fmt: skip
    assert job.steps[StepName.SUBMIT].duration_ms is None


@pytest.mark.parametrize("make", [completed_job, lambda: merge(running_submit(), JobUpdate(phase=Phase.FAILED), at(9))])
def test_a_late_running_write_cannot_resurrect_a_terminal_job(make) -> None:
    job = make()
    late = merge(
        job,
        JobUpdate(
            phase=Phase.RUNNING,
            steps={
                StepName.RUN: step_update(status=StepStatus.RUNNING),
                StepName.SUBMIT: step_update(status=StepStatus.RUNNING),
            },
        ),
        at(500),
    )
    assert late.phase is job.phase and late.status is job.status
    assert running_steps(late) == []
    assert {s: late.steps[s].status for s in STEP_ORDER} == {s: job.steps[s].status for s in STEP_ORDER}
    assert late.version == job.version + 1


def test_late_backfill_after_completion_is_applied() -> None:
    job = completed_job()
    pod_log = "\n".join(f"pod blastn-batch-nt-job-000: line {i}" for i in range(3))
    late = merge(
        job,
        JobUpdate(
            pod_logs="captured",
            steps={StepName.RUN: step_update(last_output=pod_log, log_lines_added=3, message="3 pod log lines")},
        ),
        at(300),
    )
    run = late.steps[StepName.RUN]
    assert (run.last_output, run.log_line_count, run.message) == (pod_log, 3, "3 pod log lines")
    assert late.pod_logs == "captured" and late.updated_at == at(300)
    appended = merge(late, JobUpdate(steps={StepName.RUN: step_update(lines=["── tail ──"])}), at(310))
    assert appended.steps[StepName.RUN].last_output.endswith("line 2\n── tail ──")
    assert appended.steps[StepName.RUN].log_line_count == 4
    assert appended.phase is Phase.COMPLETED


def test_the_first_error_is_kept() -> None:
    failed = merge(running_submit(), JobUpdate(phase=Phase.FAILED, error=CRASH, error_code="AttributeError"), at(9))
    later = merge(failed, JobUpdate(phase=Phase.WORKER_LOST, error="Worker lost", error_code="worker_lost"), at(99))
    assert (later.phase, later.error, later.error_code) == (Phase.FAILED, CRASH, "AttributeError")
    step_later = merge(failed, JobUpdate(steps={StepName.SUBMIT: step_update(error="benign last line")}), at(99))
    assert step_later.steps[StepName.SUBMIT].error == CRASH


def test_a_failure_recorded_without_a_reason_may_get_one_later_but_a_completed_job_gets_none() -> None:
    failed = merge(running_submit(), JobUpdate(phase=Phase.FAILED), at(9))
    assert failed.error is None
    explained = merge(failed, JobUpdate(error=CRASH, error_code="AttributeError"), at(10))
    assert (explained.error, explained.error_code) == (CRASH, "AttributeError")
    done = merge(completed_job(), JobUpdate(error="late noise"), at(999))
    assert done.error is None


# ── durations, tails, sanitising ──────────────────────────────────────────────


def test_durations_come_from_started_and_completed_times() -> None:
    job = merge(None, JobUpdate(job_id=new_job_id(), phase=Phase.PREPARING), at(0))
    job = merge(job, JobUpdate(steps={StepName.PREPARE: step_update(status=StepStatus.COMPLETED)}), at(2.5))
    prepare = job.steps[StepName.PREPARE]
    assert (prepare.started_at, prepare.completed_at, prepare.duration_ms) == (at(0), at(2.5), 2500)
    # a step reported finished without a start took no time we know of
    job = merge(job, JobUpdate(steps={StepName.SUBMIT: step_update(status=StepStatus.COMPLETED)}), at(3))
    submit = job.steps[StepName.SUBMIT]
    assert (submit.started_at, submit.completed_at, submit.duration_ms) == (at(3), at(3), 0)


def test_the_tail_keeps_the_last_lines_and_counts_them_all() -> None:
    job = merge(None, JobUpdate(job_id=new_job_id(), phase=Phase.SUBMITTING), T0)
    for batch in range(5):
        lines = [f"line {batch * 100 + i}" for i in range(100)]
        job = merge(job, JobUpdate(steps={StepName.SUBMIT: step_update(lines=lines)}), at(batch))
    submit = job.steps[StepName.SUBMIT]
    assert submit.log_line_count == 500
    assert submit.last_output.split("\n") == [f"line {i}" for i in range(500 - TAIL_MAX_LINES, 500)]
    job = merge(job, JobUpdate(steps={StepName.SUBMIT: step_update(log_lines_added=1000)}), at(9))
    assert job.steps[StepName.SUBMIT].log_line_count == 1500


def test_the_tail_is_bounded_in_characters_and_keeps_whole_lines() -> None:
    lines = [f"{i:04d}" + "x" * 996 for i in range(20)]  # 1000 characters each
    job = merge(None, JobUpdate(job_id=new_job_id(), steps={StepName.RUN: step_update(lines=lines)}), T0)
    tail = job.steps[StepName.RUN].last_output
    assert len(tail) <= TAIL_MAX_CHARS
    kept = tail.split("\n")
    assert kept == lines[-len(kept) :] and len(kept) == TAIL_MAX_CHARS // 1001


def test_one_huge_line_keeps_its_end() -> None:
    line = "A" * 10_000 + "THE END"
    job = merge(None, JobUpdate(job_id=new_job_id(), steps={StepName.RUN: step_update(lines=["short", line])}), T0)
    tail = job.steps[StepName.RUN].last_output
    assert len(tail) == TAIL_MAX_CHARS and tail.endswith("THE END")


def test_a_backfilled_tail_is_bounded_in_lines_too() -> None:
    pod_log = "\n".join(f"pod line {i}" for i in range(1000))
    job = merge(None, JobUpdate(job_id=new_job_id(), steps={StepName.RUN: step_update(last_output=pod_log)}), T0)
    assert job.steps[StepName.RUN].last_output.split("\n") == [f"pod line {i}" for i in range(950, 1000)]


def test_errors_and_messages_are_clipped() -> None:
    job = merge(None, JobUpdate(job_id=new_job_id(), phase=Phase.FAILED, error="E" * 10_000), T0)
    assert len(job.error) == ERROR_MAX_CHARS and job.error.endswith("…")


DIRTY = "\x1b[31mAccountKey=c2VjcmV0LWtleS12YWx1ZQ==;\x1b[0m\x07 Bearer abcdef0123456789"
SECRET = "c2VjcmV0LWtleS12YWx1ZQ"


def _str_fields(model: type) -> list[str]:
    """The fields of `model` typed str or str | None."""
    names = []
    for name, info in model.model_fields.items():
        types = get_args(info.annotation) if isinstance(info.annotation, UnionType) else (info.annotation,)
        if str in types:
            names.append(name)
    return names


def test_every_text_field_is_sanitised_on_the_way_in() -> None:
    # ids are not text: job_id is checked on creation, update_id by its pattern (see the test below)
    job_fields = [name for name in _str_fields(JobUpdate) if name not in ("job_id", "update_id")]
    step_fields = _str_fields(StepUpdate)
    assert {"title", "error", "error_code", "results_location", "source"} <= set(job_fields)
    assert {"last_output", "error", "message", "source"} <= set(step_fields)
    step = StepUpdate(
        **{name: DIRTY for name in step_fields}, status=StepStatus.RUNNING, lines=[DIRTY, DIRTY], counters={DIRTY: 1}
    )
    update = JobUpdate(
        **{name: DIRTY for name in job_fields},
        job_id=new_job_id(),
        phase=Phase.RUNNING,
        query_count=3,
        steps={name: step for name in STEP_ORDER},
    )
    job = merge(None, update, T0)
    dumped = job.model_dump_json()
    assert "\\u001b" not in dumped and "\\u0007" not in dumped
    assert SECRET not in dumped and "abcdef0123456789" not in dumped
    assert job.title == "AccountKey=***; Bearer ***"
    assert job.steps[StepName.RUN].counters == {"AccountKey=***; Bearer ***": 1}
    assert job.steps[StepName.RUN].last_output.split("\n")[-1] == "AccountKey=***; Bearer ***"
    # the failure sweep's text is clean as well
    failed = merge(job, JobUpdate(phase=Phase.FAILED, error=DIRTY), at(1))
    assert SECRET not in failed.model_dump_json()


def test_lines_alone_reach_the_tail_sanitised() -> None:
    # Only `lines` here: a `last_output` in the same update replaces the tail and would hide this path.
    update = JobUpdate(job_id=new_job_id(), steps={StepName.SUBMIT: step_update(lines=["Submitting 5 batches", DIRTY])})
    job = merge(None, update, T0)
    submit = job.steps[StepName.SUBMIT]
    assert submit.last_output.split("\n") == ["Submitting 5 batches", "AccountKey=***; Bearer ***"]
    assert submit.log_line_count == 2
    later = merge(job, JobUpdate(steps={StepName.SUBMIT: step_update(lines=[DIRTY])}), at(1))
    assert later.steps[StepName.SUBMIT].last_output.split("\n")[-1] == "AccountKey=***; Bearer ***"
    assert SECRET not in later.model_dump_json() and "\\u001b" not in later.model_dump_json()


# ── properties over random sequences of writes ────────────────────────────────

# Drawn as plain tuples and built into updates by `_update` (much faster to generate than nested builds).
_LINE = st.sampled_from(
    [
        "",
        "INFO: 9 batches",
        "\x1b[33mwarn\x1b[0m",
        "progress 50%\rprogress 100%",
        "AccountKey=abc123==;",
        "ok\n2nd",
        "x" * 300,
    ]
) | st.text(max_size=12)
_STEP_DRAW = st.tuples(
    st.sampled_from(StepName),
    st.sampled_from([None, *StepStatus]),
    st.lists(_LINE, max_size=3),
    st.integers(-2, 5),
    st.sampled_from([None, "step broke", "\x1b[31mred error\x1b[0m"]),
    st.sampled_from([None, "", "pod log\nline 2"]),
    st.sampled_from([None, "task", "hook"]),
)
_UPDATE_DRAW = st.tuples(
    st.sampled_from([None, *Phase]),
    st.sampled_from([None, "boom", CRASH]),
    st.lists(_STEP_DRAW, max_size=3),
    st.sampled_from([None, "task", "hook", "reconcile"]),
)


def _update(draw: tuple) -> JobUpdate:
    phase, error, step_draws, source = draw
    steps = {
        name: StepUpdate(
            status=status,
            lines=lines,
            log_lines_added=added,
            error=step_error,
            last_output=last_output,
            counters={"running": len(lines)},
            source=step_source,
        )
        for name, status, lines, added, step_error, last_output, step_source in step_draws
    }
    return JobUpdate(phase=phase, error=error, error_code=error and "code", steps=steps, source=source)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(draws=st.lists(_UPDATE_DRAW, min_size=1, max_size=25), gaps=st.lists(st.integers(0, 90_000), min_size=25))
def test_invariants_hold_after_every_merge(draws: list[tuple], gaps: list[int]) -> None:
    job: JobRecord | None = None
    sent = dict.fromkeys(STEP_ORDER, 0)
    now = T0
    for i, update in enumerate(map(_update, draws)):
        if i == 0:
            update = update.model_copy(update={"job_id": "job-under-test"})
        now += timedelta(milliseconds=gaps[i])
        before = job
        job = merge(job, update, now)
        for name, step_update in update.steps.items():
            sent[name] += len(step_update.lines) + max(step_update.log_lines_added, 0)

        # the invariant of DESIGN.md: a terminal job has no running step
        assert is_consistent(job)
        if job.phase in TERMINAL_PHASES:
            assert running_steps(job) == []
        assert job.version == i + 1
        assert list(job.steps) == list(STEP_ORDER)
        assert {name: job.steps[name].log_line_count for name in STEP_ORDER} == sent
        assert job.status is _status(job.phase)
        for step in job.steps.values():
            assert step.last_output.count("\n") < TAIL_MAX_LINES and len(step.last_output) <= TAIL_MAX_CHARS
            if step.status in (StepStatus.COMPLETED, StepStatus.FAILED) and step.started_at is not None:
                assert step.completed_at is not None and step.started_at <= step.completed_at
                assert step.duration_ms == int((step.completed_at - step.started_at).total_seconds() * 1000)
            if step.status is StepStatus.RUNNING:
                assert step.started_at is not None and step.completed_at is None
        assert "\x1b" not in json.dumps(job.model_dump(mode="json"))

        if before is None:
            continue
        if before.phase in TERMINAL_PHASES:  # sticky: nothing moves once terminal
            assert job.phase is before.phase
            if before.error is not None:
                assert job.error == before.error
            for name in STEP_ORDER:
                if before.steps[name].status is not StepStatus.PENDING:
                    assert job.steps[name].status is before.steps[name].status
        elif job.phase not in TERMINAL_PHASES:  # live phases only move forward
            assert LIVE_ORDER.index(job.phase) >= LIVE_ORDER.index(before.phase)
        for name in STEP_ORDER:  # steps never go back
            old, new = before.steps[name].status, job.steps[name].status
            if old is not StepStatus.PENDING:
                assert new is not StepStatus.PENDING
            if old in (StepStatus.COMPLETED, StepStatus.SKIPPED):
                assert new is not StepStatus.RUNNING


def _status(phase: Phase) -> JobStatus:
    if phase is Phase.QUEUED:
        return JobStatus.QUEUED
    if phase is Phase.COMPLETED:
        return JobStatus.COMPLETED
    if phase is Phase.CANCELLED:
        return JobStatus.CANCELLED
    return JobStatus.FAILED if phase in FAILURE_PHASES else JobStatus.RUNNING


@settings(max_examples=200, deadline=None)
@given(draws=st.lists(_UPDATE_DRAW, max_size=10), failure=st.sampled_from(sorted(FAILURE_PHASES)))
def test_any_history_then_a_failure_leaves_no_spinner(draws: list[tuple], failure: Phase) -> None:
    job = merge(None, JobUpdate(job_id="job-under-test", phase=Phase.PREPARING), T0)
    for i, update in enumerate(map(_update, draws)):
        job = merge(job, update, at(i + 1))
    was_terminal = job.phase in TERMINAL_PHASES
    failed = merge(job, JobUpdate(phase=failure, error="the real error", source="reconcile"), at(100))
    assert running_steps(failed) == []
    if not was_terminal:
        assert failed.phase is failure and failed.error == "the real error"
        for name in running_steps(job):
            assert failed.steps[name].status is StepStatus.FAILED
            assert failed.steps[name].source == ORPHAN_SOURCE and failed.steps[name].completed_at == at(100)


def test_a_retried_update_is_merged_once() -> None:
    job = merge(None, JobUpdate(job_id="j", phase=Phase.SUBMITTING), T0)
    update = JobUpdate(steps={StepName.SUBMIT: StepUpdate(lines=["Submitting jobs to cluster"])})
    once = merge(job, update, at(1))
    again = merge(once, update, at(2))  # its first answer was lost; the writer sends it again
    assert again == once and again.version == 2
    assert again.steps[StepName.SUBMIT].log_line_count == 1
    other = merge(again, JobUpdate(steps={StepName.SUBMIT: StepUpdate(lines=["done"])}), at(3))
    assert other.steps[StepName.SUBMIT].log_line_count == 2


def test_update_ids_are_plain_keys() -> None:
    with pytest.raises(ValueError):
        JobUpdate(update_id="\x1b[31mAccountKey=abc")

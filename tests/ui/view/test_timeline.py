"""The execution timeline (fixes E, I, K, L): which step spins, which is open, and what each says."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from blastflow.merge import JobUpdate, StepUpdate, merge
from blastflow.model import FAILURE_PHASES, PHASE_MESSAGES, STEP_ORDER, TERMINAL_PHASES, Phase, StepName, StepStatus
from blastflow.progress import progress_line
from blastflow.search import PodCounts
from tests.ui.view.jobs import T0, make_job, orphan, submitting_with_benign_tail
from ui.view.timeline import StepDisplay, counters_text, resolve_step_state, timeline


@pytest.mark.parametrize(("phase", "status"), itertools.product(sorted(TERMINAL_PHASES), list(StepStatus)))
def test_a_terminal_job_never_shows_an_active_step(phase: Phase, status: StepStatus) -> None:
    job = make_job(JobUpdate(phase=Phase.QUEUED))
    steps = {name: job.steps[name].model_copy(update={"status": status}) for name in STEP_ORDER}
    job = job.model_copy(update={"phase": phase, "steps": steps})
    views = timeline(job)
    assert all(v.state is not StepDisplay.ACTIVE for v in views)
    assert all(v.icon != "spinner" for v in views)
    if phase in FAILURE_PHASES and status is StepStatus.RUNNING:
        assert {v.state for v in views} == {StepDisplay.ERROR}
        assert all(v.detail == "stopped when the job failed" for v in views)


def test_failed_job_with_an_orphan_running_step_shows_it_failed_and_open() -> None:
    views = {v.name: v for v in timeline(orphan(submitting_with_benign_tail()))}
    assert views[StepName.SUBMIT].state is StepDisplay.ERROR
    assert views[StepName.SUBMIT].expanded
    assert views[StepName.PREPARE].state is StepDisplay.DONE
    assert not views[StepName.PREPARE].expanded


def test_submitted_shows_wait_for_pods_active_with_its_message() -> None:
    job = make_job(
        JobUpdate(phase=Phase.PREPARING), JobUpdate(phase=Phase.SUBMITTING), JobUpdate(phase=Phase.SUBMITTED)
    )
    views = {v.name: v for v in timeline(job)}
    wait = views[StepName.WAIT_FOR_PODS]
    assert wait.state is StepDisplay.ACTIVE and wait.icon == "spinner" and wait.expanded
    assert wait.detail == PHASE_MESSAGES[Phase.SUBMITTED]
    assert [v.name for v in views.values() if v.state is StepDisplay.ACTIVE] == [StepName.WAIT_FOR_PODS]
    # even on a row whose wait step was never marked running (the transit gap)
    raw = job.model_copy(deep=True)
    raw.steps[StepName.WAIT_FOR_PODS].status = StepStatus.PENDING
    assert resolve_step_state(Phase.SUBMITTED, StepName.WAIT_FOR_PODS, raw.steps[StepName.WAIT_FOR_PODS]) is (
        StepDisplay.ACTIVE
    )


def test_only_the_active_step_is_open_by_default() -> None:
    job = make_job(JobUpdate(phase=Phase.PREPARING), JobUpdate(phase=Phase.SUBMITTING), JobUpdate(phase=Phase.RUNNING))
    assert [v.name for v in timeline(job) if v.expanded] == [StepName.RUN]
    done = merge(job, JobUpdate(phase=Phase.COMPLETED), T0 + timedelta(minutes=1))
    assert [v.name for v in timeline(done) if v.expanded] == []


def test_completed_steps_say_how_long_they_took_from_duration_ms_and_nothing_made_up() -> None:
    job = make_job(
        JobUpdate(phase=Phase.PREPARING),
        JobUpdate(phase=Phase.SUBMITTING),
        JobUpdate(phase=Phase.SUBMITTED),
        JobUpdate(phase=Phase.RUNNING),
        JobUpdate(phase=Phase.FINALIZING),
        JobUpdate(phase=Phase.COMPLETED),
        step_s=12.3,
    )
    views = timeline(job)
    assert [v.title for v in views] == [
        "Prepare run · done in 12.3 s",
        "Submit job · done in 12.3 s",
        "Wait for pods · done in 12.3 s",
        "BLAST run · done in 12.3 s",
        "Finalize & export · done in 12.3 s",
    ]
    no_duration = job.model_copy(deep=True)
    no_duration.steps[StepName.RUN].duration_ms = None
    run = timeline(no_duration)[3]
    assert run.title == "BLAST run · done"
    for v in [*views, run]:
        assert "?" not in v.title + v.detail and "poll" not in v.title + v.detail


def test_run_step_shows_batch_and_pod_counts() -> None:
    job = make_job(
        JobUpdate(phase=Phase.RUNNING),
        JobUpdate(steps={StepName.RUN: StepUpdate(counters={"pending": 1, "running": 2, "succeeded": 4, "failed": 1})}),
    )
    run = timeline(job)[3]
    assert run.counters == "5 of 8 batches finished · 2 running · 1 pending · 4 succeeded · 1 failed"
    assert counters_text({"queries": 473, "batches": 5}) == "5 batches · 473 queries"


def test_an_active_step_keeps_its_bare_label_while_it_runs() -> None:
    job = make_job(JobUpdate(phase=Phase.RUNNING), JobUpdate(steps={StepName.RUN: StepUpdate(message="3 of 8 done")}))
    run = timeline(job)[3]
    assert run.title == "BLAST run" and run.detail == "3 of 8 done"


@pytest.mark.parametrize("end", [Phase.CANCELLED, Phase.FAILED, Phase.WORKER_LOST])
def test_a_stopped_step_says_where_it_stopped_and_never_an_eta(end: Phase) -> None:
    """Fix K: the run step's last message said "about … left"; once the job has stopped, that is untrue."""
    counts = PodCounts(succeeded=12, running=3, pending=14)
    live = progress_line(counts, 60)
    job = make_job(
        JobUpdate(phase=Phase.PREPARING),
        JobUpdate(phase=Phase.SUBMITTING),
        JobUpdate(phase=Phase.SUBMITTED),
        JobUpdate(phase=Phase.RUNNING),
        JobUpdate(steps={StepName.RUN: StepUpdate(counters=counts.as_counters(), message=live)}),
        step_s=50,
    )
    assert "left" in timeline(job)[3].summary  # while it runs, the ETA shows
    stopped = merge(job, JobUpdate(phase=end, error="stopped by the test"), T0 + timedelta(seconds=250))
    run = timeline(stopped)[3]
    assert run.state is StepDisplay.ERROR
    assert run.summary == "stopped after 12 of 29 batches, 1 min 40 s in"
    assert not [v.name for v in timeline(stopped) if " left" in v.summary + v.detail + v.title]


def test_a_finished_step_keeps_its_message_without_an_eta() -> None:
    counts = PodCounts(succeeded=8)
    job = make_job(
        JobUpdate(phase=Phase.RUNNING),
        JobUpdate(steps={StepName.RUN: StepUpdate(counters=counts.as_counters(), message="7 of 8; about 4.0 s left")}),
        JobUpdate(phase=Phase.COMPLETED),
    )
    assert timeline(job)[3].summary == "7 of 8"

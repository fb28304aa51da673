"""Wait for pods: the transit phase ends when every pod runs, or with a timeout that says why."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from blastflow.errors import BackendError, TimedOut
from blastflow.merge import JobUpdate
from blastflow.model import Phase, StepName, StepStatus
from blastflow.reconcile import reconcile_jobs
from blastflow.search import PodCounts, RunState, RunStatus
from blastflow.steps import poll, wait_for_pods
from tests.doubles.scripted_backend import ScriptedBackend


def test_moves_to_running_once_a_pod_runs(make_ctx, run, sqlite_store) -> None:
    backend = ScriptedBackend(counts=[PodCounts(), PodCounts(pending=3), PodCounts(pending=1, running=2)])
    counts = wait_for_pods(make_ctx(backend), run)
    assert counts == PodCounts(pending=1, running=2)
    job = sqlite_store.get(run.job_id)
    assert job.phase is Phase.RUNNING
    assert job.steps[StepName.WAIT_FOR_PODS].status is StepStatus.COMPLETED
    assert job.steps[StepName.RUN].status is StepStatus.RUNNING
    assert job.steps[StepName.WAIT_FOR_PODS].log_line_count == 3  # one line per change of counts


def test_a_pod_that_never_starts_times_out_with_the_reason(make_ctx, run, clock) -> None:
    backend = ScriptedBackend(counts=[PodCounts(pending=3)], problems=["batch_000/blast: ImagePullBackOff"])
    with pytest.raises(TimedOut) as info:
        wait_for_pods(make_ctx(backend, wait_for_pods_timeout_s=60), run)
    assert "no pod started within 60 s (3 of 3 pending)" in str(info.value)
    assert "The cluster says: batch_000/blast: ImagePullBackOff." in str(info.value)
    assert 60 <= clock.now <= 64  # it waited the limit and not much more
    assert max(clock.slept) <= 1.0  # in short slices, so a task timeout can interrupt


def test_backend_failure_while_waiting_is_raised(make_ctx, run) -> None:
    backend = ScriptedBackend(
        counts=[PodCounts(pending=3)],
        statuses=[RunStatus(state=RunState.FAILURE, message="ERROR: quota 'CPUS' exceeded")],
    )
    with pytest.raises(BackendError, match="quota 'CPUS' exceeded"):
        wait_for_pods(make_ctx(backend), run)


def test_a_store_outage_is_waited_out(make_ctx, run, sqlite_store, clock) -> None:
    from blastflow.errors import StoreUnavailable

    ctx = make_ctx(ScriptedBackend(counts=[PodCounts(running=1, pending=2)]))
    real_update, failures = sqlite_store.update, {"left": 3}

    def flaky_update(job_id, update):
        if failures["left"]:
            failures["left"] -= 1
            raise StoreUnavailable("cannot reach the Table endpoint")
        return real_update(job_id, update)

    ctx.store.update = flaky_update  # the store object stays real; only its first 3 writes fail
    wait_for_pods(ctx, run)
    assert failures["left"] == 0
    assert sqlite_store.get(run.job_id).phase is Phase.RUNNING
    assert clock.slept[:2] == [0.5, 1.0]  # backed off between attempts (the log sink buffers its own)


def test_a_long_database_setup_heartbeats_the_row(make_ctx, run, sqlite_store, clock) -> None:
    """45 min of SUBMITTING with nothing to count must not read as a lost worker (quiet threshold 15 min)."""
    ctx = make_ctx(ScriptedBackend(counts=[PodCounts(pending=3)]), wait_for_pods_timeout_s=45 * 60)
    writes: list[float] = []
    real_update = sqlite_store.update

    def timed_update(job_id, update):
        writes.append(clock.now)
        return real_update(job_id, update)

    ctx.store.update = timed_update
    with pytest.raises(TimedOut):
        wait_for_pods(ctx, run)
    gaps = [later - earlier for earlier, later in itertools.pairwise(writes)]
    interval = ctx.settings.heartbeat_interval_s  # 225 s: a quarter of the 900 s quiet threshold
    assert writes[-1] >= 45 * 60 and max(gaps) <= interval + 1  # steady, never near the quiet threshold
    assert len(writes) <= 45 * 60 / interval + 3  # and no more: the first counts, the beats, the timeout's


def test_status_is_asked_no_more_often_than_the_backend_can_answer(make_ctx, run, clock) -> None:
    backend = ScriptedBackend(counts=[PodCounts(pending=3)])
    backend.status_interval_s = 300.0  # a real `elastic-blast status` takes tens of seconds
    with pytest.raises(TimedOut):
        wait_for_pods(make_ctx(backend, wait_for_pods_timeout_s=30 * 60), run)
    assert backend.calls["status"] <= 6 and backend.calls["pod_counts"] > 100


def test_what_the_backend_is_doing_before_pods_exist_is_shown_on_the_step(make_ctx, run, sqlite_store) -> None:
    setup = "downloading database swissprot: 1 of 2 setup jobs done (submit-jobs running)"
    backend = ScriptedBackend(
        counts=[PodCounts()] * 40 + [PodCounts(running=1, pending=2)],
        statuses=[RunStatus(state=RunState.SUBMITTING, message=setup)],
    )
    wait_for_pods(make_ctx(backend), run)
    lines = [line.text for line in sqlite_store.read_logs(run.job_id, step=StepName.WAIT_FOR_PODS).lines]
    assert setup in lines and lines.count(setup) == 1  # said once, when it changed


def test_pods_pending_45_minutes_with_reconcile_every_5_minutes_then_the_run_completes(
    make_ctx, run, sqlite_store, clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ElasticBLAST's own setup limit (45 min) with the default 900 s quiet threshold, all in fake time.

    Neither the flow run nor the process can be shown alive here (no run state, no pid): only the
    heartbeat keeps the job from being failed, and its completion is then written and kept.
    """
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    monkeypatch.setattr("blastflow.store.optimistic.utcnow", lambda: t0 + timedelta(seconds=clock.now))
    pending = [PodCounts(pending=3)] * int(45 * 60 / 2) + [PodCounts(running=3)]
    statuses = [RunStatus(state=RunState.RUNNING, counts=PodCounts(running=3))] * 120  # ~90 asked while pending
    statuses += [RunStatus(state=RunState.SUCCESS, counts=PodCounts(succeeded=3))]
    ctx = make_ctx(ScriptedBackend(counts=pending, statuses=statuses))
    failed: list[str] = []
    sleep, next_reconcile = clock.sleep, 300.0

    def sleep_then_reconcile(seconds: float) -> None:
        nonlocal next_reconcile
        sleep(seconds)
        if clock.now >= next_reconcile:
            next_reconcile += 300.0
            failed.extend(job.job_id for job in reconcile_jobs(
                sqlite_store, now=lambda: t0 + timedelta(seconds=clock.now), run_state=lambda job: None,
                quiet_threshold_s=ctx.settings.quiet_threshold_s))  # fmt: skip

    ctx.sleep = sleep_then_reconcile
    wait_for_pods(ctx, run)
    assert clock.now >= 45 * 60 and next_reconcile > 45 * 60, "reconcile ran every 5 min of the 45"
    poll(ctx, run)
    ctx.write(JobUpdate(phase=Phase.COMPLETED))  # what finalize writes last
    assert failed == []
    job = sqlite_store.get(run.job_id)
    assert job.phase is Phase.COMPLETED and job.error is None

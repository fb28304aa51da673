"""Wait for pods: the transit phase ends when every pod runs, or with a timeout that says why."""

from __future__ import annotations

import itertools

import pytest

from blastflow.errors import BackendError, TimedOut
from blastflow.model import Phase, StepName, StepStatus
from blastflow.search import PodCounts, RunState, RunStatus
from blastflow.steps import wait_for_pods
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
    assert writes[-1] >= 45 * 60 and max(gaps) <= 62  # about one write a minute, not one per poll
    assert len(writes) <= 45 * 60 / 60 + 5


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

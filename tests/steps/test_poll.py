"""Poll: progress with percent and ETA, success to finalizing, failure with the backend's cause."""

from __future__ import annotations

import pytest

from blastflow.errors import BackendError, TimedOut
from blastflow.model import Phase, StepName
from blastflow.search import PodCounts, RunState, RunStatus
from blastflow.settings import Settings
from blastflow.steps import poll
from tests.doubles.scripted_backend import ScriptedBackend


def _status(state: RunState, **counts: int) -> RunStatus:
    return RunStatus(state=state, counts=PodCounts(**counts))


def test_progress_is_reported_and_success_moves_to_finalizing(make_ctx, run, sqlite_store) -> None:
    backend = ScriptedBackend(
        statuses=[
            _status(RunState.RUNNING, running=2, pending=2),
            _status(RunState.RUNNING, running=2, succeeded=2),
            _status(RunState.SUCCESS, succeeded=4),
        ]
    )
    progress: list[float] = []
    final = poll(make_ctx(backend, phase=Phase.RUNNING), run, lambda percent, line: progress.append(percent))
    assert final.state is RunState.SUCCESS
    assert progress == [0.0, 50.0, 100.0, 100.0]
    job = sqlite_store.get(run.job_id)
    assert job.phase is Phase.FINALIZING
    assert job.steps[StepName.RUN].counters["succeeded"] == 4
    assert "about" in job.steps[StepName.RUN].last_output  # an ETA was given once a batch finished


def test_failure_carries_the_backend_message(make_ctx, run) -> None:
    backend = ScriptedBackend(statuses=[_status(RunState.FAILURE, failed=1, succeeded=2)])
    backend._statuses[0].message = "batch_001 failed: blastp exited with code 3 (BLAST engine error)"
    with pytest.raises(BackendError, match="batch_001 failed: blastp exited with code 3"):
        poll(make_ctx(backend, phase=Phase.RUNNING), run)


def test_run_timeout(make_ctx, run) -> None:
    backend = ScriptedBackend(statuses=[_status(RunState.RUNNING, running=3)])
    with pytest.raises(TimedOut, match="BLASTFLOW_RUN_TIMEOUT_S"):
        poll(make_ctx(backend, phase=Phase.RUNNING, run_timeout_s=30), run)


def test_a_state_nobody_can_tell_does_not_spin_forever(make_ctx, run) -> None:
    unknown = RunStatus(state=RunState.UNKNOWN, message="Cluster elasticblast-x was not found")
    backend = ScriptedBackend(statuses=[unknown])
    with pytest.raises(BackendError, match="10 times in a row: Cluster elasticblast-x was not found"):
        poll(make_ctx(backend, phase=Phase.RUNNING), run)
    assert backend.calls["status"] == 10


def test_a_progress_line_is_stored_while_the_run_waits_not_at_the_next_change(make_ctx, run, sqlite_store) -> None:
    statuses = [_status(RunState.RUNNING, running=1, pending=1), _status(RunState.RUNNING, running=2)]
    statuses += [_status(RunState.RUNNING, running=2)] * 20 + [_status(RunState.SUCCESS, succeeded=2)]
    seen_while_running: list[int] = []

    class Watching(ScriptedBackend):
        def status(self, run):
            if self.calls.get("status", 0) == 12:  # mid-wait: both progress lines must be in the log table
                seen_while_running.append(len(sqlite_store.read_logs(run.job_id, StepName.RUN).lines))
            return super().status(run)

    # Lines 0.2 s apart: the second falls inside the 1 s flush interval and is buffered.
    poll(make_ctx(Watching(statuses=statuses), phase=Phase.RUNNING, poll_interval_s=0.2), run)
    assert seen_while_running == [2]


def test_the_local_backend_is_polled_without_slack(make_ctx, run, clock, tmp_path) -> None:
    """Issue 15 item 3: with the default settings a finished batch is seen within 0.25 s (the local status is a
    file read); ElasticBLAST keeps its own, slower interval (its `status` is a CLI run of tens of seconds)."""
    from blastflow.backends.elastic_blast.profile import ElbProfile
    from blastflow.backends.local.backend import LocalBackend

    default = Settings(data_dir=tmp_path).poll_interval_s
    local = LocalBackend(Settings(data_dir=tmp_path))
    statuses = [_status(RunState.RUNNING, running=1)] * 8 + [_status(RunState.SUCCESS, succeeded=1)]
    backend = ScriptedBackend(statuses=statuses)
    backend.status_interval_s = local.status_interval_s
    poll(make_ctx(backend, phase=Phase.RUNNING, poll_interval_s=default), run)
    assert clock.slept and max(clock.slept) <= 0.25, clock.slept
    assert clock.now <= 8 * 0.25 + 1e-9, "the success was seen at the first poll after it"
    assert max(default, ElbProfile.model_fields["status_interval_s"].default) >= 60

"""Reconcile: lost runs become failures through the merge, and leave no running step."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from blastflow.merge import JobUpdate, StepUpdate
from blastflow.model import JobRecord, Phase, StepName, StepStatus
from blastflow.reconcile import MISSING, pid_alive, reconcile_jobs, verdict

T0 = datetime(2026, 5, 22, 17, 28, tzinfo=UTC)


def _job(**kw) -> JobRecord:
    return JobRecord(job_id="j", created_at=T0, updated_at=T0, **kw)


def test_verdicts() -> None:
    live = _job(phase=Phase.RUNNING, flow_run_id="r")
    assert verdict(live, now=T0, run_state="CRASHED", process_alive=None, quiet_threshold_s=900).phase is (
        Phase.WORKER_LOST
    )
    assert verdict(live, now=T0, run_state="CANCELLED", process_alive=None, quiet_threshold_s=900).phase is (
        Phase.CANCELLED
    )
    assert verdict(live, now=T0, run_state=MISSING, process_alive=None, quiet_threshold_s=900).phase is (
        Phase.WORKER_LOST
    )
    assert verdict(live, now=T0, run_state="RUNNING", process_alive=False, quiet_threshold_s=900) is not None
    def after(seconds: int):
        return verdict(
            live, now=T0 + timedelta(seconds=seconds), run_state=None, process_alive=None, quiet_threshold_s=900
        )

    quiet = after(901)
    assert quiet is not None and "901 s" in quiet.error
    assert after(899) is None
    done = _job(phase=Phase.COMPLETED)
    assert verdict(done, now=T0, run_state="CRASHED", process_alive=False, quiet_threshold_s=1) is None


def test_pid_alive_tells_a_dead_local_process() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    host = socket.gethostname()
    assert pid_alive(_job(pid=os.getpid(), host=host)) is True
    assert pid_alive(_job(pid=child.pid, host=host)) is False
    assert pid_alive(_job(pid=child.pid, host="another-host")) is None


def test_reconcile_leaves_no_running_step_fix_g(sqlite_store) -> None:
    job_id = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
    sqlite_store.update(job_id, JobUpdate(job_id=job_id, phase=Phase.SUBMITTING, flow_run_id="r"))
    sqlite_store.update(job_id, JobUpdate(steps={StepName.SUBMIT: StepUpdate(lines=["Uploading workfiles"])}))
    written = reconcile_jobs(
        sqlite_store, now=lambda: datetime.now(UTC), run_state=lambda job: "CRASHED", quiet_threshold_s=900
    )
    assert [job.job_id for job in written] == [job_id]
    job = sqlite_store.get(job_id)
    assert job.phase is Phase.WORKER_LOST
    assert all(step.status is not StepStatus.RUNNING for step in job.steps.values())
    assert job.steps[StepName.SUBMIT].source == "orphan_inferred"
    assert "CRASHED" in job.steps[StepName.SUBMIT].error


def test_a_quiet_row_fails_a_job_only_when_neither_its_run_nor_its_process_is_shown_alive() -> None:
    live = _job(phase=Phase.SUBMITTED, flow_run_id="r", pid=4321, host="h")
    hour_later = T0 + timedelta(hours=1)  # four times the quiet threshold

    def quiet(run_state: str | None, process_alive: bool | None) -> JobUpdate | None:
        return verdict(live, now=hour_later, run_state=run_state, process_alive=process_alive, quiet_threshold_s=900)

    for state in ("RUNNING", "PENDING", "SCHEDULED", "PAUSED", "CANCELLING"):
        assert quiet(state, None) is None, f"Prefect says {state}: the run is alive"
        assert quiet(state, True) is None
    assert quiet(None, True) is None, "Prefect cannot be asked, but the flow process runs on this host"
    assert quiet("RUNNING", False).phase is Phase.WORKER_LOST, "Prefect is not told of a killed process"
    lost = quiet(None, None)
    assert lost.phase is Phase.WORKER_LOST and "no state update for 3600 s (threshold 900 s)" in lost.error
    assert quiet("COMPLETED", None).phase is Phase.WORKER_LOST, "a run that ended without ending the job is gone"

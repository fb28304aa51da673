"""A flow process killed with SIGKILL mid-run: reconcile fails the job, no step is left running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from blastflow.backends import get_backend
from blastflow.backends.base import PreparedRun
from blastflow.model import Phase, StepStatus
from blastflow.settings import get_settings
from flows.reconcile import reconcile

ROOT = Path(__file__).resolve().parents[2]


def _start_flow(job_id: str, query: Path, db: Path, env: dict[str, str]) -> subprocess.Popen:
    code = textwrap.dedent(
        f"""
        from flows.blast_search import blast_search
        blast_search(query={str(query)!r}, db={str(db)!r}, program="blastp", batch_len=400, job_id={job_id!r})
        """
    )
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def _wait_for_phase(store, job_id: str, phases: set[Phase], proc: subprocess.Popen, limit_s: float = 240) -> Phase:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        job = store.get(job_id)
        if job is not None and job.phase in phases:
            return job.phase
        assert proc.poll() is None, "the flow ended before reaching the phase to kill it in"
        time.sleep(0.1)
    raise AssertionError(f"job never reached {phases}")


@pytest.mark.parametrize("kill_in", [Phase.SUBMITTED, Phase.RUNNING])
def test_sigkill_then_reconcile_leaves_a_failed_job(pipeline, sample_fasta, prefect_api, kill_in) -> None:
    job_id = {
        Phase.SUBMITTED: "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e",
        Phase.RUNNING: "2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f",
    }[kill_in]
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "BLASTFLOW_MAX_PARALLEL_BATCHES": "1"}
    proc = _start_flow(job_id, sample_fasta["many_prot"], sample_fasta["db_prot"], env)
    try:
        _wait_for_phase(pipeline, job_id, {kill_in}, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        before = pipeline.get(job_id)
        assert not before.is_terminal  # nothing could record the death itself

        marked = reconcile(quiet_threshold_s=900)

        assert job_id in marked
        job = pipeline.get(job_id)
        assert job.phase is Phase.WORKER_LOST
        assert all(step.status is not StepStatus.RUNNING for step in job.steps.values())
        assert "Worker lost" in job.error and str(before.pid) in job.error
        failed = [s for s in job.steps.values() if s.status is StepStatus.FAILED]
        assert failed and all(s.source == "orphan_inferred" and s.error == job.error for s in failed)
    finally:
        if proc.poll() is None:
            proc.kill()
        run_dir = get_settings().job_dir(job_id)
        if (run_dir / "run.json").exists():  # stop the detached supervisor the dead flow left behind
            get_backend("local").cancel(PreparedRun.load(run_dir))

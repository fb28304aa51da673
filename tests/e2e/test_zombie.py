"""A run whose worker dies: the heartbeat automation crashes it in Prefect, reconcile fails its job (worker_lost).

The worker and the flow-run process are SIGKILLed mid-run, so nothing on the machine can report the loss:
Prefect only learns of it from the missing heartbeats, then `blastflow reconcile` carries it to the job row.
Takes about ZOMBIE_WITHIN_S (120 s) longer than the search itself: the window Prefect needs to tell a silent
run from a slow one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from blastflow.backends import get_backend
from blastflow.model import Phase, StepStatus
from blastflow.search import PreparedRun
from blastflow.store import open_store
from ops.prefect_admin import ZOMBIE_WITHIN_S
from tests.e2e.local_stack import LocalStack, wait_for_final_state

pytestmark = pytest.mark.e2e

# One batch at a time, many small batches: the search is still running when its worker is killed.
STACK_ENV = {"BLASTFLOW_MAX_PARALLEL_BATCHES": "1"}
LIVE = {Phase.SUBMITTED, Phase.RUNNING}


def test_a_run_whose_worker_dies_ends_crashed_in_prefect_and_worker_lost_on_the_page(
    local_stack: LocalStack, sample_fasta
) -> None:
    parameters = {"query": str(sample_fasta["many_prot"]), "db": str(sample_fasta["db_prot"]), "program": "blastp",
                  "batch_len": 400, "title": "zombie"}
    with local_stack.client() as client:
        deployment = client.read_deployment_by_name("blast-search/blast-search")
        run = client.create_flow_run_from_deployment(deployment.id, parameters=parameters)
    store = open_store(local_stack.store_url)
    job_id = str(run.id)
    try:
        job = _wait_for_job(store, job_id, LIVE)

        # The machine goes: first the worker (so it cannot report its child's death), then the flow run.
        os.killpg(local_stack.status.worker_pid, signal.SIGKILL)
        os.killpg(job.pid, signal.SIGKILL)
        assert not store.get(job_id).is_terminal  # nothing could record the loss

        crashed = wait_for_final_state(local_stack, run.id, timeout_s=ZOMBIE_WITHIN_S + 120)
        assert crashed.state.is_crashed(), f"{crashed.state.type}: {crashed.state.message}"
        assert crashed.state.message.startswith(f"No heartbeat for {ZOMBIE_WITHIN_S} s")

        reconciled = _blastflow_reconcile(local_stack)
        assert job_id in reconciled.stdout, reconciled.stdout + reconciled.stderr
        job = store.get(job_id)
        assert job.phase is Phase.WORKER_LOST
        assert f"the Prefect flow run {job_id} ended CRASHED" in job.error
        assert all(step.status is not StepStatus.RUNNING for step in job.steps.values())
    finally:
        run_dir = local_stack.data_dir / "jobs" / job_id
        if (run_dir / "run.json").exists():  # the detached BLAST supervisor outlives its flow: stop it
            get_backend("local").cancel(PreparedRun.load(run_dir))
        store.close()


def _wait_for_job(store, job_id: str, phases: set[Phase], timeout_s: float = 180.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = store.get(job_id)
        if job is not None and job.phase in phases:
            return job
        assert job is None or not job.is_terminal, f"the job ended {job.phase.value} before it could be killed"
        time.sleep(0.2)
    pytest.fail(f"job {job_id} never reached {sorted(p.value for p in phases)}")


def _blastflow_reconcile(local: LocalStack) -> subprocess.CompletedProcess[str]:
    """`blastflow reconcile` as a user runs it against the stack (the scheduled deployment does the same)."""
    env = {**os.environ, **local.env, "PREFECT_API_URL": local.api_url, "BLASTFLOW_DATA_DIR": str(local.data_dir)}
    command = [sys.executable, "-m", "ops.cli", "reconcile"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=180, check=True)

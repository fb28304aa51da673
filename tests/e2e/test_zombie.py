"""A run whose worker dies: the heartbeat automation crashes it in Prefect, reconcile fails its job (worker_lost).

The worker and the flow-run process are SIGKILLed mid-run, so nothing on the machine can report the loss:
Prefect only learns of it from the missing heartbeats. The Crashed event then makes the reconcile automation
create a reconcile run for that flow run at once (not at the 900 s schedule); it runs when the worker is back
and carries the loss to the job row. Takes about ZOMBIE_WITHIN_S (120 s) longer than the search itself: the
window Prefect needs to tell a silent run from a slow one.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from blastflow.backends import get_backend
from blastflow.model import Phase, StepStatus
from blastflow.search import PreparedRun
from blastflow.store import open_store
from ops import stack
from ops.prefect_admin import RECONCILE_AUTOMATION, RECONCILE_DEPLOYMENT, ZOMBIE_WITHIN_S, PrefectApi
from ops.stack_files import StackFiles
from tests.e2e.local_stack import STACK_TIMEOUT_S, LocalStack, wait_for_final_state

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

        # The Crashed event, not the schedule, asks for reconcile: a run of the reconcile deployment, made by
        # the automation, for this flow run. It waits for a worker: nothing has settled the job yet.
        settler = _reconcile_run_for(local_stack, job_id)
        assert (settler.created_by.type, settler.created_by.display_value) == ("AUTOMATION", RECONCILE_AUTOMATION)
        assert not store.get(job_id).is_terminal

        _the_worker_comes_back(local_stack)
        settled = wait_for_final_state(local_stack, settler.id)
        assert settled.state.is_completed(), f"{settled.state.type}: {settled.state.message}"
        job = store.get(job_id)
        assert job.phase is Phase.WORKER_LOST
        assert f"the Prefect flow run {job_id} ended CRASHED" in job.error
        assert all(step.status is not StepStatus.RUNNING for step in job.steps.values())
        assert f"job {job_id} marked worker_lost" in _logs_of(local_stack, settler.id)  # that run settled it
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


def _reconcile_run_for(local: LocalStack, flow_run_id: str, timeout_s: float = 60.0):
    """The reconcile deployment's flow run whose `flow_run_id` parameter names this run (the automation's)."""
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    deadline = time.monotonic() + timeout_s
    with local.client() as client:
        deployment = client.read_deployment_by_name(RECONCILE_DEPLOYMENT)
        only_reconcile = DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id]))
        while time.monotonic() < deadline:
            runs = client.read_flow_runs(deployment_filter=only_reconcile)
            mine = [run for run in runs if run.parameters == {"flow_run_id": flow_run_id}]
            if mine:
                assert len(mine) == 1, f"{len(mine)} reconcile runs for one crash"
                return mine[0]
            time.sleep(1.0)
    pytest.fail(f"no reconcile run for flow run {flow_run_id} within {timeout_s:g} s of its crash; "
                f"reconcile runs: {[(run.name, run.parameters) for run in runs]}")


def _the_worker_comes_back(local: LocalStack) -> int:
    """The machine is back: the stack's worker starts again, with the environment and checks `blastflow up` uses.

    Only the worker: a whole `up` would redeploy, and a redeployed interval schedule starts from now, so a
    scheduled reconcile could settle the job before the automation's run does.
    """
    data_dir = local.data_dir.resolve()
    files = StackFiles.of(data_dir)
    api = PrefectApi(local.api_url)
    env = {**stack._child_env(files, data_dir, {**os.environ, **local.env}), **api.env()}
    return stack._restart_worker(files, api, env, local.log.append, STACK_TIMEOUT_S)


def _logs_of(local: LocalStack, flow_run_id, timeout_s: float = 30.0) -> str:
    """The flow run's log as the Prefect UI shows it (the last lines reach the API shortly after the run ends)."""
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    deadline = time.monotonic() + timeout_s
    with local.client() as client:
        while True:
            logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
            text = "\n".join(log.message for log in logs)
            if "reconcile: " in text or time.monotonic() > deadline:  # its last line: "reconcile: N job(s) ..."
                return text
            time.sleep(1.0)

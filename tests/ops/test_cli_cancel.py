"""`blastflow cancel JOB`: the job ends cancelled with no running step, and none of its processes is left.

Directly when no worker-run flow run can end the job (the phase through the merge, then the backend work
stopped), else through Prefect: the flow run is set to Cancelling and its on_cancellation hook ends the job.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from blastflow.backends.local.backend import LocalBackend
from blastflow.cleanup import LOG_PREFIX
from blastflow.merge import JobUpdate
from blastflow.model import Phase, StepName, StepStatus
from blastflow.search import SearchSpec
from blastflow.settings import get_settings
from blastflow.steps.prepare import check_search
from blastflow.store import open_store
from ops.cli import app
from tests.doubles.faultkit import command_line, live_pids, wait_for

JOB = "5f6a7b8c-9d0e-4f1a-8b2c-3d4e5f6a7b8c"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """The CLI's store and data dir (from the environment, as `blastflow` reads them)."""
    from tasks.context import store as flow_store

    monkeypatch.setenv("BLASTFLOW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BLASTFLOW_STORE_URL", f"sqlite:///{tmp_path / 'state.db'}")
    monkeypatch.setenv("BLASTFLOW_MAX_PARALLEL_BATCHES", "2")
    get_settings.cache_clear()
    flow_store.cache_clear()
    jobs = open_store()
    yield jobs
    jobs.close()
    flow_store.cache_clear()
    get_settings.cache_clear()


def job_processes(job_dir: Path) -> list[int]:
    """Live processes (zombies count as gone) whose command line names `job_dir`."""
    pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    return [pid for pid in live_pids(pids) if str(job_dir) in command_line(pid)]


def test_a_job_without_a_flow_run_is_cancelled_directly_and_its_blast_stopped(store, sample_fasta) -> None:
    settings = get_settings()
    spec = SearchSpec(program="blastp", query=str(sample_fasta["many_prot"]), db=str(sample_fasta["db_prot"]),
                      batch_len=400)  # fmt: skip
    backend = LocalBackend(settings)
    run = backend.prepare(JOB, check_search(spec), settings.job_dir(JOB))
    store.update(JOB, JobUpdate(job_id=JOB, phase=Phase.RUNNING, backend="local"))
    try:
        subprocess.run(backend.submit_command(run), cwd=run.workdir, check=True, capture_output=True, timeout=60)
        wait_for(lambda: any(" -query " in command_line(pid) for pid in job_processes(run.workdir)), "BLAST runs")

        result = CliRunner().invoke(app, ["cancel", JOB])

        assert result.exit_code == 0, result.output
        assert f"Job {JOB} cancelled; backend work: stopped the supervisor (pid " in result.output
        assert job_processes(run.workdir) == [], "no supervisor and no BLAST process of the job is left"
        job = store.get(JOB)
        assert job.phase is Phase.CANCELLED and job.error == "Cancelled: `blastflow cancel`"
        assert all(step.status is not StepStatus.RUNNING for step in job.steps.values())
        said = [line.text for line in store.read_logs(JOB, StepName.RUN).lines]
        assert len(said) == 1 and said[0].startswith(LOG_PREFIX + "stopped the supervisor"), said
    finally:
        backend.cancel(run)


def test_an_ended_or_unknown_job_is_not_cancelled(store) -> None:
    store.update(JOB, JobUpdate(job_id=JOB, phase=Phase.COMPLETED))
    done = CliRunner().invoke(app, ["cancel", JOB])
    assert done.exit_code == 0 and "has already ended (completed): nothing to cancel" in done.output
    assert store.get(JOB).phase is Phase.COMPLETED
    missing = CliRunner().invoke(app, ["cancel", "6a7b8c9d-0e1f-4a2b-9c3d-4e5f6a7b8c9d"])
    assert missing.exit_code == 1 and "no job '6a7b8c9d-0e1f-4a2b-9c3d-4e5f6a7b8c9d'" in missing.output


def _worker_run(job_id: str) -> object:
    """A running flow run of a blast-search deployment, as a worker runs it (on Prefect's test server)."""
    from prefect.client.orchestration import get_client
    from prefect.states import Running

    with get_client(sync_client=True) as client:
        deployment = client.create_deployment(flow_id=client.create_flow_from_name("blast-search"), name="cancel-test")
        run = client.create_flow_run_from_deployment(deployment, parameters={"job_id": job_id})
        client.set_flow_run_state(run.id, Running(), force=True)
        return run


def _run_state(run_id: object) -> str:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(run_id).state.type.value


def _act_as_the_runner(run_id: object, stop: threading.Event) -> None:
    """What a worker's runner does when its run turns Cancelling: stop the process, run on_cancellation."""
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelled

    from flows.blast_search import blast_search
    from flows.hooks import on_cancellation

    with get_client(sync_client=True) as client:
        while not stop.is_set():
            run = client.read_flow_run(run_id)
            if run.state.type.value == "CANCELLING":
                on_cancellation(blast_search, run, run.state)
                client.set_flow_run_state(run_id, Cancelled(message="cancelled by the runner"), force=True)
                return
            time.sleep(0.2)


def test_a_worker_run_job_is_cancelled_through_prefect(store, prefect_api) -> None:
    run = _worker_run(JOB)
    store.update(JOB, JobUpdate(job_id=JOB, phase=Phase.PREPARING, flow_run_id=str(run.id)))
    stop = threading.Event()
    runner = threading.Thread(target=_act_as_the_runner, args=(run.id, stop), daemon=True)
    runner.start()
    try:
        result = CliRunner().invoke(app, ["cancel", JOB, "--wait", "60"])
    finally:
        stop.set()
        runner.join(timeout=10)
    assert result.exit_code == 0, result.output
    assert f"Asked Prefect to cancel flow run {run.id}" in result.output
    assert f"Job {JOB} cancelled: its flow run stopped the backend work" in result.output
    assert _run_state(run.id) == "CANCELLED"
    job = store.get(JOB)
    assert job.phase is Phase.CANCELLED and job.error == "Cancelled: cancelled with `blastflow cancel`"


def test_a_cancel_no_worker_acts_on_is_finished_directly(store, prefect_api) -> None:
    run = _worker_run(JOB)
    store.update(JOB, JobUpdate(job_id=JOB, phase=Phase.QUEUED, flow_run_id=str(run.id)))

    result = CliRunner().invoke(app, ["cancel", JOB, "--wait", "1"])

    assert result.exit_code == 0, result.output
    assert "The flow run did not end the job within 1 s: cancelling it here" in result.output
    assert _run_state(run.id) == "CANCELLING", "left for a worker to act on when it can"
    job = store.get(JOB)
    assert job.phase is Phase.CANCELLED and job.error == "Cancelled: `blastflow cancel`"
    assert "backend work: nothing was prepared, so no backend work to stop" in result.output

"""The same flow on the elastic-blast backend, end to end over the doubles.

The doubles (tests/doubles: a fake `elastic-blast` CLI running real BLAST+, a
fake Kubernetes API server the real client talks to, Azurite for the result
blobs) stand in for a cluster; the flow, tasks, steps and backend are the
production code. Each case must end in the right terminal phase, with no
running step and the real cause in `job.error`.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from blastflow.errors import BackendError, SubmitError, TimedOut
from blastflow.hits import read_hits
from blastflow.model import Phase, StepName, StepStatus
from blastflow.settings import get_settings
from flows.blast_search import blast_search
from tests.doubles.elb_doubles import PROT_DB, ElbWorld, first_records

pytestmark = pytest.mark.azurite


def _search(job_id: str, **overrides: object) -> dict[str, object]:
    params: dict[str, object] = {
        "query": first_records("prot", 6),
        "db": PROT_DB,
        "program": "blastp",
        "batch_len": 300,
        "backend": "elastic-blast",
        "job_id": job_id,
    }
    return blast_search(**{**params, **overrides})


def _no_step_running(job) -> bool:
    return all(step.status is not StepStatus.RUNNING for step in job.steps.values())


def test_a_fork_search_completes_with_the_hits_of_the_same_search_run_locally(
    pipeline, elb_world: ElbWorld, elb_blast_dbs: Path
) -> None:
    """The Azure fork's layout (`<results>/<elb_job_id>/` in Azurite), archives made by real BLAST+ in its pods."""
    job_id, local_id = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c00"
    _search(local_id, db=str(elb_blast_dbs / PROT_DB), backend="local")
    result = _search(job_id)
    job = pipeline.get(job_id)
    assert job.phase is Phase.COMPLETED and result["hits"] > 0
    fork_hits = read_hits(get_settings().job_dir(job_id) / "results" / "hits.tsv")
    assert fork_hits == read_hits(get_settings().job_dir(local_id) / "results" / "hits.tsv")  # every row
    assert result["hits"] == len(fork_hits)
    assert all(step.status is StepStatus.COMPLETED for step in job.steps.values())
    assert job.backend == "elastic-blast" and job.pod_logs == "captured"
    submit_lines = [line.text for line in pipeline.read_logs(job_id, StepName.SUBMIT).lines]
    assert any("INFO: Splitting queries into batches" in line for line in submit_lines)
    assert all("\x1b" not in line for line in submit_lines)


# The Azure fork's failing batch restarts in its pod (restartPolicy OnFailure, backoffLimit 5:
# blast-batch-job-aks.yaml.template:113-114) and its pod is deleted when the Job fails; the fork's status then says
# only the failure sentence. BLAST's error reaches job.error from <results>/<elb_job_id>/metadata/FAILURE.txt.
def test_blast_failure_records_the_blast_error(pipeline, elb_world: ElbWorld) -> None:
    job_id = "b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d6e"
    elb_world.scenario("blast_failure")
    with pytest.raises(BackendError):
        _search(job_id)
    job = pipeline.get(job_id)
    assert job.phase is Phase.FAILED and _no_step_running(job)
    assert "BLAST Database error" in job.error
    assert job.steps[StepName.RUN].status is StepStatus.FAILED


def test_submit_failure_is_submit_failed_with_the_child_error(pipeline, elb_world: ElbWorld) -> None:
    job_id = "c3d4e5f6-a7b8-4c9d-8e1f-2a3b4c5d6e7f"
    elb_world.scenario("submit_failure")
    with pytest.raises(SubmitError):
        _search(job_id)
    job = pipeline.get(job_id)
    assert job.phase is Phase.SUBMIT_FAILED and _no_step_running(job)
    # The fork reports a refused AKS cluster creation as a cluster error, exit 8 (azure.py:238-241).
    assert job.error.startswith(
        "elastic-blast submit exited with code 8 (cluster error, or the results location was already used by another "
        "search): "
    )
    assert "ERROR: Failed to create AKS cluster" in job.error and "QuotaExceeded" in job.error
    assert job.steps[StepName.SUBMIT].status is StepStatus.FAILED
    assert job.steps[StepName.WAIT_FOR_PODS].status is StepStatus.PENDING


def test_a_pod_that_never_starts_times_out_with_the_cluster_reason(pipeline, elb_world, monkeypatch) -> None:
    from blastflow.settings import get_settings

    monkeypatch.setenv("BLASTFLOW_WAIT_FOR_PODS_TIMEOUT_S", "3")
    get_settings.cache_clear()
    job_id = "d4e5f6a7-b8c9-4d0e-9f2a-3b4c5d6e7f80"
    elb_world.scenario("never_starts")
    with pytest.raises(TimedOut):
        _search(job_id)
    job = pipeline.get(job_id)
    assert job.phase is Phase.TIMED_OUT and _no_step_running(job)
    assert "no pod started within 3 s" in job.error and "ImagePullBackOff" in job.error
    assert job.steps[StepName.WAIT_FOR_PODS].status is StepStatus.FAILED


def test_lost_cluster_credentials_mid_run(pipeline, elb_world: ElbWorld, monkeypatch) -> None:
    from blastflow.settings import get_settings

    monkeypatch.setenv("BLASTFLOW_RUN_TIMEOUT_S", "10")  # the flow ends even while it keeps reading SUBMITTING
    get_settings.cache_clear()
    job_id = "e5f6a7b8-c9d0-4e1f-8a3b-4c5d6e7f8091"
    elb_world.cluster.configure(running_ticks=10_000)  # keeps the pods running until the credentials go
    outcome: dict[str, BaseException] = {}

    def run() -> None:
        try:
            _search(job_id)
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        job = pipeline.get(job_id)
        if job is not None and job.phase is Phase.RUNNING:
            break
        time.sleep(0.1)
    elb_world.k8s.revoke_credentials()
    thread.join(timeout=180)
    assert isinstance(outcome.get("error"), BackendError)
    job = pipeline.get(job_id)
    assert job.phase is Phase.FAILED and _no_step_running(job)
    assert "cluster credentials rejected" in job.error
    assert job.steps[StepName.RUN].status is StepStatus.FAILED


@pytest.mark.parametrize(("empty_reads", "expected"), [(6, "captured"), (10_000, "unavailable")])
def test_empty_pod_logs_at_finalize_are_retried(pipeline, elb_world: ElbWorld, empty_reads, expected) -> None:
    job_id = {
        "captured": "f6a7b8c9-d0e1-4f2a-9b4c-5d6e7f809102",
        "unavailable": "0a7b8c9d-e1f2-4a3b-8c5d-6e7f80910213",
    }[expected]
    elb_world.cluster.configure(empty_log_reads=empty_reads)  # containers that have not flushed their logs yet
    _search(job_id)
    job = pipeline.get(job_id)
    assert job.phase is Phase.COMPLETED and job.pod_logs == expected
    finalize_lines = [line.text for line in pipeline.read_logs(job_id, StepName.FINALIZE).lines]
    retries = [line for line in finalize_lines if line.startswith("No pod log readable yet")]
    if expected == "captured":
        # 3 batches, 2 containers each: the first read of all 6 is empty, the second finds them.
        assert job.steps[StepName.PREPARE].counters["batches"] == 3
        assert retries == ["No pod log readable yet (attempt 1 of 3); retrying in 0 s"]
        assert any(line.startswith("── ") for line in (x.text for x in pipeline.read_logs(job_id, StepName.RUN).lines))
    else:
        assert len(retries) == 2
        before_alignments = [line for line in finalize_lines if not line.startswith("Alignments")]  # those come
        assert before_alignments[-1] == "Pod logs unavailable: none could be read after 3 attempts"  # once completed

"""The reconcile flow: a lost job is failed, and its backend work stopped, or kept for resume when so set."""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid

import pytest

from blastflow.backends.local.backend import LocalBackend
from blastflow.backends.local.run_files import RunFiles
from blastflow.cleanup import KEPT_FOR_RESUME, LOG_PREFIX
from blastflow.errors import InputError
from blastflow.merge import JobUpdate
from blastflow.model import Phase, StepName
from blastflow.search import SearchSpec
from blastflow.settings import get_settings
from blastflow.steps.prepare import check_search
from flows.reconcile import reconcile

JOB = "7b8c9d0e-1f2a-4b3c-8d4e-5f6a7b8c9d0e"


def test_reconcile_keeps_the_work_of_a_lost_job_for_resume_when_set(
    pipeline, sample_fasta, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BLASTFLOW_RECONCILE_KEEP_WORK", "true")
    get_settings.cache_clear()
    settings = get_settings()
    spec = SearchSpec(program="blastp", query=str(sample_fasta["query_prot"]), db=str(sample_fasta["db_prot"]))
    run = LocalBackend(settings).prepare(JOB, check_search(spec), settings.job_dir(JOB))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    pipeline.update(JOB, JobUpdate(job_id=JOB, phase=Phase.RUNNING, pid=gone.pid, host=socket.gethostname()))

    assert reconcile(quiet_threshold_s=900) == [JOB]

    assert pipeline.get(JOB).phase is Phase.WORKER_LOST
    assert not RunFiles(run.workdir).cancel.exists(), "the backend was not asked to stop anything"
    said = [line.text for line in pipeline.read_logs(JOB, StepName.RUN).lines]
    assert said == [LOG_PREFIX + KEPT_FOR_RESUME]


# -- settling one flow run (what the automation on ended blast-search runs asks for) -------------------------


def _live_job(store, flow_run_id: str) -> str:
    """A running job of a flow run Prefect has never heard of (reconcile: MISSING, worker_lost)."""
    job_id = str(uuid.uuid4())
    store.update(job_id, JobUpdate(job_id=job_id, phase=Phase.RUNNING, flow_run_id=flow_run_id,
                                   host=socket.gethostname(), source="flow"))
    return job_id


def test_a_flow_run_id_settles_only_the_job_that_run_runs(pipeline) -> None:
    ended, other = str(uuid.uuid4()), str(uuid.uuid4())
    ended_job, other_job = _live_job(pipeline, ended), _live_job(pipeline, other)

    assert reconcile(flow_run_id=ended.upper()) == [ended_job]  # any spelling of the UUID
    assert pipeline.get(ended_job).phase is Phase.WORKER_LOST
    assert not pipeline.get(other_job).is_terminal
    assert reconcile() == [other_job]  # without it: every live job, as the schedule runs it


def test_a_flow_run_id_that_is_no_uuid_is_refused_with_the_fix(pipeline) -> None:
    refused = r"flow_run_id 'prefect.flow-run.x' is not a Prefect flow run id .*leave it empty"
    with pytest.raises(InputError, match=refused):
        reconcile.fn(flow_run_id="prefect.flow-run.x")

"""Stopping a job's backend work after it was cancelled or failed by reconcile: said, never raised."""

from __future__ import annotations

from pathlib import Path

import pytest

from blastflow.backends.elastic_blast.config import ElbSearch, build_config, render_config
from blastflow.backends.elastic_blast.profile import ElbProfile
from blastflow.backends.local.backend import LocalBackend
from blastflow.backends.local.run_files import RunFiles
from blastflow.cleanup import KEPT_FOR_RESUME, LOG_PREFIX, cancel_job, stop_work
from blastflow.merge import JobUpdate
from blastflow.model import Phase, StepName, StepStatus
from blastflow.search import PreparedRun, SearchSpec
from blastflow.settings import Settings
from blastflow.steps.prepare import check_search
from blastflow.store import open_store

JOB = "3c2b1a09-8f7e-4d6c-9b5a-4e3d2c1b0a98"


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Settings, object]:
    settings = Settings(data_dir=tmp_path / "data", store_url=f"sqlite:///{tmp_path / 'state.db'}")
    return settings, open_store(settings=settings)


def test_a_job_that_never_prepared_has_nothing_to_stop(setup) -> None:
    settings, store = setup
    assert stop_work(JOB, store, settings) == "nothing was prepared, so no backend work to stop"


def test_a_prepared_local_run_is_cancelled_and_its_batches_kept(setup, sample_fasta) -> None:
    settings, store = setup
    spec = SearchSpec(program="blastp", query=str(sample_fasta["query_prot"]), db=str(sample_fasta["db_prot"]))
    run = LocalBackend(settings).prepare(JOB, check_search(spec), settings.job_dir(JOB))

    assert stop_work(JOB, store, settings) == "no supervisor was running: nothing to stop"
    assert RunFiles(run.workdir).cancel.exists() and all(batch.path.is_file() for batch in run.batches)


def test_a_failing_stop_is_reported_not_raised(setup, monkeypatch: pytest.MonkeyPatch) -> None:
    settings, store = setup
    monkeypatch.setenv("BLASTFLOW_ELB_EXECUTABLE", "no-such-elastic-blast")
    workdir = settings.job_dir(JOB)
    workdir.mkdir(parents=True)
    profile = ElbProfile(gcp_project="p", gcp_region="us-east4", gcp_zone="us-east4-b")
    config = workdir / "elastic-blast.ini"
    config.write_text(render_config(build_config(ElbSearch("blastp", "swissprot", "q.fa", "gs://b/r"), profile)))
    PreparedRun(job_id=JOB, backend="elastic-blast", program="blastp", workdir=workdir, config_path=config,
                database="swissprot", database_label="swissprot", molecule="prot",
                results_location="gs://b/r").save()  # fmt: skip

    outcome = stop_work(JOB, store, settings)

    assert outcome.startswith("could not stop the backend work: 'no-such-elastic-blast' was not found")


def _log(store, step: StepName) -> list[str]:
    return [line.text for line in store.read_logs(JOB, step).lines]


def test_what_was_stopped_is_a_line_of_the_job_log_under_the_step_it_stopped_at(setup) -> None:
    settings, store = setup
    store.update(JOB, JobUpdate(job_id=JOB, phase=Phase.SUBMITTED))
    store.update(JOB, JobUpdate(phase=Phase.WORKER_LOST, error="Worker lost: gone"))

    outcome = stop_work(JOB, store, settings)

    assert _log(store, StepName.WAIT_FOR_PODS) == [LOG_PREFIX + outcome]
    assert store.get(JOB).steps[StepName.WAIT_FOR_PODS].last_output == LOG_PREFIX + outcome  # the page's tail too


def test_work_kept_for_resume_is_left_alone_and_said_so(setup, sample_fasta) -> None:
    settings, store = setup
    spec = SearchSpec(program="blastp", query=str(sample_fasta["query_prot"]), db=str(sample_fasta["db_prot"]))
    run = LocalBackend(settings).prepare(JOB, check_search(spec), settings.job_dir(JOB))
    store.update(JOB, JobUpdate(job_id=JOB, phase=Phase.RUNNING))
    store.update(JOB, JobUpdate(phase=Phase.WORKER_LOST, error="Worker lost: gone"))

    assert stop_work(JOB, store, settings, keep_running=True) == KEPT_FOR_RESUME
    assert not RunFiles(run.workdir).cancel.exists(), "nothing was asked of the backend"
    assert _log(store, StepName.RUN) == [LOG_PREFIX + KEPT_FOR_RESUME]


def test_a_job_cancelled_directly_ends_cancelled_with_no_running_step(setup) -> None:
    settings, store = setup
    store.update(JOB, JobUpdate(job_id=JOB, phase=Phase.SUBMITTING))

    job, outcome = cancel_job(JOB, store, settings, by="`blastflow cancel`")

    assert job.phase is Phase.CANCELLED and job.error == "Cancelled: `blastflow cancel`"
    assert all(step.status is not StepStatus.RUNNING for step in job.steps.values())
    assert job.steps[StepName.SUBMIT].status is StepStatus.FAILED
    assert _log(store, StepName.SUBMIT) == [LOG_PREFIX + outcome]

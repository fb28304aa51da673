"""`blastflow status JOB [--json]`: one job's record in words or as JSON; the stack's status is `stack status`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from blastflow.merge import JobUpdate, StepUpdate
from blastflow.model import Phase, StepName, StepStatus
from blastflow.settings import get_settings
from blastflow.store import open_store
from ops.cli import app

JOB = "0d1e2f3a-4b5c-4d6e-8f7a-9b0c1d2e3f4a"
OTHER = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
runner = CliRunner()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """The CLI's store and data dir, from the environment as `blastflow` reads them."""
    monkeypatch.setenv("BLASTFLOW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BLASTFLOW_STORE_URL", f"sqlite:///{tmp_path / 'state.db'}")
    get_settings.cache_clear()
    with open_store() as opened:
        yield opened
    get_settings.cache_clear()


@pytest.fixture
def failed_job(store) -> str:
    """A job that prepared, submitted, then failed in its BLAST run with 3 of 8 batches done."""
    store.update(JOB, JobUpdate(job_id=JOB, title="all vs all", program="blastp", database="prot.fasta",
                                query_count=1189, query_length=512_000, phase=Phase.PREPARING))
    for phase, step, message in ((Phase.SUBMITTING, StepName.PREPARE, "1189 queries in 8 batches"),
                                 (Phase.RUNNING, StepName.SUBMIT, "8 batches submitted")):
        store.update(JOB, JobUpdate(phase=phase, steps={step: StepUpdate(status=StepStatus.COMPLETED,
                                                                         message=message)}))
    store.update(JOB, JobUpdate(phase=Phase.FAILED, error="BLAST exited 2 in batch 3", error_code="blast_failed",
                                steps={StepName.RUN: StepUpdate(status=StepStatus.FAILED, message="3 of 8 batches done",
                                                                counters={"succeeded": 3, "failed": 5})}))
    return JOB


def test_status_job_says_phase_error_counts_and_each_step(failed_job: str) -> None:
    done = runner.invoke(app, ["status", failed_job])
    assert done.exit_code == 0, done.output
    assert f"Job {failed_job}: all vs all" in done.output
    assert "failed (failed) after" in done.output and "blastp vs prot.fasta" in done.output
    assert "queries: 1,189 (512,000 residues)" in done.output
    assert "error: BLAST exited 2 in batch 3" in done.output
    assert "Prepare run" in done.output and "— 1189 queries in 8 batches" in done.output
    assert "BLAST run          failed" in done.output and "— 3 of 8 batches done" in done.output


def test_status_json_is_one_object_with_the_steps_in_pipeline_order(store, failed_job: str) -> None:
    done = runner.invoke(app, ["status", failed_job, "--json"])
    assert done.exit_code == 0, done.output
    doc = json.loads(done.stdout)
    assert (doc["job_id"], doc["phase"], doc["status"], doc["error_code"]) == (
        failed_job, "failed", "failed", "blast_failed")
    assert (doc["query_count"], doc["program"], doc["backend"]) == (1189, "blastp", "local")
    steps = doc["steps"]
    assert [s["name"] for s in steps] == ["prepare", "submit", "wait_for_pods", "run", "finalize"]
    assert [s["status"] for s in steps] == ["completed", "completed", "pending", "failed", "pending"]
    assert steps[3]["message"] == "3 of 8 batches done" and steps[3]["counters"] == {"succeeded": 3, "failed": 5}
    stored = store.get(failed_job).steps
    assert [s["duration_s"] for s in steps] == [
        None if stored[name].duration_ms is None else stored[name].duration_ms / 1000 for name in stored]
    assert steps[0]["duration_s"] is not None  # a completed step has its duration


def test_status_of_an_unknown_job_exits_1_naming_it(store) -> None:
    for argv in (["status", OTHER], ["status", OTHER, "--json"]):
        done = runner.invoke(app, argv)
        assert done.exit_code == 1
        assert f"no job {OTHER!r}" in done.output and not done.stdout.lstrip().startswith("{")


def test_bare_status_exits_2_pointing_to_stack_status(store) -> None:
    done = runner.invoke(app, ["status"])
    assert done.exit_code == 2
    assert "status needs a job id; the stack's status is `blastflow stack status`" in done.output


def test_stack_status_reports_a_stack_that_is_not_running(store) -> None:
    done = runner.invoke(app, ["stack", "status"])
    assert done.exit_code == 0, done.output
    assert "The local Prefect stack is not running: start it with `blastflow up`." in done.output
    shortcuts = runner.invoke(app, ["--help"]).output
    assert " up " in shortcuts and " down " in shortcuts and " stack " in shortcuts

"""`job_status`: the job record as `blastflow status JOB --json` prints it, steps in pipeline order."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from blastflow.job_status import elapsed_s, job_status
from blastflow.model import STEP_LABELS, JobRecord, Phase, StepName, StepState, StepStatus, status_for_phase

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _job(phase: Phase, **fields: object) -> JobRecord:
    return JobRecord(job_id="4f7c1e0a-0000-4000-8000-000000000001", title="all vs all", program="blastp",
                     database="prot.fasta", query_count=1189, query_length=500_000, created_at=T0,
                     updated_at=T0 + timedelta(seconds=42), phase=phase, status=status_for_phase(phase), **fields)


def _steps() -> dict[StepName, StepState]:
    return {
        StepName.PREPARE: StepState(status=StepStatus.COMPLETED, duration_ms=1500, message="1189 queries"),
        StepName.SUBMIT: StepState(status=StepStatus.COMPLETED, duration_ms=250),
        StepName.WAIT_FOR_PODS: StepState(status=StepStatus.SKIPPED),
        StepName.RUN: StepState(status=StepStatus.FAILED, duration_ms=30_000, message="3 of 8 batches done",
                                counters={"succeeded": 3, "failed": 5}),
    }


def test_a_failed_job_carries_its_error_and_every_step_in_order() -> None:
    job = _job(Phase.FAILED, error="BLAST exited 2: bad option", error_code="blast_failed", steps=_steps(),
               results_location="/data/results/j", resume_count=1)
    doc = json.loads(json.dumps(job_status(job, T0 + timedelta(hours=5))))  # survives JSON as it is
    assert (doc["phase"], doc["status"], doc["error"], doc["error_code"]) == (
        "failed", "failed", "BLAST exited 2: bad option", "blast_failed")
    assert doc["elapsed_s"] == 42.0  # an ended job's time is its own, not the clock's
    assert (doc["query_count"], doc["results_location"], doc["resume_count"]) == (1189, "/data/results/j", 1)
    assert doc["created_at"] == "2026-01-01T12:00:00+00:00"
    assert [s["name"] for s in doc["steps"]] == ["prepare", "submit", "wait_for_pods", "run", "finalize"]
    run = doc["steps"][3]
    assert run == {"name": "run", "label": STEP_LABELS[StepName.RUN], "status": "failed", "duration_s": 30.0,
                   "message": "3 of 8 batches done", "counters": {"succeeded": 3, "failed": 5}}
    assert doc["steps"][4] == {"name": "finalize", "label": "Finalize & export", "status": "pending",
                               "duration_s": None, "message": None, "counters": {}}


def test_a_live_job_counts_elapsed_time_to_now() -> None:
    job = _job(Phase.RUNNING)
    assert elapsed_s(job, T0 + timedelta(minutes=2)) == 120.0
    assert job_status(job, T0 + timedelta(minutes=2))["elapsed_s"] == 120.0
    assert elapsed_s(job, T0 - timedelta(seconds=5)) == 0.0  # a clock behind the row's never goes negative

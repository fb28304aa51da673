"""Jobs for the view-model tests, built through the merge as the flow builds them (and two rows it never would)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from blastflow.merge import JobUpdate, StepUpdate, merge
from blastflow.model import JobRecord, JobStatus, Phase, StepName, new_job_id

T0 = datetime(2026, 5, 22, 17, 28, 4, tzinfo=UTC)
ATTRIBUTE_ERROR = "AttributeError: module 'x' has no attribute '_tail_text'"
BENIGN = "\x1b[33m[parallel-prep] running 4 azcopy checks concurrently\x1b[0m"


def make_job(*updates: JobUpdate, start: datetime = T0, step_s: float = 1.5) -> JobRecord:
    """The job after `updates`, merged `step_s` seconds apart from `start` (a new job id unless the first names one)."""
    job = None
    for i, update in enumerate(updates):
        if i == 0 and update.job_id is None:
            update = update.model_copy(update={"job_id": new_job_id()})
        job = merge(job, update, start + timedelta(seconds=i * step_s))
    assert job is not None
    return job


def submitting_with_benign_tail() -> JobRecord:
    """A job submitting, whose submit step's last output line is a harmless progress line."""
    return make_job(
        JobUpdate(phase=Phase.PREPARING, title="ant proteins", program="blastp", database="swissprot"),
        JobUpdate(phase=Phase.SUBMITTING, steps={StepName.SUBMIT: StepUpdate(lines=["Starting helper…", BENIGN])}),
    )


def orphan(job: JobRecord, phase: Phase = Phase.FAILED, error: str | None = ATTRIBUTE_ERROR) -> JobRecord:
    """The row a writer that bypassed the merge leaves: failed job, step still `running`."""
    return job.model_copy(update={"phase": phase, "status": JobStatus.FAILED, "error": error})

"""The job list: newest first, filtered by status and search, one row of text per job."""

from __future__ import annotations

from datetime import timedelta

from blastflow.merge import JobUpdate, merge
from blastflow.model import FAILURE_PHASES, JobRecord, JobStatus, Phase
from tests.ui.view.jobs import T0, make_job
from ui.view.job_list import JOB_LIST_COLUMNS, filter_jobs, job_rows


def _listed(title: str, minutes: int, phase: Phase) -> JobRecord:
    job = make_job(
        JobUpdate(phase=Phase.PREPARING, title=title, program="blastn", database="ants"),
        start=T0 + timedelta(minutes=minutes),
    )
    return merge(job, JobUpdate(phase=phase, error="x" if phase in FAILURE_PHASES else None), job.updated_at)


def test_job_list_newest_first_filtered_by_status_and_search() -> None:
    jobs = [
        _listed("Ant genes", 1, Phase.COMPLETED),
        _listed("Bee genes", 3, Phase.RUNNING),
        _listed("ant proteins", 2, Phase.FAILED),
    ]
    assert [j.title for j in filter_jobs(jobs)] == ["Bee genes", "ant proteins", "Ant genes"]
    assert [j.title for j in filter_jobs(jobs, search="ANT")] == ["ant proteins", "Ant genes"]
    assert [j.title for j in filter_jobs(jobs, [JobStatus.FAILED, JobStatus.RUNNING])] == [
        "Bee genes",
        "ant proteins",
    ]
    by_id = filter_jobs(jobs, search=jobs[0].job_id[:13])
    assert [j.job_id for j in by_id] == [jobs[0].job_id]


def test_job_rows_are_text_with_badge_program_database_elapsed() -> None:
    job = _listed("Ant genes", 0, Phase.RUNNING)
    (row,) = job_rows([job], job.created_at + timedelta(seconds=90))
    assert row == {
        "Status": "● Running",
        "Progress": 0.0,  # live, no batch counted yet
        "Title": "Ant genes",
        "Program": "blastn",
        "Database": "ants",
        "Created": "2026-05-22 17:28:04 UTC",
        "Elapsed": "1 min 30 s",
        "Job id": job.job_id,
    }
    assert list(row) == list(JOB_LIST_COLUMNS)


def test_a_live_job_shows_its_percent_of_batches_and_an_ended_one_none() -> None:
    from blastflow.merge import JobUpdate, StepUpdate, merge
    from blastflow.model import StepName

    job = _listed("Ant genes", 0, Phase.SUBMITTED)
    waiting = merge(job, JobUpdate(steps={StepName.WAIT_FOR_PODS: StepUpdate(counters={"pending": 4})}), job.updated_at)
    running = merge(waiting, JobUpdate(phase=Phase.RUNNING, steps={StepName.RUN: StepUpdate(
        counters={"succeeded": 3, "failed": 1, "running": 2, "pending": 2})}), job.updated_at)  # fmt: skip
    done = merge(running, JobUpdate(phase=Phase.COMPLETED), job.updated_at)
    now = job.created_at + timedelta(seconds=90)
    assert [row["Progress"] for row in job_rows([waiting, running, done], now)] == [0.0, 50.0, None]

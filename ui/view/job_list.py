"""The job list: which jobs it shows (by status and search, newest first) and each one's row of text."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from blastflow.model import JobRecord, JobStatus, StepName
from blastflow.progress import format_duration, percent_done
from ui.view.header import elapsed_ms, format_time, job_title, status_badge
from ui.view.timeline import pod_counts

__all__ = ["JOB_LIST_COLUMNS", "filter_jobs", "job_rows", "live_percent"]

JOB_LIST_COLUMNS = ("Status", "Progress", "Title", "Program", "Database", "Created", "Elapsed", "Job id")


def filter_jobs(jobs: Iterable[JobRecord], statuses: Iterable[JobStatus] = (), search: str = "") -> list[JobRecord]:
    """Jobs with one of `statuses` (all when empty) whose title or id contains `search`, newest first.

    Example:
        >>> from datetime import UTC, timedelta
        >>> t = datetime(2026, 1, 1, tzinfo=UTC)
        >>> jobs = [JobRecord(job_id=i, title=n, created_at=t + timedelta(seconds=s), updated_at=t)
        ...         for i, n, s in (("a1", "Ant genes", 1), ("b2", "Bee", 2))]
        >>> [j.job_id for j in filter_jobs(jobs, search="ant")], [j.job_id for j in filter_jobs(jobs)]
        (['a1'], ['b2', 'a1'])
    """
    wanted = set(statuses)
    needle = search.strip().casefold()
    kept = [
        job
        for job in jobs
        if (not wanted or job.status in wanted)
        and (not needle or needle in job.title.casefold() or needle in job.job_id.casefold())
    ]
    return sorted(kept, key=lambda job: job.created_at, reverse=True)


def live_percent(job: JobRecord) -> float | None:
    """Percent of a live job's batches finished (the BLAST run's counts, else wait for pods'); None once it ended.

    Example:
        >>> from blastflow.model import Phase, StepName, StepState
        >>> t = datetime(2026, 1, 1)
        >>> job = JobRecord(job_id="j", phase=Phase.RUNNING, created_at=t, updated_at=t)
        >>> job.steps[StepName.RUN] = StepState(counters={"succeeded": 3, "running": 1})
        >>> live_percent(job), live_percent(job.model_copy(update={"phase": Phase.COMPLETED}))
        (75.0, None)
    """
    if job.is_terminal:
        return None
    for name in (StepName.RUN, StepName.WAIT_FOR_PODS):
        counts = pod_counts(job.steps[name].counters)
        if counts is not None and counts.total:
            return percent_done(counts)
    return 0.0


def job_rows(jobs: Iterable[JobRecord], now: datetime) -> list[dict[str, object]]:
    """Rows of the job list, one per job, in the given order (text cells, and a live job's percent done)."""
    rows = []
    for job in jobs:
        badge = status_badge(job.status)
        rows.append(
            {
                "Status": f"{badge.symbol} {badge.label}",
                "Progress": live_percent(job),
                "Title": job_title(job),
                "Program": job.program,
                "Database": job.database,
                "Created": format_time(job.created_at),
                "Elapsed": format_duration(elapsed_ms(job, now) / 1000),
                "Job id": job.job_id,
            }
        )
    return rows

"""The job list: which jobs it shows (by status and search, newest first) and each one's row of text."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from blastflow.model import JobRecord, JobStatus
from blastflow.progress import format_duration
from ui.view.header import elapsed_ms, format_time, job_title, status_badge

__all__ = ["JOB_LIST_COLUMNS", "filter_jobs", "job_rows"]

JOB_LIST_COLUMNS = ("Status", "Title", "Program", "Database", "Created", "Elapsed", "Job id")


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


def job_rows(jobs: Iterable[JobRecord], now: datetime) -> list[dict[str, str]]:
    """Rows of the job list, one per job, in the given order (text cells only)."""
    rows = []
    for job in jobs:
        badge = status_badge(job.status)
        rows.append(
            {
                "Status": f"{badge.symbol} {badge.label}",
                "Title": job_title(job),
                "Program": job.program,
                "Database": job.database,
                "Created": format_time(job.created_at),
                "Elapsed": format_duration(elapsed_ms(job, now) / 1000),
                "Job id": job.job_id,
            }
        )
    return rows

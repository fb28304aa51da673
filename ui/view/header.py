"""The job page header as text: title, status badge, start/finish/elapsed times, and the Prefect run link."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from blastflow.model import PHASE_MESSAGES, JobRecord, JobStatus
from blastflow.progress import format_duration

__all__ = [
    "Badge",
    "JobHeader",
    "elapsed_ms",
    "finished_at",
    "format_time",
    "job_header",
    "job_title",
    "prefect_run_url",
    "started_at",
    "status_badge",
]


@dataclass(frozen=True, slots=True)
class Badge:
    """A status badge: the words, a Streamlit colour name, a Material icon, and a plain symbol for table cells."""

    label: str
    color: str
    icon: str
    symbol: str  # in every common font, unlike emoji


_BADGES: dict[JobStatus, Badge] = {
    JobStatus.QUEUED: Badge("Queued", "gray", ":material/schedule:", "○"),
    JobStatus.RUNNING: Badge("Running", "blue", ":material/progress_activity:", "●"),
    JobStatus.COMPLETED: Badge("Completed", "green", ":material/check_circle:", "✓"),
    JobStatus.FAILED: Badge("Failed", "red", ":material/error:", "✗"),
    JobStatus.CANCELLED: Badge("Cancelled", "orange", ":material/cancel:", "⊘"),
}


def status_badge(status: JobStatus) -> Badge:
    """The badge for a job status.

    Example:
        >>> status_badge(JobStatus.FAILED).label
        'Failed'
    """
    return _BADGES[status]


def format_time(moment: datetime | None) -> str:
    """A timestamp in UTC, to the second; empty when unknown.

    Example:
        >>> from datetime import UTC
        >>> format_time(datetime(2026, 1, 2, 3, 4, 5, 600, tzinfo=UTC))
        '2026-01-02 03:04:05 UTC'
    """
    if moment is None:
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def started_at(job: JobRecord) -> datetime:
    """When work on the job began: the first step start, else the creation time."""
    starts = [s.started_at for s in job.steps.values() if s.started_at is not None]
    return min(starts) if starts else job.created_at


def finished_at(job: JobRecord) -> datetime | None:
    """When a terminal job finished (its last step end; the row's time if no step ended); None while live.

    `updated_at` alone would drift: late backfill writes touch the row after the end.
    """
    if not job.is_terminal:
        return None
    ends = [s.completed_at for s in job.steps.values() if s.completed_at is not None]
    return max(ends) if ends else job.updated_at


def elapsed_ms(job: JobRecord, now: datetime) -> int:
    """Run time so far (live) or in total (terminal), in milliseconds."""
    end = finished_at(job) or now
    return max(0, int((end - started_at(job)).total_seconds() * 1000))


@dataclass(frozen=True, slots=True)
class JobHeader:
    """Everything in the job page header, as text."""

    title: str
    badge: Badge
    phase_message: str
    started: str
    finished: str
    elapsed: str
    backend: str
    program: str
    database: str
    queries: str
    prefect_url: str | None


def prefect_run_url(prefect_ui_url: str | None, flow_run_id: str | None) -> str | None:
    """The Prefect UI page of the flow run, when both the UI URL and the run id are known.

    The run id comes from a job row, so it is quoted: it can only ever be one path segment.

    Example:
        >>> prefect_run_url("http://127.0.0.1:4200/", "abc-123")
        'http://127.0.0.1:4200/runs/flow-run/abc-123'
        >>> prefect_run_url(None, "abc") is None
        True
    """
    if not prefect_ui_url or not flow_run_id:
        return None
    if not prefect_ui_url.startswith(("http://", "https://")):
        return None
    return f"{prefect_ui_url.rstrip('/')}/runs/flow-run/{quote(flow_run_id, safe='')}"


def job_title(job: JobRecord) -> str:
    """The job's title, or a stand-in naming the search when it has none."""
    if job.title.strip():
        return job.title.strip()
    what = " against ".join(part for part in (job.program, job.database) if part)
    return f"{what} search" if what else f"Job {job.job_id[:8]}"


def job_header(job: JobRecord, now: datetime, prefect_ui_url: str | None = None) -> JobHeader:
    """The header of the job page."""
    finished = finished_at(job)
    queries = ""
    if job.query_count:
        queries = f"{job.query_count:,} quer{'y' if job.query_count == 1 else 'ies'}"
        if job.query_length:
            queries += f", {job.query_length:,} residues"
    return JobHeader(
        title=job_title(job),
        badge=status_badge(job.status),
        phase_message=PHASE_MESSAGES[job.phase],
        started=format_time(started_at(job)),
        finished=format_time(finished),
        elapsed=format_duration(elapsed_ms(job, now) / 1000),
        backend=job.backend,
        program=job.program,
        database=job.database,
        queries=queries,
        prefect_url=prefect_run_url(prefect_ui_url, job.flow_run_id),
    )

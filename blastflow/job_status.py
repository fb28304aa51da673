"""One job's record as `blastflow status JOB --json` prints it: plain data for scripts, pure, no I/O.

The texts (title, error, step messages) are the row's own, sanitised when they were written; nothing is added
here that the row does not hold. Steps come in pipeline order, so a script can read them as a timeline.
"""

from __future__ import annotations

from datetime import datetime

from blastflow.model import STEP_LABELS, STEP_ORDER, JobRecord, StepName

__all__ = ["elapsed_s", "job_status"]


def elapsed_s(job: JobRecord, now: datetime) -> float:
    """Seconds from the job's creation to its last update (ended) or to `now` (live); never negative.

    Example:
        >>> from datetime import UTC, timedelta
        >>> t = datetime(2026, 1, 1, tzinfo=UTC)
        >>> elapsed_s(JobRecord(job_id="j", created_at=t, updated_at=t), t + timedelta(seconds=90))
        90.0
    """
    end = job.updated_at if job.is_terminal else now
    return max(0.0, (end - job.created_at).total_seconds())


def _step(job: JobRecord, name: StepName) -> dict[str, object]:
    state = job.steps[name]
    return {
        "name": name.value,
        "label": STEP_LABELS[name],
        "status": state.status.value,
        "duration_s": state.duration_ms / 1000 if state.duration_ms is not None else None,
        "message": state.message,
        "counters": dict(state.counters),
    }


def job_status(job: JobRecord, now: datetime) -> dict[str, object]:
    """The job as one JSON-ready object: identity, phase and status, error, timing, search, counts, steps.

    Args:
        job: the stored row.
        now: the clock for a live job's elapsed time (an ended job's comes from its row).

    Returns:
        A dict of str, int, float, None, lists and dicts only (`json.dumps` takes it as it is).

    Example:
        >>> from datetime import UTC
        >>> t = datetime(2026, 1, 1, tzinfo=UTC)
        >>> doc = job_status(JobRecord(job_id="j", program="blastp", created_at=t, updated_at=t), t)
        >>> doc["phase"], doc["created_at"], [step["name"] for step in doc["steps"]][:2]
        ('queued', '2026-01-01T00:00:00+00:00', ['prepare', 'submit'])
    """
    return {
        "job_id": job.job_id,
        "title": job.title,
        "phase": job.phase.value,
        "status": job.status.value,
        "error": job.error,
        "error_code": job.error_code,
        "created_at": job.created_at.isoformat(),
        "updated_at": job.updated_at.isoformat(),
        "elapsed_s": round(elapsed_s(job, now), 3),
        "program": job.program,
        "database": job.database,
        "backend": job.backend,
        "query_count": job.query_count,
        "query_length": job.query_length,
        "results_location": job.results_location,
        "resume_count": job.resume_count,
        "steps": [_step(job, name) for name in STEP_ORDER],
    }

"""The failure banner: which step a job failed at, and the authoritative text of why (fix D)."""

from __future__ import annotations

from dataclasses import dataclass

from blastflow.merge import ORPHAN_SOURCE
from blastflow.model import (
    FAILURE_PHASES,
    PHASE_MESSAGES,
    STEP_LABELS,
    STEP_ORDER,
    JobRecord,
    Phase,
    StepName,
    StepStatus,
)

__all__ = ["FailureBanner", "failed_step", "failure_banner"]


@dataclass(frozen=True, slots=True)
class FailureBanner:
    """The failure banner: a heading from our own words, and the job's text (rendered as text)."""

    heading: str
    text: str
    code: str | None


def failed_step(job: JobRecord) -> StepName | None:
    """The step the job failed at: a step that failed by itself before one failed as an orphan."""
    failed = [name for name in STEP_ORDER if job.steps[name].status in (StepStatus.FAILED, StepStatus.RUNNING)]
    for name in failed:
        if job.steps[name].source != ORPHAN_SOURCE:
            return name
    return failed[0] if failed else None


def failure_banner(job: JobRecord) -> FailureBanner | None:
    """The failure banner of a job in a failure phase, or None.

    The text comes from the authoritative fields first (fix D): the job's error,
    then its error code; per-step errors next (a step that failed by itself
    before orphans), and a step's last output line only when nothing else is
    known. So a benign last log line never hides the real error.

    Example:
        >>> from datetime import UTC, datetime
        >>> from blastflow.merge import JobUpdate, StepUpdate, merge
        >>> t = datetime(2026, 1, 1, tzinfo=UTC)
        >>> job = merge(None, JobUpdate(job_id="j", phase=Phase.SUBMITTING,
        ...     steps={StepName.SUBMIT: StepUpdate(lines=["[prep] running 4 azcopy checks"])}), t)
        >>> failure_banner(merge(job, JobUpdate(phase=Phase.FAILED, error="AttributeError: x"), t)).text
        'AttributeError: x'
    """
    if job.phase not in FAILURE_PHASES:
        return None
    step = failed_step(job)
    where = f" at {STEP_LABELS[step]}" if step is not None else ""
    verb = {Phase.CANCELLED: "was cancelled", Phase.TIMED_OUT: "timed out", Phase.WORKER_LOST: "lost its worker"}
    heading = f"Job {verb.get(job.phase, 'failed')}{where}"
    return FailureBanner(heading=heading, text=_failure_text(job, step), code=job.error_code or None)


def _failure_text(job: JobRecord, step: StepName | None) -> str:
    steps = [job.steps[name] for name in STEP_ORDER]
    own = [s for s in steps if s.status is StepStatus.FAILED and s.source != ORPHAN_SOURCE]
    orphans = [s for s in steps if s.status is StepStatus.FAILED and s.source == ORPHAN_SOURCE]
    candidates: list[str | None] = [job.error, job.error_code]
    candidates += [s.error for s in own] + [s.error for s in orphans]
    if step is not None:
        candidates.append(_last_line(job.steps[step].last_output))
    candidates += [_last_line(s.last_output) for s in own]
    for text in candidates:
        if text and text.strip():
            return text.strip()
    return PHASE_MESSAGES[job.phase]


def _last_line(text: str) -> str | None:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else None

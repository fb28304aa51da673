"""The merge of a state update into a job record: the only way a record changes.

Every writer (tasks, flow hooks, reconcile, CLI) builds a `JobUpdate` and hands
it to a store, which applies `merge` and writes conditionally. The rules:

- an update into a failure phase demotes every other `running` step to `failed`
  with ``source="orphan_inferred"`` and the job's error (fix F of the notes);
- an update that starts a later step completes the earlier `running` steps;
- terminal phases are sticky: late writes may add logs or counters, but never
  move the phase or restart a step;
- invariant: a job in a terminal phase has no `running` step.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from blastflow.model import (
    FAILURE_PHASES,
    PHASE_TO_STEP,
    STEP_ORDER,
    TERMINAL_PHASES,
    JobRecord,
    Phase,
    StepName,
    StepState,
    StepStatus,
    status_for_phase,
)
from blastflow.sanitise import sanitise

__all__ = ["ERROR_MAX_CHARS", "TAIL_MAX_CHARS", "TAIL_MAX_LINES", "JobUpdate", "StepUpdate", "merge"]

TAIL_MAX_LINES = 50
TAIL_MAX_CHARS = 8_000
ERROR_MAX_CHARS = 4_000
ORPHAN_SOURCE = "orphan_inferred"

_FINISHED = {StepStatus.COMPLETED, StepStatus.FAILED, StepStatus.SKIPPED}


class StepUpdate(BaseModel):
    """A change to one step. Unset fields leave the step as it is."""

    model_config = ConfigDict(extra="forbid")

    status: StepStatus | None = None
    lines: list[str] = Field(default_factory=list)  # new output lines: appended to the tail
    last_output: str | None = None  # replaces the tail (pod-log backfill)
    log_lines_added: int = 0  # lines stored elsewhere (the log table) but not in `lines`
    error: str | None = None
    message: str | None = None
    counters: dict[str, int] = Field(default_factory=dict)
    source: str | None = None


class JobUpdate(BaseModel):
    """A change to a job. Unset fields leave the record as it is."""

    model_config = ConfigDict(extra="forbid")

    job_id: str | None = None  # needed only to create a record
    phase: Phase | None = None
    error: str | None = None
    error_code: str | None = None
    title: str | None = None
    program: str | None = None
    database: str | None = None
    query_count: int | None = None
    query_length: int | None = None
    backend: str | None = None
    flow_run_id: str | None = None
    host: str | None = None
    pid: int | None = None
    code_version: str | None = None
    results_location: str | None = None
    pod_logs: str | None = None
    steps: dict[StepName, StepUpdate] = Field(default_factory=dict)
    source: str | None = None  # default source for step status changes


_PLAIN_FIELDS = (
    "title",
    "program",
    "database",
    "query_count",
    "query_length",
    "backend",
    "flow_run_id",
    "host",
    "pid",
    "code_version",
    "results_location",
    "pod_logs",
)


def merge(current: JobRecord | None, update: JobUpdate, now: datetime) -> JobRecord:
    """Apply `update` to `current` (None: create the record) as of `now`.

    Args:
        current: the stored record, or None when the job has no row yet.
        update: what changed.
        now: the time of the write (timezone-aware), passed in to keep this pure.

    Returns:
        A new record; `current` is not modified.

    Raises:
        ValueError: creating a record without `update.job_id`.

    Example:
        >>> from datetime import UTC, datetime
        >>> t = datetime(2026, 1, 1, tzinfo=UTC)
        >>> job = merge(None, JobUpdate(job_id="j", phase=Phase.PREPARING), t)
        >>> job.steps[StepName.PREPARE].status.value
        'running'
        >>> merge(job, JobUpdate(phase=Phase.FAILED, error="boom"), t).steps[StepName.PREPARE].source
        'orphan_inferred'
    """
    if current is None:
        if not update.job_id:
            raise ValueError("a new job record needs update.job_id")
        current = JobRecord(job_id=update.job_id, created_at=now, updated_at=now)
    job = current.model_copy(deep=True)
    was_terminal = job.is_terminal

    for name in _PLAIN_FIELDS:
        value = getattr(update, name)
        if value is not None:
            setattr(job, name, sanitise(value) if isinstance(value, str) else value)

    new_phase = update.phase if update.phase is not None and not was_terminal else None
    # The first failure's error is the authoritative one: a terminal job keeps it.
    if update.error is not None and not was_terminal:
        job.error = _clip(sanitise(update.error), ERROR_MAX_CHARS)
    if update.error_code is not None and not was_terminal:
        job.error_code = _clip(sanitise(update.error_code), 200)

    explicit: set[StepName] = set()
    for name, step_update in update.steps.items():
        if _apply_step(job.steps[name], step_update, update.source, now, frozen=was_terminal):
            explicit.add(name)

    if new_phase is not None:
        job.phase = new_phase
        active = PHASE_TO_STEP[new_phase]
        if active is not None and job.steps[active].status is StepStatus.PENDING:
            _set_status(job.steps[active], StepStatus.RUNNING, update.source, now)
            explicit.add(active)
    job.status = status_for_phase(job.phase)

    _sweep(job, explicit, update.source, now)
    job.version = current.version + 1
    job.updated_at = now
    return job


def _apply_step(
    step: StepState, update: StepUpdate, default_source: str | None, now: datetime, *, frozen: bool
) -> bool:
    """Apply a step update in place; True when it set the step's status."""
    if update.lines:
        step.last_output = _tail(step.last_output, [sanitise(line) for line in update.lines])
    if update.last_output is not None:
        step.last_output = _tail("", [sanitise(update.last_output)])
    step.log_line_count += len(update.lines) + max(update.log_lines_added, 0)
    if update.message is not None:
        step.message = _clip(sanitise(update.message), 500)
    step.counters.update(update.counters)
    if update.error is not None and (step.error is None or not frozen):
        step.error = _clip(sanitise(update.error), ERROR_MAX_CHARS)
    if update.status is None:
        return False
    # Sticky terminal phases: nothing restarts a step or rewrites a finished one.
    if frozen and (update.status is StepStatus.RUNNING or step.status in _FINISHED):
        return False
    _set_status(step, update.status, update.source or default_source, now)
    return True


def _set_status(step: StepState, status: StepStatus, source: str | None, now: datetime) -> None:
    if status is step.status:
        return
    step.status = status
    step.source = source
    if status is StepStatus.RUNNING:
        step.started_at = step.started_at or now
        step.completed_at = None
        step.duration_ms = None
    elif status in _FINISHED:
        step.completed_at = now
        if step.started_at is not None:
            step.duration_ms = max(0, int((now - step.started_at).total_seconds() * 1000))
        elif status is not StepStatus.SKIPPED:
            step.started_at = now
            step.duration_ms = 0


def _sweep(job: JobRecord, explicit: set[StepName], source: str | None, now: datetime) -> None:
    """Resolve `running` steps the update did not speak for, so the invariant holds."""
    if job.phase in FAILURE_PHASES:
        for name in STEP_ORDER:
            step = job.steps[name]
            if step.status is StepStatus.RUNNING:
                # fix F: a failed job leaves no spinner behind
                _set_status(step, StepStatus.FAILED, ORPHAN_SOURCE, now)
                step.error = step.error or job.error or f"job ended as {job.phase.value}"
        return
    if job.phase is Phase.COMPLETED:
        for name in STEP_ORDER:
            step = job.steps[name]
            if step.status is StepStatus.RUNNING:
                _set_status(step, StepStatus.COMPLETED, source, now)
            elif step.status is StepStatus.PENDING:
                _set_status(step, StepStatus.SKIPPED, source, now)
        return
    started = [n for n in explicit if job.steps[n].status is StepStatus.RUNNING]
    if not started:
        return
    latest = max(STEP_ORDER.index(n) for n in started)
    for name in STEP_ORDER[:latest]:
        step = job.steps[name]
        if step.status is StepStatus.RUNNING and name not in explicit:
            _set_status(step, StepStatus.COMPLETED, source, now)


def _tail(existing: str, new_lines: list[str]) -> str:
    lines = (existing.split("\n") if existing else []) + new_lines
    text = "\n".join(lines[-TAIL_MAX_LINES:])
    if len(text) > TAIL_MAX_CHARS:
        text = text[-TAIL_MAX_CHARS:]
        cut = text.find("\n")
        text = text[cut + 1 :] if 0 <= cut < len(text) - 1 else text
    return text


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def is_consistent(job: JobRecord) -> bool:
    """The invariant the merge keeps: a terminal job has no running step."""
    return not (job.phase in TERMINAL_PHASES and any(s.status is StepStatus.RUNNING for s in job.steps.values()))

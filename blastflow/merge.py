"""The merge of a state update into a job record: the only way a record changes.

Every writer (tasks, flow hooks, reconcile, CLI) builds a `JobUpdate` and hands
it to a store, which applies `merge` and writes conditionally. The rules, in the
order `merge` applies them:

0. A resume (`JobUpdate.resume`, written only by `blastflow.resume`) is the one
   deliberate way out of a terminal phase: a job in any phase but
   ``completed`` goes back to ``queued`` with no error, every step but a
   completed ``prepare`` back to ``pending`` (keeping its log tail and line
   count), ``resume_count`` one more and the resume appended to ``resumes``
   (stamped with its number, time, the phase it left and that phase's error).
   A completed job stays as it is. The rest of the update then applies to the
   live job.
1. Text is sanitised on the way in: every string of the update (fields, lines,
   errors, messages, counter names, sources) goes through `sanitise`.
2. Phases only move forward. Live phases are ordered ``queued < preparing <
   submitting < submitted < running < finalizing``; an update naming an earlier
   live phase (a late, out-of-order write) leaves the phase as it is. Any live
   phase may move to a terminal one.
3. Terminal phases are sticky: once ``completed`` or a failure phase, the phase,
   the job's error (when it has one) and every finished step stay as they are,
   and no step starts again. Late writes may still add log lines, replace a
   tail (pod-log backfill), set counters, messages and plain fields such as
   ``results_location`` or ``pod_logs``.
4. Steps never go back: nothing returns a step to ``pending``, and a
   ``completed`` or ``skipped`` step never restarts. A ``failed`` step may start
   again while the job is live (a retried task).
5. An update whose live phase names an active step (`PHASE_TO_STEP`) starts it
   when it is ``pending`` or ``failed``, unless the update sets that step's
   status itself.
6. A step that fails while the phase stays live is recorded as failed and the
   job goes on (Prefect may retry the task); the job fails only when a writer
   sets a failure phase.
7. Sweeps, so the timeline never shows a stale spinner:

   - failure phase (``failed``, ``submit_failed``, ``worker_lost``,
     ``cancelled``, ``timed_out``): every step still ``running`` becomes
     ``failed`` with ``source="orphan_inferred"``, ``completed_at=now`` and the
     job's error (fix F of the notes; fix G holds because reconcile writes
     through here too). Steps never reached stay ``pending``.
   - ``completed``: steps still ``running`` become ``completed``, steps never
     reached become ``skipped``.
   - live phase: when the update starts a step, every earlier ``running`` step
     becomes ``completed``.

Invariant (property-tested): a job in a terminal phase has no ``running`` step.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from blastflow.model import (
    FAILURE_PHASES,
    PHASE_MESSAGES,
    PHASE_TO_STEP,
    RESUME_MEMORY,
    STEP_ORDER,
    TERMINAL_PHASES,
    JobRecord,
    Phase,
    ResumeRecord,
    StepName,
    StepState,
    StepStatus,
    status_for_phase,
)
from blastflow.sanitise import sanitise

__all__ = [
    "ERROR_MAX_CHARS",
    "ORPHAN_SOURCE",
    "TAIL_MAX_CHARS",
    "TAIL_MAX_LINES",
    "JobUpdate",
    "StepUpdate",
    "is_consistent",
    "merge",
]

TAIL_MAX_LINES = 50
TAIL_MAX_CHARS = 8_000
ERROR_MAX_CHARS = 4_000
ERROR_CODE_MAX_CHARS = 200
MESSAGE_MAX_CHARS = 500
ORPHAN_SOURCE = "orphan_inferred"
APPLIED_MEMORY = 32  # update ids a record remembers: far more than writes in flight at once

_FINISHED = frozenset({StepStatus.COMPLETED, StepStatus.FAILED, StepStatus.SKIPPED})
_LIVE_ORDER: dict[Phase, int] = {
    phase: rank
    for rank, phase in enumerate(
        (Phase.QUEUED, Phase.PREPARING, Phase.SUBMITTING, Phase.SUBMITTED, Phase.RUNNING, Phase.FINALIZING)
    )
}


class StepUpdate(BaseModel):
    """A change to one step. Unset fields leave the step as it is."""

    model_config = ConfigDict(extra="forbid")

    status: StepStatus | None = None
    lines: list[str] = Field(default_factory=list)  # new output lines: appended to the tail and counted
    last_output: str | None = None  # replaces the tail (pod-log backfill); not counted
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
    rerun_of: str | None = None
    results_location: str | None = None
    pod_logs: str | None = None
    steps: dict[StepName, StepUpdate] = Field(default_factory=dict)
    source: str | None = None  # default source for step status changes
    resume: ResumeRecord | None = None  # rule 0: reopen the job for a resume
    # Idempotency key: a retried write (its answer lost, the write applied) is merged once.
    update_id: str = Field(default_factory=lambda: uuid.uuid4().hex, pattern=r"^[A-Za-z0-9_-]{1,64}$")


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
    "rerun_of",
    "results_location",
    "pod_logs",
)


def merge(current: JobRecord | None, update: JobUpdate, now: datetime) -> JobRecord:
    """Apply `update` to `current` (None: create the record) as of `now`.

    The rules are listed in the module docstring; the result always satisfies
    `is_consistent`.

    Args:
        current: the stored record, or None when the job has no row yet.
        update: what changed.
        now: the time of the write (timezone-aware), passed in to keep this pure.

    Returns:
        A new record with ``version`` one more than `current`'s; `current` is not modified.

    Raises:
        ValueError: creating a record without `update.job_id`; an `update.job_id` that is not
            `current`'s; a naive `now`.

    Example:
        >>> from datetime import UTC, datetime
        >>> t = datetime(2026, 1, 1, tzinfo=UTC)
        >>> job = merge(None, JobUpdate(job_id="j", phase=Phase.PREPARING), t)
        >>> job.steps[StepName.PREPARE].status.value, job.version
        ('running', 1)
        >>> failed = merge(job, JobUpdate(phase=Phase.FAILED, error="boom"), t)
        >>> failed.steps[StepName.PREPARE].status.value, failed.steps[StepName.PREPARE].source
        ('failed', 'orphan_inferred')
        >>> merge(failed, JobUpdate(phase=Phase.RUNNING), t).phase.value  # terminal phases are sticky
        'failed'
    """
    _check_now(now)
    current = _record_to_merge_into(current, update, now)
    if update.update_id in current.applied_updates:
        return current  # this very update was applied already: a retry whose first answer was lost
    job = _copy(current)
    if update.resume is not None:
        _reopen(job, update.resume, now)
    was_terminal = job.is_terminal
    source = _text(update.source)
    _apply_fields(job, update, was_terminal=was_terminal)
    changes = _apply_steps(job, update, source, now, frozen=was_terminal)
    _move_phase(job, update.phase, changes, source, now)
    _sweep(job, changes.started, changes.with_errors, source, now)
    job.applied_updates = [*current.applied_updates, update.update_id][-APPLIED_MEMORY:]
    job.version = current.version + 1
    job.updated_at = now
    return job


@dataclass(slots=True)
class _StepChanges:
    """What the update's own step changes did, for the phase move and the sweep."""

    status_set: set[StepName] = field(default_factory=set)  # steps whose status the update spoke for
    started: set[StepName] = field(default_factory=set)  # steps this merge moved to running
    with_errors: set[StepName] = field(default_factory=set)  # steps the update gave an error


def _check_now(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("merge needs a timezone-aware `now`, e.g. datetime.now(UTC)")


def _record_to_merge_into(current: JobRecord | None, update: JobUpdate, now: datetime) -> JobRecord:
    """`current`, or a new empty record when there is none; the update must be for this job."""
    if current is None:
        if not update.job_id:
            raise ValueError("a new job record needs update.job_id (the store sets it from the job id it writes)")
        if sanitise(update.job_id) != update.job_id:
            raise ValueError("a job id must not contain control characters or secrets")
        return JobRecord(job_id=update.job_id, created_at=now, updated_at=now)
    if update.job_id is not None and update.job_id != current.job_id:
        raise ValueError(f"update for job {update.job_id!r} cannot be merged into job {current.job_id!r}")
    return current


def _reopen(job: JobRecord, resume: ResumeRecord, now: datetime) -> None:
    """Rule 0: take the job back to `queued` for a resume, and record the resume; a completed job stays."""
    if job.phase is Phase.COMPLETED:
        return
    stamped = resume.model_copy(
        update={
            "number": job.resume_count + 1,
            "at": now,
            "from_phase": job.phase,
            "error": job.error,
            "flow_run_id": _text(resume.flow_run_id),
            "reused": sanitise(resume.reused),
            "rerun": sanitise(resume.rerun),
        }
    )
    job.resume_count += 1
    job.resumes = [*job.resumes, stamped][-RESUME_MEMORY:]
    job.phase, job.status, job.error, job.error_code = Phase.QUEUED, status_for_phase(Phase.QUEUED), None, None
    for name in STEP_ORDER:
        old = job.steps[name]
        if not (name is StepName.PREPARE and old.status is StepStatus.COMPLETED):  # the batches it reuses
            job.steps[name] = StepState(last_output=old.last_output, log_line_count=old.log_line_count)


def _apply_fields(job: JobRecord, update: JobUpdate, *, was_terminal: bool) -> None:
    """The plain fields, then the job's error and error code (rules 1 and 3)."""
    for name in _PLAIN_FIELDS:
        value = getattr(update, name)
        if value is not None:
            setattr(job, name, sanitise(value) if isinstance(value, str) else value)

    # The first failure's error is the authoritative one: a terminal job keeps it,
    # but a failure recorded without a reason may still get one.
    if update.error is not None and (not was_terminal or (job.error is None and job.phase in FAILURE_PHASES)):
        job.error = _clip(sanitise(update.error), ERROR_MAX_CHARS)
    if update.error_code is not None and (not was_terminal or (job.error_code is None and job.phase in FAILURE_PHASES)):
        job.error_code = _clip(sanitise(update.error_code), ERROR_CODE_MAX_CHARS)


def _apply_steps(job: JobRecord, update: JobUpdate, source: str | None, now: datetime, *, frozen: bool) -> _StepChanges:
    """Each step the update names: its content, then its status where allowed (rules 3, 4 and 6)."""
    changes = _StepChanges()
    for name, step_update in update.steps.items():
        step = job.steps[name]
        if step_update.error is not None:
            changes.with_errors.add(name)
        _apply_step_content(step, step_update, frozen=frozen)
        if step_update.status is None:
            continue
        changes.status_set.add(name)
        if _allowed(step.status, step_update.status, frozen=frozen):
            before = step.status
            _set_status(step, step_update.status, _text(step_update.source) or source, now)
            if step.status is StepStatus.RUNNING and before is not StepStatus.RUNNING:
                changes.started.add(name)
    return changes


def _move_phase(
    job: JobRecord, requested: Phase | None, changes: _StepChanges, source: str | None, now: datetime
) -> None:
    """Move the phase forward and start the step it names, unless the update set that step itself (rules 2 and 5)."""
    new_phase = _next_phase(job.phase, requested)
    if new_phase is not None:
        job.phase = new_phase
        active = PHASE_TO_STEP[new_phase]
        if (
            active is not None
            and active not in changes.status_set
            and job.steps[active].status in (StepStatus.PENDING, StepStatus.FAILED)
        ):
            _set_status(job.steps[active], StepStatus.RUNNING, source, now)
            changes.started.add(active)
    job.status = status_for_phase(job.phase)


def is_consistent(job: JobRecord) -> bool:
    """The invariant the merge keeps: a job in a terminal phase has no running step.

    Example:
        >>> from datetime import UTC, datetime
        >>> t = datetime(2026, 1, 1, tzinfo=UTC)
        >>> is_consistent(merge(None, JobUpdate(job_id="j", phase=Phase.CANCELLED), t))
        True
    """
    return not (job.phase in TERMINAL_PHASES and any(s.status is StepStatus.RUNNING for s in job.steps.values()))


def _copy(record: JobRecord) -> JobRecord:
    """A copy safe to change: the record, its steps dict, each step and its counters (the rest is immutable).

    Much cheaper than ``model_copy(deep=True)``, which walks every string and datetime.
    """
    steps = {name: step.model_copy(update={"counters": dict(step.counters)}) for name, step in record.steps.items()}
    return record.model_copy(update={"steps": steps})


def _next_phase(current: Phase, requested: Phase | None) -> Phase | None:
    """The phase the update moves to, or None to stay (rules 2 and 3)."""
    if requested is None or current in TERMINAL_PHASES:
        return None
    if requested in TERMINAL_PHASES or _LIVE_ORDER[requested] >= _LIVE_ORDER[current]:
        return requested
    return None


def _allowed(old: StepStatus, new: StepStatus, *, frozen: bool) -> bool:
    """Whether a step may move from `old` to `new` (rules 3 and 4)."""
    if new is old or new is StepStatus.PENDING:
        return False
    if frozen:
        return old is StepStatus.PENDING and new is not StepStatus.RUNNING
    if new is StepStatus.RUNNING:
        return old in (StepStatus.PENDING, StepStatus.FAILED)
    return True


def _apply_step_content(step: StepState, update: StepUpdate, *, frozen: bool) -> None:
    """Lines, tail, counters, message and error: everything but the status."""
    if update.lines:
        step.last_output = _tail(step.last_output, [sanitise(line) for line in update.lines])
    if update.last_output is not None:
        step.last_output = _tail("", [sanitise(update.last_output)])
    step.log_line_count += len(update.lines) + max(update.log_lines_added, 0)
    if update.message is not None:
        step.message = _clip(sanitise(update.message), MESSAGE_MAX_CHARS)
    if update.counters:
        step.counters.update({sanitise(key): value for key, value in update.counters.items()})
    if update.error is not None and (step.error is None or not frozen):
        step.error = _clip(sanitise(update.error), ERROR_MAX_CHARS)


def _set_status(step: StepState, status: StepStatus, source: str | None, now: datetime) -> None:
    """Move a step to `status` and keep its times and duration truthful."""
    if status is step.status:
        return
    step.status = status
    step.source = source
    if status is StepStatus.RUNNING:
        step.started_at = step.started_at or now  # a retry keeps the first start
        step.completed_at = None
        step.duration_ms = None
    elif status in _FINISHED:
        step.completed_at = now
        if step.started_at is not None:
            step.duration_ms = max(0, int((now - step.started_at).total_seconds() * 1000))
        elif status is not StepStatus.SKIPPED:
            # finished without a recorded start: it took no time we know of
            step.started_at = now
            step.duration_ms = 0


def _sweep(
    job: JobRecord, started: set[StepName], step_errors: set[StepName], source: str | None, now: datetime
) -> None:
    """Resolve `running` steps the update did not speak for, so the invariant holds (rule 7)."""
    if job.phase in FAILURE_PHASES:
        for name in STEP_ORDER:
            step = job.steps[name]
            if step.status is StepStatus.RUNNING:
                # fix F: a failed job leaves no spinner behind
                _set_status(step, StepStatus.FAILED, ORPHAN_SOURCE, now)
                if name not in step_errors:
                    step.error = job.error or step.error or PHASE_MESSAGES[job.phase]
        return
    if job.phase is Phase.COMPLETED:
        for name in STEP_ORDER:
            step = job.steps[name]
            if step.status is StepStatus.RUNNING:
                _set_status(step, StepStatus.COMPLETED, source, now)
            elif step.status is StepStatus.PENDING:
                _set_status(step, StepStatus.SKIPPED, source, now)
        return
    if not started:
        return
    latest = max(STEP_ORDER.index(name) for name in started)
    for name in STEP_ORDER[:latest]:
        step = job.steps[name]
        if step.status is StepStatus.RUNNING and name not in started:
            _set_status(step, StepStatus.COMPLETED, source, now)


def _tail(existing: str, new_text: list[str]) -> str:
    """The last lines of `existing` + `new_text`, at most TAIL_MAX_LINES lines and TAIL_MAX_CHARS chars.

    Whole lines are kept; only a single last line longer than TAIL_MAX_CHARS is cut (its end kept).
    """
    lines = existing.split("\n") if existing else []
    for text in new_text:
        lines.extend(text.split("\n"))
    kept: list[str] = []
    size = -1  # no newline before the first kept line
    for line in reversed(lines[-TAIL_MAX_LINES:]):
        if size + 1 + len(line) > TAIL_MAX_CHARS:
            if not kept:
                kept.append(line[-TAIL_MAX_CHARS:])
            break
        kept.append(line)
        size += 1 + len(line)
    return "\n".join(reversed(kept))


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text(value: str | None) -> str | None:
    return None if value is None else sanitise(value)

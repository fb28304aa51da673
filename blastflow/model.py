"""The job record: phases, steps, their labels and messages, in one place.

The flow, the stores, reconcile, the CLI and the monitoring page all import
these names; nothing else defines a phase, a step or what a phase means.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "FAILURE_PHASES",
    "PHASE_MESSAGES",
    "PHASE_TO_STEP",
    "RESUME_MEMORY",
    "SCHEMA_VERSION",
    "STEP_LABELS",
    "STEP_ORDER",
    "TERMINAL_PHASES",
    "JobRecord",
    "JobStatus",
    "Phase",
    "ResumeRecord",
    "StepName",
    "StepState",
    "StepStatus",
    "is_job_id",
    "new_job_id",
    "status_for_phase",
]

SCHEMA_VERSION = 1


class Phase(StrEnum):
    """Where a job is in its life. Failure phases and `completed` are terminal."""

    QUEUED = "queued"
    PREPARING = "preparing"
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"  # transit: submit done, no pod running yet
    RUNNING = "running"
    FINALIZING = "finalizing"
    COMPLETED = "completed"
    FAILED = "failed"
    SUBMIT_FAILED = "submit_failed"
    WORKER_LOST = "worker_lost"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"


class JobStatus(StrEnum):
    """The coarse status a user filters the job list by; derived from the phase."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class StepName(StrEnum):
    PREPARE = "prepare"
    SUBMIT = "submit"
    WAIT_FOR_PODS = "wait_for_pods"
    RUN = "run"
    FINALIZE = "finalize"


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"


STEP_ORDER: tuple[StepName, ...] = tuple(StepName)

STEP_LABELS: dict[StepName, str] = {
    StepName.PREPARE: "Prepare run",
    StepName.SUBMIT: "Submit job",
    StepName.WAIT_FOR_PODS: "Wait for pods",
    StepName.RUN: "BLAST run",
    StepName.FINALIZE: "Finalize & export",
}

FAILURE_PHASES: frozenset[Phase] = frozenset(
    {Phase.FAILED, Phase.SUBMIT_FAILED, Phase.WORKER_LOST, Phase.CANCELLED, Phase.TIMED_OUT}
)
TERMINAL_PHASES: frozenset[Phase] = FAILURE_PHASES | {Phase.COMPLETED}

# The step a live phase is working on. Terminal phases have no active step.
PHASE_TO_STEP: dict[Phase, StepName | None] = {
    Phase.QUEUED: None,
    Phase.PREPARING: StepName.PREPARE,
    Phase.SUBMITTING: StepName.SUBMIT,
    Phase.SUBMITTED: StepName.WAIT_FOR_PODS,  # fix I: the transit phase is not "nothing"
    Phase.RUNNING: StepName.RUN,
    Phase.FINALIZING: StepName.FINALIZE,
    **{phase: None for phase in TERMINAL_PHASES},
}

PHASE_MESSAGES: dict[Phase, str] = {
    Phase.QUEUED: "Queued. Waiting for a worker to pick the run up…",
    Phase.PREPARING: "Checking the query, options and database…",
    Phase.SUBMITTING: "Handing the batches to the backend…",
    Phase.SUBMITTED: "Job accepted by the cluster. Waiting for pods to start running…",
    Phase.RUNNING: "BLAST is running on the batches…",
    Phase.FINALIZING: "Merging batch results and collecting pod logs…",
    Phase.COMPLETED: "Search completed. Results are ready.",
    Phase.FAILED: "The search failed.",
    Phase.SUBMIT_FAILED: "The job could not be submitted.",
    Phase.WORKER_LOST: "The worker running this job stopped reporting; the job was marked lost.",
    Phase.CANCELLED: "The job was cancelled.",
    Phase.TIMED_OUT: "The job ran past its time limit.",
}

_STATUS_FOR_PHASE: dict[Phase, JobStatus] = {
    Phase.QUEUED: JobStatus.QUEUED,
    Phase.COMPLETED: JobStatus.COMPLETED,
    Phase.CANCELLED: JobStatus.CANCELLED,
    **{p: JobStatus.FAILED for p in FAILURE_PHASES - {Phase.CANCELLED}},
}


def status_for_phase(phase: Phase) -> JobStatus:
    """The coarse status shown in the job list for a phase."""
    return _STATUS_FOR_PHASE.get(phase, JobStatus.RUNNING)


def new_job_id() -> str:
    """A fresh job id: a UUID4 string."""
    return str(uuid.uuid4())


def is_job_id(value: str) -> bool:
    """True when `value` is a canonical UUID4 string (what `new_job_id` makes)."""
    try:
        parsed = uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return False
    return str(parsed) == value and parsed.version == 4


def utcnow() -> datetime:
    """Now, timezone-aware in UTC: the one clock of job records, stores and the local backend's run files."""
    return datetime.now(UTC)


class StepState(BaseModel):
    """One step of the execution timeline."""

    model_config = ConfigDict(extra="ignore")

    status: StepStatus = StepStatus.PENDING
    started_at: datetime | None = None
    completed_at: datetime | None = None
    duration_ms: int | None = None
    last_output: str = ""  # sanitised tail, bounded (see merge.TAIL_MAX_LINES)
    log_line_count: int = 0
    error: str | None = None
    source: str | None = None  # who wrote the last status: task, hook, reconcile, orphan_inferred…
    message: str | None = None  # one line of progress, e.g. "3 of 8 batches done"
    counters: dict[str, int] = Field(default_factory=dict)  # batches/pods per state


RESUME_MEMORY = 10  # resumes a record keeps in `resumes` (`resume_count` counts them all)


class ResumeRecord(BaseModel):
    """One resume of a job (`blastflow resume`): the run that took it over, from where, and what it reused.

    Batches are named by index ranges ("0-85,90"), so a search of thousands of batches keeps a short row.
    """

    model_config = ConfigDict(extra="ignore")

    number: int = 0  # 1 for the first resume; set by the merge
    flow_run_id: str | None = None
    at: datetime | None = None  # set by the merge
    from_phase: Phase | None = None  # the phase it left; set by the merge
    error: str | None = None  # the error it had then; set by the merge
    adopted: bool = False  # the backend's work was still running and was taken over, nothing started twice
    reused_count: int = 0
    reused: str = ""  # batch indexes whose archives were checked and kept, e.g. "0-85,90"
    rerun_count: int = 0
    rerun: str = ""  # batch indexes run again


def _empty_steps() -> dict[StepName, StepState]:
    return {name: StepState() for name in STEP_ORDER}


class JobRecord(BaseModel):
    """One row per job. Only `blastflow.merge.merge` makes a new one from an old one."""

    model_config = ConfigDict(extra="ignore")

    schema_version: int = SCHEMA_VERSION
    job_id: str
    version: int = 0  # merges applied; a conditional write increments it exactly once
    applied_updates: list[str] = Field(default_factory=list)  # ids of the latest updates merged (idempotency)
    title: str = ""
    program: str = ""
    database: str = ""
    query_count: int = 0
    query_length: int = 0
    backend: str = "local"
    flow_run_id: str | None = None
    host: str | None = None
    pid: int | None = None
    code_version: str | None = None
    rerun_of: str | None = None  # the job this one runs again (`blastflow rerun`, the page's Run again)
    resume_count: int = 0  # times `blastflow resume` took the job over
    resumes: list[ResumeRecord] = Field(default_factory=list)  # the latest `RESUME_MEMORY` resumes, oldest first
    phase: Phase = Phase.QUEUED
    status: JobStatus = JobStatus.QUEUED
    error: str | None = None
    error_code: str | None = None
    created_at: datetime
    updated_at: datetime
    results_location: str | None = None
    pod_logs: str | None = None  # None | "captured" | "unavailable"
    steps: dict[StepName, StepState] = Field(default_factory=_empty_steps)

    @field_validator("steps")
    @classmethod
    def _all_steps_in_order(cls, steps: dict[StepName, StepState]) -> dict[StepName, StepState]:
        return {name: steps.get(name, StepState()) for name in STEP_ORDER}

    @property
    def is_terminal(self) -> bool:
        return self.phase in TERMINAL_PHASES

    @property
    def active_step(self) -> StepName | None:
        return PHASE_TO_STEP[self.phase]

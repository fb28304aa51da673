"""What `blastflow run` shows while its search runs: the progress of a job row, the plain lines, the exit code.

Pure: the CLI reads the row, this module decides what to say. On a terminal the text feeds one live display;
elsewhere (a pipe, a log file) `plain_update` says which snapshots deserve a line: each step change, and within
a step at most one line every `PLAIN_EVERY_S` seconds, only when the batch counts or the message changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from blastflow.job_status import elapsed_s
from blastflow.model import PHASE_TO_STEP, STEP_LABELS, JobRecord, Phase, StepName
from blastflow.progress import format_duration, progress_line, without_eta
from blastflow.search import PodCounts

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "PLAIN_EVERY_S",
    "PlainState",
    "RunProgress",
    "exit_code",
    "plain_update",
    "run_progress",
]

EXIT_OK = 0  # the job completed
EXIT_FAILED = 1  # the job failed, was cancelled elsewhere, or the search process died
EXIT_INTERRUPTED = 130  # Ctrl-C: the job was cancelled, or left running (128 + SIGINT, as shells say)
PLAIN_EVERY_S = 10.0
_BATCH_FIELDS = ("pending", "running", "succeeded", "failed")


@dataclass(frozen=True)
class RunProgress:
    """One snapshot of a job as `run` shows it."""

    step: StepName | None  # the step running now; None before the first and after the last
    label: str  # the step's label, or the phase when no step runs
    detail: str  # batches done of total with an ETA, else the step's last message
    counts: PodCounts | None  # the step's batch counts, when it counts batches
    elapsed_s: float  # since the job was created

    @property
    def line(self) -> str:
        """The one line a person reads.

        Example:
            >>> RunProgress(StepName.PREPARE, "Prepare run", "", None, 1.5).line
            'Prepare run · 1.5 s'
        """
        detail = f": {self.detail}" if self.detail else ""
        return f"{self.label}{detail} · {format_duration(self.elapsed_s)}"

    @property
    def key(self) -> tuple[object, ...]:
        """What must change for a plain update within a step: not the clock, not the ETA."""
        return self.step, self.counts, without_eta(self.detail)


def run_progress(job: JobRecord | None, now: datetime, waited_s: float = 0.0) -> RunProgress:
    """The progress of `job` at `now`; None: its row is not written yet, `waited_s` after the search process started.

    Example:
        >>> from datetime import UTC, timedelta
        >>> from blastflow.model import StepState, StepStatus
        >>> t = datetime(2026, 1, 1, tzinfo=UTC)
        >>> run = StepState(status=StepStatus.RUNNING, started_at=t, counters={"succeeded": 2, "pending": 2})
        >>> job = JobRecord(job_id="j", phase=Phase.RUNNING, created_at=t, updated_at=t, steps={StepName.RUN: run})
        >>> run_progress(job, t + timedelta(seconds=10)).line
        'BLAST run: 2 of 4 batches done (50%), 0 running, 2 pending; about 10.0 s left · 10.0 s'
    """
    if job is None:  # Prefect starting (its temporary server, without `blastflow up`)
        return RunProgress(None, "Starting", "Prefect and the search process", None, waited_s)
    step = PHASE_TO_STEP[job.phase]
    took = elapsed_s(job, now)
    if step is None:
        return RunProgress(None, _phase_label(job.phase), "", None, took)
    state = job.steps[step]
    counts = _counts(state.counters)
    if counts is not None and counts.total:
        started = state.started_at or job.created_at
        detail = progress_line(counts, max(0.0, (now - started).total_seconds()))
    else:
        detail = without_eta(state.message or "")
    return RunProgress(step, STEP_LABELS[step], detail, counts, took)


def _phase_label(phase: Phase) -> str:
    return "Queued" if phase is Phase.QUEUED else phase.value.replace("_", " ").capitalize()


def _counts(counters: dict[str, int]) -> PodCounts | None:
    """The batch counts among a step's counters (wait for pods, run), or None for a step without batches."""
    fields = {name: counters[name] for name in _BATCH_FIELDS if name in counters}
    return PodCounts(**fields) if fields else None


@dataclass(frozen=True)
class PlainState:
    """What the last plain line said, and when (monotonic seconds)."""

    key: tuple[object, ...] | None = None
    at: float | None = None


def plain_update(
    last: PlainState, progress: RunProgress, now_s: float, every_s: float = PLAIN_EVERY_S
) -> tuple[str | None, PlainState]:
    """The line to print for `progress` (None: stay quiet) and the state to pass next time.

    A new step always gets a line; within a step, a change gets one once `every_s` passed since the last line.

    Example:
        >>> first = RunProgress(StepName.RUN, "BLAST run", "0 of 4 batches done (0%), 4 running, 0 pending",
        ...                     PodCounts(running=4), 1.0)
        >>> line, state = plain_update(PlainState(), first, now_s=100.0)
        >>> line
        'BLAST run: 0 of 4 batches done (0%), 4 running, 0 pending · 1.0 s'
        >>> plain_update(state, first, now_s=200.0)[0] is None  # nothing changed
        True
    """
    if last.key is not None and progress.key == last.key:
        return None, last
    same_step = last.key is not None and progress.step == last.key[0]
    if same_step and last.at is not None and now_s - last.at < every_s:
        return None, last
    return progress.line, PlainState(progress.key, now_s)


def exit_code(job: JobRecord | None) -> int:
    """What `run` exits with once its search process ended: 0 only for a completed job.

    Example:
        >>> from datetime import UTC
        >>> t = datetime(2026, 1, 1, tzinfo=UTC)
        >>> exit_code(JobRecord(job_id="j", phase=Phase.COMPLETED, created_at=t, updated_at=t)), exit_code(None)
        (0, 1)
    """
    return EXIT_OK if job is not None and job.phase is Phase.COMPLETED else EXIT_FAILED

"""Stop a job's backend work once nobody will use it (cancelled, failed, or lost); keep what finished.

Called after the failure is written, so the job's state never waits on a cluster. Whatever happens is
said, never raised: a cluster that is already gone, or a delete that fails, is a line in the log, and the
job keeps the error that ended it. The line goes into the job's own log, under the step the job stopped
at, so whoever reads the job sees whether compute was left behind.
"""

from __future__ import annotations

from blastflow.backends import get_backend
from blastflow.errors import BlastflowError
from blastflow.joblog import StepLog
from blastflow.merge import JobUpdate
from blastflow.model import STEP_ORDER, JobRecord, JobStatus, Phase, StepName, StepStatus
from blastflow.sanitise import sanitise
from blastflow.search import PreparedRun
from blastflow.settings import Settings
from blastflow.store.base import StateStore

__all__ = ["KEPT_FOR_RESUME", "LOG_PREFIX", "cancel_job", "stop_work", "stopped_at"]

_LIVE = (JobStatus.QUEUED, JobStatus.RUNNING)
LOG_PREFIX = "Backend work: "  # the job-log line that says what was stopped (or left running)
KEPT_FOR_RESUME = (
    "left running for `blastflow resume` (BLASTFLOW_RECONCILE_KEEP_WORK=true); finished batch archives are kept"
)


def stop_work(job_id: str, store: StateStore, settings: Settings, *, keep_running: bool = False) -> str:
    """Cancel the job's backend work, sparing its backend's other live runs; what was done, in words.

    Args:
        job_id: the job whose work stops.
        store: the job store (for the other live runs, and the job's log).
        settings: where the job's run directory is.
        keep_running: leave running work alone (for `resume`), and only say so in the job's log.

    Returns:
        What was done, also written to the job's log as a line starting with `LOG_PREFIX`.
    """
    outcome = KEPT_FOR_RESUME if keep_running else _stop(job_id, store, settings)
    _record(store, job_id, outcome)
    return outcome


def _stop(job_id: str, store: StateStore, settings: Settings) -> str:
    try:
        run_dir = settings.job_dir(job_id)  # an id that names no job directory raises here, said below
        if not (run_dir / "run.json").is_file():
            return "nothing was prepared, so no backend work to stop"
        run = PreparedRun.load(run_dir)
        others = _live_runs(store, settings, run.backend, exclude=job_id)
        return get_backend(run.backend, settings).cancel(run, others)
    except BlastflowError as exc:
        return sanitise(f"could not stop the backend work: {exc}")


def _record(store: StateStore, job_id: str, outcome: str) -> None:
    """The outcome as a line of the job's log; a store that cannot take it now loses only this line."""
    try:
        job = store.get(job_id)
        if job is None:
            return
        log = StepLog(store, job_id, stopped_at(job))
        log.add(sanitise(LOG_PREFIX + outcome))  # a backend's words (a CLI's stderr) may carry a secret
        log.close(timeout_s=30.0)
    except BlastflowError:
        pass  # the work is stopped either way; the caller logs the outcome too


def stopped_at(job: JobRecord) -> StepName:
    """The step a job stopped at: the last one running or failed, else the last one reached, else prepare.

    Example:
        >>> from datetime import UTC, datetime
        >>> from blastflow.model import StepState
        >>> t = datetime(2026, 1, 1, tzinfo=UTC)
        >>> job = JobRecord(job_id="j", created_at=t, updated_at=t, steps={
        ...     StepName.PREPARE: StepState(status=StepStatus.COMPLETED),
        ...     StepName.SUBMIT: StepState(status=StepStatus.COMPLETED),
        ...     StepName.WAIT_FOR_PODS: StepState(status=StepStatus.FAILED)})
        >>> stopped_at(job).value
        'wait_for_pods'
    """
    for wanted in ({StepStatus.RUNNING, StepStatus.FAILED}, {StepStatus.COMPLETED, StepStatus.SKIPPED}):
        reached = [name for name in STEP_ORDER if job.steps[name].status in wanted]
        if reached:
            return reached[-1]
    return StepName.PREPARE


def _live_runs(store: StateStore, settings: Settings, backend: str, exclude: str) -> list[PreparedRun]:
    """The prepared runs of the other live jobs on `backend`."""
    runs = []
    for job in store.list_jobs(status=_LIVE, limit=1000):
        run_dir = settings.job_dir(job.job_id)
        if job.job_id != exclude and job.backend == backend and (run_dir / "run.json").is_file():
            runs.append(PreparedRun.load(run_dir))
    return runs


def cancel_job(job_id: str, store: StateStore, settings: Settings, *, by: str) -> tuple[JobRecord, str]:
    """Cancel a job no flow run will end: write `cancelled` through the merge, then stop its backend work.

    For a job without a live flow run that Prefect can cancel (none, one Prefect lost, one no worker acted
    on). The phase is written first, so the job never waits on a cluster; the merge fails the running step.

    Returns:
        The job as stored, and what was done with its backend work (also in the job's log).
    """
    update = JobUpdate(phase=Phase.CANCELLED, error=f"Cancelled: {by}", error_code="cancelled", source="cancel")
    job = store.update(job_id, update)
    return job, stop_work(job_id, store, settings)

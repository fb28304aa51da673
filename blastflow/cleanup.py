"""Stop a job's backend work once nobody will use it (cancelled, or failed by reconcile); keep what finished.

Called after the failure is written, so the job's state never waits on a cluster. Whatever happens is
said, never raised: a cluster that is already gone, or a delete that fails, is a line in the log, and the
job keeps the error that ended it.
"""

from __future__ import annotations

from blastflow.backends import get_backend
from blastflow.errors import BlastflowError
from blastflow.model import JobStatus
from blastflow.sanitise import sanitise
from blastflow.search import PreparedRun
from blastflow.settings import Settings
from blastflow.store.base import StateStore

__all__ = ["stop_work"]

_LIVE = (JobStatus.QUEUED, JobStatus.RUNNING)


def stop_work(job_id: str, store: StateStore, settings: Settings) -> str:
    """Cancel the job's backend work, sparing its backend's other live runs; what was done, in words."""
    run_dir = settings.job_dir(job_id)
    if not (run_dir / "run.json").is_file():
        return "nothing was prepared, so no backend work to stop"
    run = PreparedRun.load(run_dir)
    try:
        others = _live_runs(store, settings, run.backend, exclude=job_id)
        return get_backend(run.backend, settings).cancel(run, others)
    except BlastflowError as exc:
        return sanitise(f"could not stop the backend work: {exc}")


def _live_runs(store: StateStore, settings: Settings, backend: str, exclude: str) -> list[PreparedRun]:
    """The prepared runs of the other live jobs on `backend`."""
    runs = []
    for job in store.list_jobs(status=_LIVE, limit=1000):
        run_dir = settings.job_dir(job.job_id)
        if job.job_id != exclude and job.backend == backend and (run_dir / "run.json").is_file():
            runs.append(PreparedRun.load(run_dir))
    return runs

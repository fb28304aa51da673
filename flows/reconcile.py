"""The reconcile flow: fail live-looking jobs whose Prefect run or worker is gone."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from prefect import flow, get_run_logger
from prefect.client.orchestration import get_client
from prefect.exceptions import ObjectNotFound

from blastflow.cleanup import stop_work
from blastflow.errors import InputError
from blastflow.model import JobRecord, utcnow
from blastflow.reconcile import MISSING, reconcile_jobs
from blastflow.settings import get_settings
from blastflow.store.base import StateStore
from tasks.context import store

__all__ = ["flow_run_state", "reconcile"]


def flow_run_state(job: JobRecord) -> str | None:
    """The Prefect state type of the job's flow run, `MISSING`, or None when it can't be told."""
    if not job.flow_run_id:
        return None
    try:
        with get_client(sync_client=True) as client:
            run = client.read_flow_run(UUID(job.flow_run_id))
    except ObjectNotFound:
        return MISSING
    except ValueError:
        return None
    return run.state.type.value if run.state is not None else None


@flow(name="reconcile", log_prints=True)
def reconcile(quiet_threshold_s: float | None = None, flow_run_id: str | None = None) -> list[str]:
    """Fail jobs that still look live but whose run crashed, failed, was cancelled, vanished or went quiet.

    A quiet row fails a job only when neither its Prefect flow run nor its process can be shown alive. The
    backend work of each job failed here is stopped (its finished batches kept) and the job's log says what
    was stopped; with BLASTFLOW_RECONCILE_KEEP_WORK=true it is left running for `blastflow resume` instead.

    Args:
        quiet_threshold_s: Seconds without a state update after which a live job counts as lost
            (default: BLASTFLOW_QUIET_THRESHOLD_S, 900).
        flow_run_id: Settle only the job this Prefect flow run runs (the automation "reconcile a search whose
            run crashed, failed or was cancelled" sets it); empty: every live job.

    Returns:
        The ids of the jobs marked failed.
    """
    threshold = quiet_threshold_s or get_settings().quiet_threshold_s
    written = reconcile_jobs(
        _jobs_to_settle(flow_run_id), now=utcnow, run_state=flow_run_state, quiet_threshold_s=threshold
    )
    logger = get_run_logger()
    settings = get_settings()
    for job in written:
        logger.warning("job %s marked %s: %s", job.job_id, job.phase.value, job.error)
        outcome = stop_work(job.job_id, store(), settings, keep_running=settings.reconcile_keep_work)
        logger.info("job %s: backend work %s", job.job_id, outcome)
    logger.info("reconcile: %d job(s) marked failed", len(written))
    return [job.job_id for job in written]


def _jobs_to_settle(flow_run_id: str | None) -> StateStore:
    """The store; for one flow run, the store as reconcile sees it with only the jobs that run runs."""
    if not flow_run_id:
        return store()
    try:
        run_id = str(UUID(flow_run_id))
    except ValueError:
        raise InputError(f"flow_run_id {flow_run_id!r} is not a Prefect flow run id (a UUID): pass the id of a "
                         "blast-search run, or leave it empty to reconcile every live job") from None
    return _OneRunsJobs(store(), run_id)


class _OneRunsJobs:
    """The store, listing only the jobs one flow run runs.

    A job names the flow run that runs it now (`flow_run_id`: whether the job id is that run's id or its
    `job_id` parameter), so the end of a run that no longer runs a job (a later run took it over) settles nothing.
    """

    def __init__(self, inner: StateStore, flow_run_id: str) -> None:
        self._inner = inner
        self._flow_run_id = flow_run_id

    def list_jobs(self, **kwargs: Any) -> list[JobRecord]:
        return [job for job in self._inner.list_jobs(**kwargs) if job.flow_run_id == self._flow_run_id]

    def __getattr__(self, name: str) -> Any:  # everything else (get, update, ...) as the store does it
        return getattr(self._inner, name)

"""The reconcile flow: fail live-looking jobs whose Prefect run or worker is gone."""

from __future__ import annotations

from uuid import UUID

from prefect import flow, get_run_logger
from prefect.client.orchestration import get_client
from prefect.exceptions import ObjectNotFound

from blastflow.cleanup import stop_work
from blastflow.model import JobRecord, utcnow
from blastflow.reconcile import MISSING, reconcile_jobs
from blastflow.settings import get_settings
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
def reconcile(quiet_threshold_s: float | None = None) -> list[str]:
    """Fail jobs that still look live but whose run crashed, failed, was cancelled, vanished or went quiet.

    Args:
        quiet_threshold_s: Seconds without a state update after which a live job counts as lost
            (default: BLASTFLOW_QUIET_THRESHOLD_S, 900).

    Returns:
        The ids of the jobs marked failed.
    """
    threshold = quiet_threshold_s or get_settings().quiet_threshold_s
    written = reconcile_jobs(
        store(), now=utcnow, run_state=flow_run_state, quiet_threshold_s=threshold
    )
    logger = get_run_logger()
    for job in written:
        logger.warning("job %s marked %s: %s", job.job_id, job.phase.value, job.error)
        logger.info("job %s: %s", job.job_id, stop_work(job.job_id, store(), get_settings()))
    logger.info("reconcile: %d job(s) marked failed", len(written))
    return [job.job_id for job in written]

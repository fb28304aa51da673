"""Reconcile: find live-looking jobs whose run is gone and fail them through the merge (fix G).

The verdict is a pure function of the row, the Prefect flow-run state, whether
the local flow process is alive, and the time; the loop around it is thin.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from datetime import datetime

from blastflow.merge import JobUpdate
from blastflow.model import JobRecord, JobStatus, Phase
from blastflow.process import alive
from blastflow.store.base import StateStore

__all__ = ["LIVE_RUN_STATES", "MISSING", "pid_alive", "reconcile_jobs", "verdict"]

MISSING = "MISSING"  # the flow run is not known to Prefect
_DEAD_RUN_STATES = {"CRASHED": Phase.WORKER_LOST, "FAILED": Phase.FAILED, "CANCELLED": Phase.CANCELLED}
# Prefect state types of a flow run that has not ended: such a run is alive, however quiet its row.
LIVE_RUN_STATES = frozenset({"SCHEDULED", "PENDING", "RUNNING", "PAUSED", "CANCELLING"})


def verdict(
    job: JobRecord,
    *,
    now: datetime,
    run_state: str | None,
    process_alive: bool | None,
    quiet_threshold_s: float,
) -> JobUpdate | None:
    """The failure to record for `job`, or None when it still looks alive.

    Args:
        job: the stored record.
        now: current time (tz-aware).
        run_state: the Prefect flow run's state type (e.g. "RUNNING", "CRASHED"), `MISSING`, or None if unknown.
        process_alive: whether the flow process on this host still runs; None when it can't be told.
        quiet_threshold_s: a live job whose row has not changed for this long is lost, unless its flow run
            or its process is shown alive (a quiet row alone never fails a live run).

    Example:
        >>> from datetime import UTC, datetime, timedelta
        >>> t = datetime(2026, 1, 1, tzinfo=UTC)
        >>> job = JobRecord(job_id="j", phase=Phase.RUNNING, created_at=t, updated_at=t)
        >>> verdict(job, now=t, run_state="CRASHED", process_alive=None, quiet_threshold_s=900).phase.value
        'worker_lost'
        >>> verdict(job, now=t + timedelta(seconds=60), run_state="RUNNING", process_alive=True,
        ...         quiet_threshold_s=900) is None
        True
        >>> verdict(job, now=t + timedelta(hours=2), run_state="RUNNING", process_alive=None,
        ...         quiet_threshold_s=900) is None
        True
    """
    if job.is_terminal:
        return None
    if run_state in _DEAD_RUN_STATES:
        phase = _DEAD_RUN_STATES[run_state]
        why = f"the Prefect flow run {job.flow_run_id} ended {run_state} while the job was {job.phase.value}"
    elif run_state == MISSING:
        phase, why = Phase.WORKER_LOST, f"the Prefect flow run {job.flow_run_id} no longer exists"
    elif process_alive is False:
        phase = Phase.WORKER_LOST
        why = f"the flow process (pid {job.pid} on {job.host}) is gone while the job was {job.phase.value}"
    else:
        quiet_s = (now - job.updated_at).total_seconds()
        if quiet_s <= quiet_threshold_s or run_state in LIVE_RUN_STATES or process_alive:
            return None
        phase = Phase.WORKER_LOST
        why = f"no state update for {quiet_s:.0f} s (threshold {quiet_threshold_s:.0f} s) while {job.phase.value}"
    return JobUpdate(phase=phase, error=f"Worker lost: {why}" if phase is Phase.WORKER_LOST else why,
                     error_code=phase.value, source="reconcile")


def pid_alive(job: JobRecord) -> bool | None:
    """Whether the job's flow process runs, when it ran on this host; None otherwise."""
    if job.pid is None or job.host != socket.gethostname():
        return None
    return alive(job.pid)


def reconcile_jobs(
    store: StateStore,
    *,
    now: Callable[[], datetime],
    run_state: Callable[[JobRecord], str | None],
    quiet_threshold_s: float,
) -> list[JobRecord]:
    """Fail every live job that has lost its run; return the records written."""
    live = store.list_jobs(status=[JobStatus.QUEUED, JobStatus.RUNNING], limit=10_000)
    written = []
    for job in live:
        update = verdict(
            job, now=now(), run_state=run_state(job), process_alive=pid_alive(job), quiet_threshold_s=quiet_threshold_s
        )
        if update is not None:
            written.append(store.update(job.job_id, update))
    return written

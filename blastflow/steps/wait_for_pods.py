"""Wait for pods: until the first pod runs (the `submitted` transit phase ends), the backend fails, or a timeout."""

from __future__ import annotations

from blastflow.errors import BackendError, TimedOut
from blastflow.joblog import StepLog
from blastflow.merge import JobUpdate, StepUpdate
from blastflow.model import Phase, StepName
from blastflow.progress import progress_line
from blastflow.search import PodCounts, PreparedRun, RunState
from blastflow.steps.context import StepContext

__all__ = ["pods_started", "wait_for_pods"]

STATUS_EVERY_S = 30.0  # the full status call can be slow (a CLI on elastic-blast): ask it less often


def pods_started(counts: PodCounts) -> bool:
    """True once a pod runs or has finished: the end of the `submitted` transit phase.

    Batches beyond the backend's capacity (local slots, cluster nodes) stay
    pending while others run; that is progress the run step reports, not a stall.

    Example:
        >>> pods_started(PodCounts(running=1, pending=14))
        True
        >>> pods_started(PodCounts(pending=3))
        False
    """
    return counts.running + counts.finished > 0


def wait_for_pods(ctx: StepContext, run: PreparedRun) -> PodCounts:
    """Return the pod counts once a pod has started; raise `TimedOut` or `BackendError`.

    The row is written on every change and heartbeats in between (`StepContext.heartbeat`): a cluster may
    spend its first 45 minutes setting up the database with nothing to count, and a quiet row would read as
    a lost worker.
    """
    start = ctx.clock()
    last: PodCounts | None = None
    said = ""  # the backend's last word on what it is doing (e.g. ElasticBLAST's database setup)
    next_status = start + max(STATUS_EVERY_S, ctx.backend.status_interval_s)
    log = ctx.log(StepName.WAIT_FOR_PODS)
    try:
        while True:
            counts = ctx.backend.pod_counts(run)
            now = ctx.clock()
            if counts != last:
                log.add(progress_line(counts))
                last = counts
                update = StepUpdate(counters=counts.as_counters(), message=said or progress_line(counts))
                ctx.write(JobUpdate(steps={StepName.WAIT_FOR_PODS: update}))
            if pods_started(counts):
                break
            if now >= next_status:
                next_status = now + max(STATUS_EVERY_S, ctx.backend.status_interval_s)
                said = _backend_says(ctx, run, said, log)
            if now - start > ctx.settings.wait_for_pods_timeout_s:
                raise _timed_out(ctx, run, counts)
            ctx.pause(ctx.settings.poll_interval_s, on_tick=ctx.waiting(log))  # lines go out on time; heartbeat
    finally:
        log.close()
    ctx.write(JobUpdate(phase=Phase.RUNNING, steps={StepName.RUN: StepUpdate(counters=counts.as_counters())}))
    return counts


def _backend_says(ctx: StepContext, run: PreparedRun, said: str, log: StepLog) -> str:
    """Ask the backend's status: raise on FAILURE; log and show what it is doing when that changes."""
    status = ctx.backend.status(run)
    if status.state is RunState.FAILURE:
        raise BackendError(status.message or "the backend reported FAILURE before pods started")
    if status.message and status.message != said:
        log.add(status.message)
        ctx.write(JobUpdate(steps={StepName.WAIT_FOR_PODS: StepUpdate(message=status.message)}))
    return status.message


def _timed_out(ctx: StepContext, run: PreparedRun, counts: PodCounts) -> TimedOut:
    timeout_s = ctx.settings.wait_for_pods_timeout_s
    problems = ctx.backend.pod_problems(run)
    cause = f" The cluster says: {'; '.join(problems[:3])}." if problems else ""
    return TimedOut(
        f"no pod started within {timeout_s:.0f} s ({counts.pending} of {counts.total or len(run.batches)} "
        f"pending).{cause} Check cluster capacity, quota and images, or raise BLASTFLOW_WAIT_FOR_PODS_TIMEOUT_S."
    )

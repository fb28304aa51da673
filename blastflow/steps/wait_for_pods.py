"""Wait for pods: until the first pod runs (the `submitted` transit phase ends), the backend fails, or a timeout."""

from __future__ import annotations

from blastflow.errors import BackendError, TimedOut
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
    """Return the pod counts once a pod has started; raise `TimedOut` or `BackendError`."""
    timeout_s = ctx.settings.wait_for_pods_timeout_s
    start = ctx.clock()
    last: PodCounts | None = None
    next_status = start + STATUS_EVERY_S
    log = ctx.log(StepName.WAIT_FOR_PODS)
    try:
        while True:
            counts = ctx.backend.pod_counts(run)
            if counts != last:
                last = counts
                text = progress_line(counts)
                log.add(text)
                ctx.write(
                    JobUpdate(steps={StepName.WAIT_FOR_PODS: StepUpdate(counters=counts.as_counters(), message=text)})
                )
            if pods_started(counts):
                break
            now = ctx.clock()
            if now >= next_status:
                next_status = now + STATUS_EVERY_S
                status = ctx.backend.status(run)
                if status.state is RunState.FAILURE:
                    raise BackendError(status.message or "the backend reported FAILURE before pods started")
            if now - start > timeout_s:
                problems = ctx.backend.pod_problems(run)
                cause = f" The cluster says: {'; '.join(problems[:3])}." if problems else ""
                raise TimedOut(
                    f"no pod started within {timeout_s:.0f} s ({counts.pending} of {counts.total or len(run.batches)} "
                    f"pending).{cause} Check cluster capacity, quota and images, or raise "
                    "BLASTFLOW_WAIT_FOR_PODS_TIMEOUT_S."
                )
            ctx.pause(ctx.settings.poll_interval_s, on_tick=log.tick)  # buffered lines go out on time
    finally:
        log.close()
    ctx.write(JobUpdate(phase=Phase.RUNNING, steps={StepName.RUN: StepUpdate(counters=counts.as_counters())}))
    return counts

"""Poll: batch status counts until the run succeeds or fails, with percent done and an ETA."""

from __future__ import annotations

from collections.abc import Callable

from blastflow.errors import BackendError, TimedOut
from blastflow.merge import JobUpdate, StepUpdate
from blastflow.model import Phase, StepName
from blastflow.progress import percent_done, progress_line
from blastflow.search import PreparedRun, RunState, RunStatus
from blastflow.steps.context import StepContext

__all__ = ["poll"]

UNKNOWN_LIMIT = 10  # consecutive UNKNOWN answers (e.g. the cluster was deleted) before giving up


def poll(
    ctx: StepContext, run: PreparedRun, on_progress: Callable[[float, str], None] | None = None
) -> RunStatus:
    """Return the final SUCCESS status; raise `BackendError` on FAILURE, `TimedOut` past the run limit."""
    start = ctx.clock()
    log = ctx.log(StepName.RUN)
    last_line = ""
    unknown = 0
    try:
        while True:
            status = ctx.backend.status(run)
            now = ctx.clock()
            line = progress_line(status.counts, now - start)
            if line != last_line:
                log.add(line)
                if on_progress is not None:
                    on_progress(percent_done(status.counts), line)
                last_line = line
                ctx.write(
                    JobUpdate(steps={StepName.RUN: StepUpdate(counters=status.counts.as_counters(), message=line)})
                )
            if status.state is RunState.SUCCESS:
                log.add(f"All {status.counts.total} batches succeeded")
                break
            if status.state is RunState.FAILURE:
                raise BackendError(status.message or "the backend reported FAILURE", code="blast_failed")
            unknown = unknown + 1 if status.state is RunState.UNKNOWN else 0
            if unknown >= UNKNOWN_LIMIT:
                raise BackendError(
                    f"the backend could not tell the run's state {unknown} times in a row: "
                    f"{status.message or 'no reason given'}",
                    code="status_unknown",
                )
            if now - start > ctx.settings.run_timeout_s:
                raise TimedOut(
                    f"the BLAST run did not finish within {ctx.settings.run_timeout_s:.0f} s ({line}). "
                    "Raise BLASTFLOW_RUN_TIMEOUT_S for larger searches."
                )
            interval = max(ctx.settings.poll_interval_s, ctx.backend.status_interval_s)
            ctx.pause(interval, on_tick=ctx.waiting(log))  # buffered lines go out on time; the row heartbeats
    finally:
        log.close()
    if on_progress is not None:
        on_progress(100.0, last_line)
    ctx.write(JobUpdate(phase=Phase.FINALIZING))
    return status

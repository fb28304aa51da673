"""Resume: take a job over from a run that died or failed, keeping its batches and every complete archive.

The checks and the choice are `blastflow.resume`'s; this step asks the backend,
checks the archives (in parallel: each check is one `blast_formatter` run),
records the resume on the row and hands the backend what to run. The flow then
submits (only the chosen batches), waits, polls and finalizes as usual.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from blastflow.merge import JobUpdate, StepUpdate
from blastflow.model import Phase, StepName, StepStatus
from blastflow.reconcile import pid_alive
from blastflow.resume import (
    LIVE_STATES,
    ResumeAction,
    ResumePlan,
    archive_complete,
    check_resumable,
    plan_resume,
    resume_update,
)
from blastflow.search import Batch, PreparedRun
from blastflow.steps.context import StepContext

__all__ = ["Resumed", "Worker", "resume"]


@dataclass(frozen=True, slots=True)
class Worker:
    """The process that takes the job over (recorded on the row, so reconcile can tell whether it lives)."""

    flow_run_id: str
    host: str
    pid: int
    code_version: str


@dataclass(frozen=True, slots=True)
class Resumed:
    run: PreparedRun
    plan: ResumePlan


def resume(ctx: StepContext, worker: Worker) -> Resumed:
    """Check the job may be resumed, decide what to keep and run, record it, and prepare the backend.

    Raises:
        ResumeRefused: not found, never prepared, completed, or still running (the job is left as it was).
        BackendError: the backend cannot run only part of the search (ElasticBLAST), with what to do instead.
    """
    job = ctx.store.get(ctx.job_id)
    run_dir = ctx.settings.job_dir(ctx.job_id)
    prepared = (run_dir / "run.json").is_file()
    alive = pid_alive(job) if job else None
    check_resumable(job, ctx.job_id, prepared=prepared, flow_alive=alive, flow_run_id=worker.flow_run_id)
    run = PreparedRun.load(run_dir)
    plan = _plan(ctx, run)
    ctx.write(
        resume_update(
            plan, flow_run_id=worker.flow_run_id, host=worker.host, pid=worker.pid, code_version=worker.code_version
        )
    )
    _hand_over(ctx, run, plan)
    return Resumed(run, plan)


def _plan(ctx: StepContext, run: PreparedRun) -> ResumePlan:
    """The backend's state and archives, each archive checked unless the work is still running (adopted)."""
    state = ctx.backend.status(run).state
    archives = ctx.backend.batch_archives(run)
    if state in LIVE_STATES or not archives:
        return plan_resume(run.batches, state, archives, lambda batch, path: False)
    complete = _complete_batches(run.batches, archives, ctx.backend.results_database(run))
    return plan_resume(run.batches, state, archives, lambda batch, path: batch.name in complete)


def _complete_batches(batches: list[Batch], archives: dict[str, Path], blastdb: Path | None) -> set[str]:
    """The names of the batches whose archive is complete and valid (`archive_complete`)."""
    present = [b for b in batches if b.name in archives]
    with ThreadPoolExecutor(max_workers=max(1, min(8, os.cpu_count() or 1))) as pool:
        verdicts = pool.map(lambda b: archive_complete(archives[b.name], b, blastdb), present)
        return {b.name for b, ok in zip(present, verdicts, strict=True) if ok}


def _hand_over(ctx: StepContext, run: PreparedRun, plan: ResumePlan) -> None:
    """Tell the backend what to run (SUBMIT), or close the steps a resume skips (ADOPT, FINALIZE)."""
    log = ctx.log(StepName.SUBMIT)
    log.add(plan.summary())
    try:
        if plan.action is ResumeAction.SUBMIT:
            log.add(ctx.backend.resume_submit(run, plan.rerun))
    finally:
        log.close()
    if plan.action is ResumeAction.SUBMIT:
        return  # the submit step follows
    if plan.action is ResumeAction.ADOPT:
        said = "Adopted the backend's work from the earlier run, still running: nothing was started again"
        ctx.write(JobUpdate(phase=Phase.SUBMITTED, steps={StepName.SUBMIT: _done(StepStatus.COMPLETED, said)}))
        return
    kept = f"All {len(plan.reused)} batches' results kept from the earlier run"
    ctx.write(
        JobUpdate(
            phase=Phase.FINALIZING,
            steps={
                StepName.SUBMIT: _done(StepStatus.SKIPPED, kept),
                StepName.WAIT_FOR_PODS: _done(StepStatus.SKIPPED, kept),
                StepName.RUN: _done(StepStatus.COMPLETED, kept),
            },
        )
    )


def _done(status: StepStatus, message: str) -> StepUpdate:
    return StepUpdate(status=status, message=message, source="resume")

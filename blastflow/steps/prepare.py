"""Prepare: validate the query, options and database, write the backend config, split batches."""

from __future__ import annotations

from blastflow.merge import JobUpdate, StepUpdate
from blastflow.model import Phase, StepName, StepStatus
from blastflow.search import PreparedRun, SearchSpec
from blastflow.steps.context import StepContext

__all__ = ["prepare"]


def prepare(ctx: StepContext, spec: SearchSpec) -> PreparedRun:
    """Check everything before any work starts; bad input raises `InputError` here."""
    ctx.write(JobUpdate(phase=Phase.PREPARING, program=spec.program, title=spec.title or None))
    log = ctx.log(StepName.PREPARE)
    log.add(f"Checking {spec.program} query, options and database")
    run = ctx.backend.prepare(ctx.job_id, spec, ctx.settings.job_dir(ctx.job_id))
    log.add(f"{run.query_count} queries, {run.query_length:,} residues ({run.molecule})")
    log.add(f"Database: {run.database_label}")
    if run.options:
        log.add(f"BLAST options: {' '.join(run.options)}")
    log.add(f"{len(run.batches)} batches for backend {run.backend}")
    log.close()
    ctx.write(
        JobUpdate(
            database=run.database_label,
            query_count=run.query_count,
            query_length=run.query_length,
            results_location=run.results_location or None,
            steps={
                StepName.PREPARE: StepUpdate(
                    status=StepStatus.COMPLETED,
                    counters={"queries": run.query_count, "batches": len(run.batches)},
                    message=f"{run.query_count} queries in {len(run.batches)} batches",
                )
            },
        )
    )
    return run

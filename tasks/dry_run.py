"""Prefect task: report a prepared run and end the job without submitting anything."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from blastflow import steps
from blastflow.search import PreparedRun
from tasks.context import raises_sanitised, step_context


@task(name="dry-run", cache_policy=NO_CACHE)
@raises_sanitised
def dry_run(run: PreparedRun) -> dict[str, str]:
    """The config path, its (sanitised) content and the submit command that would run."""
    return steps.dry_run(step_context(run.job_id, run.backend), run).as_dict()

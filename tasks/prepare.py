"""Prefect task: prepare a run (validate input, write config, split batches)."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from blastflow import steps
from blastflow.search import PreparedRun, SearchSpec
from tasks.context import raises_sanitised, step_context


@task(name="prepare", cache_policy=NO_CACHE)
@raises_sanitised
def prepare(job_id: str, backend: str, spec: SearchSpec) -> PreparedRun:
    """Bad input fails here, before any work starts: no retries, a deterministic error."""
    return steps.prepare(step_context(job_id, backend), spec)

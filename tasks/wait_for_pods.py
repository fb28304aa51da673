"""Prefect task: wait until the first pod runs (the end of the submitted transit phase)."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from blastflow import steps
from blastflow.search import PodCounts, PreparedRun
from tasks.context import TRANSIENT_RETRIES, raises_sanitised, step_context


@task(name="wait-for-pods", cache_policy=NO_CACHE, **TRANSIENT_RETRIES)
@raises_sanitised
def wait_for_pods(run: PreparedRun) -> PodCounts:
    return steps.wait_for_pods(step_context(run.job_id, run.backend), run)

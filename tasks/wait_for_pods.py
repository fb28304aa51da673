"""Prefect task: wait until every batch's pod is running or finished."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from blastflow import steps
from blastflow.backends.base import PodCounts, PreparedRun
from tasks.context import retry_if_transient, step_context


@task(
    name="wait-for-pods",
    cache_policy=NO_CACHE,
    retries=4,
    retry_delay_seconds=exponential_backoff(backoff_factor=5),
    retry_jitter_factor=0.5,
    retry_condition_fn=retry_if_transient,
)
def wait_for_pods(run: PreparedRun) -> PodCounts:
    return steps.wait_for_pods(step_context(run.job_id, run.backend), run)

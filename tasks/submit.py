"""Prefect task: hand the batches to the backend, streaming the submit CLI's output."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from blastflow import steps
from blastflow.search import PreparedRun
from tasks.context import raises_sanitised, retry_if_not_started, step_context


@task(name="submit", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5, retry_condition_fn=retry_if_not_started)
@raises_sanitised
def submit(run: PreparedRun) -> None:
    steps.submit(step_context(run.job_id, run.backend), run)

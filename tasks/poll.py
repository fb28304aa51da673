"""Prefect task: poll batch status until done, with a progress artifact (percent and ETA)."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE

from blastflow import steps
from blastflow.search import PreparedRun, RunStatus
from tasks.context import TRANSIENT_RETRIES, raises_sanitised, step_context


@task(name="poll", cache_policy=NO_CACHE, **TRANSIENT_RETRIES)
@raises_sanitised
def poll(run: PreparedRun) -> RunStatus:
    artifact_id = create_progress_artifact(
        progress=0.0, key=f"blast-progress-{run.job_id}", description="Batches done (percent) and ETA"
    )

    def on_progress(percent: float, line: str) -> None:
        update_progress_artifact(artifact_id=artifact_id, progress=percent, description=line)

    return steps.poll(step_context(run.job_id, run.backend), run, on_progress)

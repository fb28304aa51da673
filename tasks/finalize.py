"""Prefect task: merge results, keep pod logs, and publish summary and top-hits artifacts."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from blastflow import steps
from blastflow.provenance import provenance_markdown
from blastflow.sanitise import sanitise
from blastflow.search import PreparedRun
from blastflow.summary import top_hits_table
from tasks.context import raises_sanitised, retry_if_transient, step_context


@task(
    name="finalize",
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=exponential_backoff(backoff_factor=5),
    retry_condition_fn=retry_if_transient,
)
@raises_sanitised
def finalize(run: PreparedRun) -> dict[str, object]:
    result = steps.finalize(step_context(run.job_id, run.backend), run)
    # Hit text reaches the artifacts sanitised (blastflow.summary sanitises every query, subject and description).
    create_markdown_artifact(key=f"blast-summary-{run.job_id}", markdown=result.summary, description="BLAST summary")
    create_table_artifact(
        key=f"blast-hits-{run.job_id}", table=top_hits_table(result.top_hits), description="Top hits by e-value"
    )
    if result.provenance is not None:  # database titles and paths are the user's text: sanitised like hit text
        create_markdown_artifact(
            key=f"blast-provenance-{run.job_id}", markdown=sanitise(provenance_markdown(result.provenance)),
            description="What produced these results",
        )
    return {
        "hits": result.hit_count,
        "hits_path": str(result.hits_path),
        "parquet_path": str(result.parquet_path) if result.parquet_path else None,
        "archive_path": str(result.archive_path) if result.archive_path else None,
        "pod_logs": result.pod_logs,
    }

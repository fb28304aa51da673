"""Prefect task: take over a job whose run died or failed (`blastflow resume`), before submit, wait, poll, finalize."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from blastflow.steps.resume import Resumed, Worker
from blastflow.steps.resume import resume as resume_step
from tasks.context import raises_sanitised, retry_if_transient, step_context, store


@task(name="resume", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=10, retry_condition_fn=retry_if_transient)
@raises_sanitised
def resume(job_id: str, worker: Worker) -> Resumed:
    """A refusal (`ResumeRefused`) is final; a backend that did not answer (e.g. ElasticBLAST's status) is retried.

    The resume's row update is keyed by the flow run, so a retry records it once.
    """
    job = store().get(job_id)
    return resume_step(step_context(job_id, job.backend if job is not None else "local"), worker)

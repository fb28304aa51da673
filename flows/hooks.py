"""Flow state hooks: a failed, crashed or cancelled run is written through the merge."""

from __future__ import annotations

from typing import Any

from prefect.logging.loggers import flow_run_logger

from blastflow.cleanup import stop_work
from blastflow.merge import JobUpdate
from blastflow.model import Phase
from blastflow.resume import ResumeRefused
from blastflow.sanitise import sanitise
from blastflow.settings import get_settings
from tasks.context import store

__all__ = ["job_id_of", "on_cancellation", "on_crashed", "on_failure"]


def job_id_of(flow_run: Any) -> str:
    """The job id of a run: the job it resumes, else its `job_id` parameter, else the flow run id (as the flow)."""
    parameters = flow_run.parameters or {}
    return parameters.get("resume_job_id") or parameters.get("job_id") or str(flow_run.id)


def _refused_resume(state: Any) -> bool:
    """A resume that was refused left its job as it was (perhaps still running): no hook may touch it.

    The flow ends such a run Failed with the message `failed_message` makes: the exception's type first.
    """
    return (state.message or "").startswith(f"{ResumeRefused.__name__}:")


def _record(flow: Any, flow_run: Any, state: Any, phase: Phase, prefix: str) -> None:
    logger = flow_run_logger(flow_run, flow)
    # Prefect's state message quotes the exception raw (a URL with its SAS, a key): sanitised before any sink.
    message = sanitise((state.message or state.name or "no message").strip())
    update = JobUpdate(phase=phase, error=f"{prefix}: {message}", error_code=phase.value, source="hook")
    try:
        job = store().update(job_id_of(flow_run), update)
        logger.info("job %s recorded as %s", job.job_id, job.phase.value)
    except Exception as exc:  # a hook must not hide the run's own failure; reconcile will catch up
        logger.error("could not record the job's %s state: %s", phase.value, sanitise(str(exc)))


def on_failure(flow: Any, flow_run: Any, state: Any) -> None:
    # The flow body records the precise failure first; this covers failures outside it. Sticky
    # terminal phases keep the first (authoritative) error.
    if _refused_resume(state):
        flow_run_logger(flow_run, flow).info("the resume was refused: job %s is left as it was", job_id_of(flow_run))
        return
    _record(flow, flow_run, state, Phase.FAILED, "Flow run failed")
    # A failed run (a timeout, a step's error) may leave its batches running: nobody will use them now.
    outcome = stop_work(job_id_of(flow_run), store(), get_settings())
    flow_run_logger(flow_run, flow).info("backend work of the failed job: %s", outcome)


def on_crashed(flow: Any, flow_run: Any, state: Any) -> None:
    _record(flow, flow_run, state, Phase.WORKER_LOST, "Flow run crashed (worker lost)")


def on_cancellation(flow: Any, flow_run: Any, state: Any) -> None:
    _record(flow, flow_run, state, Phase.CANCELLED, "Cancelled")
    outcome = stop_work(job_id_of(flow_run), store(), get_settings())
    flow_run_logger(flow_run, flow).info("backend work of the cancelled job: %s", outcome)

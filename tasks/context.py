"""What the Prefect tasks share: the step context for this process, and retry rules."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from prefect import get_run_logger
from prefect.tasks import exponential_backoff

from blastflow.backends import get_backend
from blastflow.errors import SubmitError, TransientBackendError
from blastflow.settings import get_settings
from blastflow.steps import StepContext
from blastflow.store import open_store
from blastflow.store.base import StateStore

__all__ = ["TRANSIENT_RETRIES", "retry_if_not_started", "retry_if_transient", "step_context", "store"]


@lru_cache(maxsize=1)
def store() -> StateStore:
    """One store per process, opened from settings (BLASTFLOW_STORE_URL…)."""
    return open_store()


def step_context(job_id: str, backend: str) -> StepContext:
    settings = get_settings()
    return StepContext(
        job_id=job_id,
        store=store(),
        backend=get_backend(backend, settings),
        settings=settings,
        logger=get_run_logger(),
    )


def _exception(state: Any) -> BaseException | None:
    data = getattr(state, "data", None)
    return data if isinstance(data, BaseException) else None


def retry_if_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry cluster hiccups (timeouts, 5xx, throttling), never a real failure."""
    return isinstance(_exception(state), TransientBackendError)


def retry_if_not_started(task: Any, task_run: Any, state: Any) -> bool:
    """A submit is not idempotent: retry only when the child never started."""
    exc = _exception(state)
    return isinstance(exc, SubmitError) and not exc.child_started


# The retry policy of the polling tasks: cluster hiccups are retried with growing, jittered delays.
TRANSIENT_RETRIES: dict[str, Any] = {
    "retries": 4,
    "retry_delay_seconds": exponential_backoff(backoff_factor=5),
    "retry_jitter_factor": 0.5,
    "retry_condition_fn": retry_if_transient,
}

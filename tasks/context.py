"""What the Prefect tasks share: the step context for this process, and retry rules."""

from __future__ import annotations

import functools
from collections.abc import Callable
from functools import lru_cache
from typing import Any, ParamSpec, TypeVar

from prefect import get_run_logger
from prefect.tasks import exponential_backoff

from blastflow.backends import get_backend
from blastflow.errors import SubmitError, TransientBackendError
from blastflow.failure import sanitised_exception
from blastflow.settings import get_settings
from blastflow.steps import StepContext
from blastflow.store import open_store
from blastflow.store.base import StateStore

__all__ = [
    "TRANSIENT_RETRIES",
    "raises_sanitised",
    "retry_if_not_started",
    "retry_if_transient",
    "step_context",
    "store",
]

P = ParamSpec("P")
R = TypeVar("R")


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


def raises_sanitised(fn: Callable[P, R]) -> Callable[P, R]:
    """A task body whose exceptions leave it sanitised (same type and attributes, for the retry rules).

    Prefect logs a failed task's exception and keeps it in the task run's state message as they are: an error
    quoting a key or a SAS URL would reach both. Put it under `@task`.
    """

    @functools.wraps(fn)
    def body(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            clean = sanitised_exception(exc)
            if clean is exc:
                raise
            raise clean from None

    return body


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

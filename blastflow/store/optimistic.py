"""Optimistic concurrency for job rows: read, merge, conditional write; on conflict re-read and re-merge."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import datetime
from typing import Generic, TypeVar

from blastflow.errors import InputError, StoreError
from blastflow.merge import JobUpdate, merge
from blastflow.model import JobRecord, utcnow

__all__ = ["MAX_ATTEMPTS", "Read", "WriteConflict", "backoff_s", "merge_and_write"]

MAX_ATTEMPTS = 40
_BACKOFF_CAP_S = 0.25

T = TypeVar("T")


class WriteConflict(Exception):
    """Raised by a store's conditional write when the row changed since it was read."""


class Read(Generic[T]):
    """What a store read: the record (None when the job has no row) and the token its write checks."""

    __slots__ = ("record", "token")

    def __init__(self, record: JobRecord | None, token: T) -> None:
        self.record = record
        self.token = token


def backoff_s(attempt: int) -> float:
    """A small jittered pause before retry `attempt` (from 0), so racing writers spread out.

    Example:
        >>> 0 <= backoff_s(0) <= 0.002 and backoff_s(30) <= 0.25
        True
    """
    return random.uniform(0, min(_BACKOFF_CAP_S, 0.002 * 2**attempt))


def merge_and_write(
    job_id: str,
    update: JobUpdate,
    read: Callable[[], Read[T]],
    write: Callable[[JobRecord, Read[T]], None],
    *,
    attempts: int = MAX_ATTEMPTS,
    now: Callable[[], datetime] | None = None,
) -> JobRecord:
    """Apply `update` to the job's row through `merge` and a conditional write, retrying conflicts.

    Args:
        job_id: the (validated) job id; set on the update so a first write creates the row.
        update: what changed.
        read: reads the row now.
        write: writes the new record if the row is still as read; raises WriteConflict if not.
        attempts: how many read-merge-write rounds before giving up.
        now: the clock (default: UTC now).

    Returns:
        The record as stored.

    Raises:
        InputError: `update.job_id` names another job.
        StoreError: every attempt met a conflicting write.
    """
    if update.job_id not in (None, job_id):
        raise InputError(f"update.job_id {update.job_id!r} does not match the job id {job_id!r} it is written to")
    update = update.model_copy(update={"job_id": job_id})
    clock = now or utcnow
    for attempt in range(attempts):
        current = read()
        new = merge(current.record, update, clock())
        try:
            write(new, current)
        except WriteConflict:
            time.sleep(backoff_s(attempt))
            continue
        return new
    raise StoreError(
        f"job {job_id}: {attempts} writes in a row met a concurrent change of the same row; too many writers "
        "are updating this job at once. Retry later, or write less often (debounce state updates)",
        code="store_conflict",
    )

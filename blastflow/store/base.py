"""The `StateStore` protocol every store implements, and the log-line record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from blastflow.merge import JobUpdate
from blastflow.model import JobRecord, JobStatus, StepName

__all__ = ["LogLine", "LogPage", "StateStore"]


@dataclass(frozen=True, slots=True)
class LogLine:
    """One stored log line. `seq` orders the lines of one job and step (from 1)."""

    step: StepName
    seq: int
    text: str


@dataclass(frozen=True, slots=True)
class LogPage:
    """Lines after a cursor, and the cursor to pass next time to get only newer lines."""

    lines: list[LogLine]
    cursor: str | None


@runtime_checkable
class StateStore(Protocol):
    """Where job rows and job log lines live.

    Every state change goes through `update`: read, `merge`, conditional write,
    and on conflict re-read and re-merge. Nothing else writes a job row.
    """

    def get(self, job_id: str) -> JobRecord | None:
        """The current record, or None when the job has no row."""
        ...

    def update(self, job_id: str, update: JobUpdate) -> JobRecord:
        """Merge `update` into the job's row (creating it) and return the stored record."""
        ...

    def list_jobs(self, *, status: JobStatus | Sequence[JobStatus] | None = None, limit: int = 200) -> list[JobRecord]:
        """Jobs newest first (by `created_at`), optionally only those with the given status(es)."""
        ...

    def append_logs(self, job_id: str, step: StepName, lines: Sequence[str]) -> int:
        """Append sanitised lines to the job's log for `step`; return the last sequence number."""
        ...

    def read_logs(
        self, job_id: str, step: StepName | None = None, after: str | None = None, limit: int | None = None
    ) -> LogPage:
        """Lines in order (by step order, then sequence), only those after the `after` cursor."""
        ...

    def close(self) -> None: ...

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

    Every method checks its arguments before any I/O: a bad job id, step,
    status, cursor or limit raises `InputError`. A record or a log line that
    would break a Table storage limit raises `StoreLimitError` and nothing of
    that call is stored (long lines are fitted with `limits.fit_log_line`, as the step log does). An
    unreachable store raises `StoreUnavailable`.
    """

    def get(self, job_id: str) -> JobRecord | None:
        """The current record, or None when the job has no row."""
        ...

    def update(self, job_id: str, update: JobUpdate) -> JobRecord:
        """Merge `update` into the job's row (creating it) and return the stored record.

        The store sets `update.job_id`; an update naming another job raises InputError.
        """
        ...

    def list_jobs(self, *, status: JobStatus | Sequence[JobStatus] | None = None, limit: int = 200) -> list[JobRecord]:
        """Jobs newest first (by `created_at`), optionally only those with the given status(es)."""
        ...

    def append_logs(self, job_id: str, step: StepName, lines: Sequence[str], *, batch_id: str | None = None) -> int:
        """Append sanitised lines to the job's log for `step`; return the last sequence number.

        Sequence numbers run 1, 2, 3… per job and step, unique and gap-free even with
        several writer processes. Every line is sanitised and checked before the first is
        written. An empty `lines` returns the current last sequence number (0: none yet).
        With `batch_id`, the same batch appended again (a retry whose first answer was
        lost) stores nothing the second time.
        """
        ...

    def read_logs(
        self, job_id: str, step: StepName | None = None, after: str | None = None, limit: int | None = None
    ) -> LogPage:
        """Lines in order (by step order, then sequence), only those after the `after` cursor.

        The page's cursor (opaque) resumes exactly after the last line returned; with no new
        lines it is the `after` given. `step` reads one step and keeps the others' positions.
        """
        ...

    def close(self) -> None: ...

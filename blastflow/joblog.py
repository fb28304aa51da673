"""A step's live log: each line, sanitised and cut to the one line limit, goes to the run logger, the log table
(batched, about one write per second) and the row's bounded tail (debounced).

If the store is briefly unreachable, lines stay buffered and are retried with
backoff; `close` keeps trying until they are stored, so none is lost.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable

from blastflow.errors import StoreUnavailable
from blastflow.merge import TAIL_MAX_LINES, JobUpdate, StepUpdate
from blastflow.model import StepName
from blastflow.store.base import StateStore
from blastflow.store.limits import fit_log_line

__all__ = ["StepLog"]

_MAX_BACKOFF_S = 15.0


class StepLog:
    """The live log of one step of one job.

    Example:
        >>> class Store:  # a store double that records writes
        ...     def __init__(self): self.lines, self.updates = [], []
        ...     def append_logs(self, job_id, step, lines, batch_id=None): self.lines += lines; return len(self.lines)
        ...     def update(self, job_id, update): self.updates.append(update)
        >>> store = Store()
        >>> log = StepLog(store, "job", StepName.SUBMIT)
        >>> log.add("first line")   # the first line is written at once
        >>> store.lines
        ['first line']
        >>> log.add("second"); log.close()
        >>> store.lines, store.updates[-1].steps[StepName.SUBMIT].lines
        (['first line', 'second'], ['second'])
    """

    def __init__(
        self,
        store: StateStore,
        job_id: str,
        step: StepName,
        *,
        logger: logging.Logger | logging.LoggerAdapter | None = None,
        flush_interval_s: float = 1.0,
        row_interval_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store, self.job_id, self.step = store, job_id, step
        self.logger = logger
        self.flush_interval_s, self.row_interval_s = flush_interval_s, row_interval_s
        self._clock = clock
        self._table: list[str] = []  # lines not yet in the log table
        self._row: list[str] = []  # lines not yet counted on the row (tail kept bounded)
        self._row_unseen = 0  # lines dropped from `_row` to keep it bounded, still to be counted
        # A write that failed may still have landed (its answer lost): it is retried as it was,
        # with the same idempotency key, and lines that came since wait for the next write.
        self._table_inflight: tuple[str, list[str]] | None = None
        self._row_inflight: JobUpdate | None = None
        self._next_table = 0.0
        self._next_row = 0.0
        self._table_backoff = 0.0
        self._row_backoff = 0.0
        self.lines_written = 0

    def add(self, line: str, stream: str = "stdout") -> None:
        """Take one line: the one place every step-log line enters, so it is sanitised and cut here, once.

        A line over the store's limit is cut with a visible "[… N characters cut]" note
        (`limits.fit_log_line`): no single line can fail the step, and the logger, the table and the
        row's tail all see the same text.
        """
        line = fit_log_line(line)
        if self.logger is not None:
            self.logger.info(line)
        self._table.append(line)
        self._row.append(line)
        if len(self._row) > TAIL_MAX_LINES:
            self._row_unseen += len(self._row) - TAIL_MAX_LINES
            del self._row[:-TAIL_MAX_LINES]
        self.tick()

    def tick(self) -> None:
        """Write whatever is due."""
        now = self._clock()
        if self._table_pending and now >= self._next_table:
            self._flush_table(now)
        if self._row_pending and now >= self._next_row:
            self._flush_row(now)

    @property
    def _table_pending(self) -> bool:
        return bool(self._table or self._table_inflight)

    @property
    def _row_pending(self) -> bool:
        return bool(self._row or self._row_unseen or self._row_inflight)

    def close(self, timeout_s: float = 120.0) -> None:
        """Write everything now (a step transition); keep retrying while the store is down.

        Raises:
            StoreUnavailable: the store stayed unreachable for `timeout_s`; the lines are still buffered.
        """
        deadline = self._clock() + timeout_s
        delay = 0.5
        while True:
            for _ in range(2):  # the write in flight, then the lines that came after it
                now = self._clock()
                if self._table_pending:
                    self._flush_table(now)
                if self._row_pending:
                    self._flush_row(now)
            if not self._table_pending and not self._row_pending:
                return
            if self._clock() >= deadline:
                unsaved = len(self._table) + (len(self._table_inflight[1]) if self._table_inflight else 0)
                raise StoreUnavailable(
                    f"{unsaved} log lines of step {self.step.value} could not be stored within "
                    f"{timeout_s:.0f} s: the state store is unreachable"
                )
            time.sleep(delay)
            delay = min(delay * 2, _MAX_BACKOFF_S)

    def _flush_table(self, now: float) -> None:
        if self._table_inflight is None:
            self._table_inflight = (uuid.uuid4().hex, self._table)
            self._table = []
        batch_id, batch = self._table_inflight
        try:
            self.store.append_logs(self.job_id, self.step, batch, batch_id=batch_id)
        except StoreUnavailable:
            self._table_backoff = min(max(self._table_backoff * 2, 1.0), _MAX_BACKOFF_S)
            self._next_table = now + self._table_backoff
            return
        self._table_inflight = None
        self.lines_written += len(batch)
        self._table_backoff = 0.0
        self._next_table = now + self.flush_interval_s

    def _flush_row(self, now: float) -> None:
        if self._row_inflight is None:
            self._row_inflight = JobUpdate(
                steps={self.step: StepUpdate(lines=self._row, log_lines_added=self._row_unseen)}
            )
            self._row, self._row_unseen = [], 0
        try:
            self.store.update(self.job_id, self._row_inflight)
        except StoreUnavailable:
            self._row_backoff = min(max(self._row_backoff * 2, 1.0), _MAX_BACKOFF_S)
            self._next_row = now + self._row_backoff
            return
        self._row_inflight = None
        self._row_backoff = 0.0
        self._next_row = now + self.row_interval_s

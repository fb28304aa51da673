"""A step's live log: each sanitised line goes to the run logger, the log table
(batched, about one write per second) and the row's bounded tail (debounced).

If the store is briefly unreachable, lines stay buffered and are retried with
backoff; `close` keeps trying until they are stored, so none is lost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from blastflow.errors import StoreUnavailable
from blastflow.merge import TAIL_MAX_LINES, JobUpdate, StepUpdate
from blastflow.model import StepName
from blastflow.store.base import StateStore

__all__ = ["StepLog"]

_MAX_BACKOFF_S = 15.0


class StepLog:
    """The live log of one step of one job.

    Example:
        >>> class Store:  # a store double that records writes
        ...     def __init__(self): self.lines, self.updates = [], []
        ...     def append_logs(self, job_id, step, lines): self.lines += lines; return len(self.lines)
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
        self._next_table = 0.0
        self._next_row = 0.0
        self._table_backoff = 0.0
        self._row_backoff = 0.0
        self.lines_written = 0

    def add(self, line: str, stream: str = "stdout") -> None:
        """Take one already-sanitised line."""
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
        if self._table and now >= self._next_table:
            self._flush_table(now)
        if (self._row or self._row_unseen) and now >= self._next_row:
            self._flush_row(now)

    def close(self, timeout_s: float = 120.0) -> None:
        """Write everything now (a step transition); keep retrying while the store is down.

        Raises:
            StoreUnavailable: the store stayed unreachable for `timeout_s`; the lines are still buffered.
        """
        deadline = self._clock() + timeout_s
        delay = 0.5
        while True:
            now = self._clock()
            if self._table:
                self._flush_table(now)
            if self._row or self._row_unseen:
                self._flush_row(now)
            if not self._table and not self._row and not self._row_unseen:
                return
            if self._clock() >= deadline:
                raise StoreUnavailable(
                    f"{len(self._table)} log lines of step {self.step.value} could not be stored within "
                    f"{timeout_s:.0f} s: the state store is unreachable"
                )
            time.sleep(delay)
            delay = min(delay * 2, _MAX_BACKOFF_S)

    def _flush_table(self, now: float) -> None:
        batch = self._table
        try:
            self.store.append_logs(self.job_id, self.step, batch)
        except StoreUnavailable:
            self._table_backoff = min(max(self._table_backoff * 2, 1.0), _MAX_BACKOFF_S)
            self._next_table = now + self._table_backoff
            return
        self._table = self._table[len(batch) :]
        self.lines_written += len(batch)
        self._table_backoff = 0.0
        self._next_table = now + self.flush_interval_s

    def _flush_row(self, now: float) -> None:
        tail, unseen = self._row, self._row_unseen
        update = JobUpdate(steps={self.step: StepUpdate(lines=tail, log_lines_added=unseen)})
        try:
            self.store.update(self.job_id, update)
        except StoreUnavailable:
            self._row_backoff = min(max(self._row_backoff * 2, 1.0), _MAX_BACKOFF_S)
            self._next_row = now + self._row_backoff
            return
        self._row, self._row_unseen = [], 0
        self._row_backoff = 0.0
        self._next_row = now + self.row_interval_s

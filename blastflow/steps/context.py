"""What every step needs: the job, its store, its backend, settings and a logger."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from blastflow.backends.base import Backend
from blastflow.errors import StoreUnavailable
from blastflow.joblog import StepLog
from blastflow.merge import JobUpdate
from blastflow.model import JobRecord, StepName
from blastflow.settings import Settings
from blastflow.store.base import StateStore

__all__ = ["HEARTBEAT_S", "StepContext"]

HEARTBEAT_S = 60.0  # a waiting step writes the row at least this often: reconcile tells a live run from a lost one


@dataclass
class StepContext:
    job_id: str
    store: StateStore
    backend: Backend
    settings: Settings
    logger: logging.Logger | logging.LoggerAdapter = field(default_factory=lambda: logging.getLogger("blastflow"))
    sleep: Callable[[float], None] = time.sleep  # polls sleep in short slices through this
    clock: Callable[[], float] = time.monotonic

    def write(self, update: JobUpdate) -> JobRecord:
        """Every state change of a step goes through the store's merge.

        A store outage (Azurite restarting, a network blip) is waited out with
        backoff for `settings.store_outage_s` instead of failing a healthy run.
        """
        deadline = self.clock() + self.settings.store_outage_s
        delay = 0.5
        while True:
            try:
                return self.store.update(self.job_id, update)
            except StoreUnavailable as exc:
                if self.clock() >= deadline:
                    raise
                self.logger.warning("state store unreachable (%s); retrying in %.1f s", exc, delay)
                self.pause(delay)
                delay = min(delay * 2, 15.0)

    def log(self, step: StepName) -> StepLog:
        return StepLog(
            self.store,
            self.job_id,
            step,
            logger=self.logger,
            flush_interval_s=self.settings.log_flush_interval_s,
            row_interval_s=self.settings.state_debounce_s,
            clock=self.clock,
        )

    def pause(self, seconds: float, on_tick: Callable[[], None] | None = None) -> None:
        """Sleep in slices of at most a second, so task timeouts and cancellation can act.

        `on_tick` runs after each slice: pass a step log's `tick`, so a line added just before a long
        pause reaches the store on time instead of after it.
        """
        end = self.clock() + seconds
        while (left := end - self.clock()) > 0:
            self.sleep(min(left, 1.0))
            if on_tick is not None:
                on_tick()

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
from blastflow.sanitise import sanitise
from blastflow.settings import Settings
from blastflow.store.base import StateStore

__all__ = ["StepContext"]


@dataclass
class StepContext:
    job_id: str
    store: StateStore
    backend: Backend
    settings: Settings
    logger: logging.Logger | logging.LoggerAdapter = field(default_factory=lambda: logging.getLogger("blastflow"))
    sleep: Callable[[float], None] = time.sleep  # polls sleep in short slices through this
    clock: Callable[[], float] = time.monotonic
    _next_beat: float = field(init=False)  # when the row is due a heartbeat (every write moves it on)

    def __post_init__(self) -> None:
        self._next_beat = self.clock() + self.settings.heartbeat_interval_s

    def write(self, update: JobUpdate) -> JobRecord:
        """Every state change of a step goes through the store's merge.

        A store outage (Azurite restarting, a network blip) is waited out with
        backoff for `settings.store_outage_s` instead of failing a healthy run.
        """
        deadline = self.clock() + self.settings.store_outage_s
        delay = 0.5
        while True:
            try:
                job = self.store.update(self.job_id, update)
            except StoreUnavailable as exc:
                if self.clock() >= deadline:
                    raise
                self.logger.warning("state store unreachable (%s); retrying in %.1f s", sanitise(str(exc)), delay)
                self.pause(delay)
                delay = min(delay * 2, 15.0)
                continue
            self._next_beat = self.clock() + self.settings.heartbeat_interval_s
            return job

    def heartbeat(self) -> None:
        """Write the row when no step write has for `settings.heartbeat_interval_s` (a quarter of the quiet threshold).

        The one heartbeat of a job's waiting steps: a row that stays quiet while a cluster sets up or a child
        works would read as a lost run to reconcile. An empty update is enough (the merge stamps `updated_at`);
        a step that writes anyway costs no extra write. A store outage never holds the step up here: the beat
        is tried again a little later (at most 30 s).
        """
        now = self.clock()
        if now < self._next_beat:
            return
        interval = self.settings.heartbeat_interval_s
        try:
            self.store.update(self.job_id, JobUpdate())
        except StoreUnavailable as exc:
            self.logger.warning(
                "heartbeat not written, the state store is unreachable (%s); trying again", sanitise(str(exc))
            )
            self._next_beat = now + min(interval / 4, 30.0)
            return
        self._next_beat = now + interval

    def waiting(self, log: StepLog) -> Callable[[], None]:
        """The tick of a waiting step: its log's buffered lines go out on time, and the row heartbeats."""

        def tick() -> None:
            log.tick()
            self.heartbeat()

        return tick

    def log(self, step: StepName, *, echo: bool = True) -> StepLog:
        """The step's live log; `echo=False` stores its lines without printing them through the run logger
        (what the job page and `blastflow logs` show already, such as every pod's log tail again)."""
        return StepLog(
            self.store,
            self.job_id,
            step,
            logger=self.logger if echo else None,
            flush_interval_s=self.settings.log_flush_interval_s,
            row_interval_s=self.settings.state_debounce_s,
            clock=self.clock,
        )

    def pause(self, seconds: float, on_tick: Callable[[], None] | None = None) -> None:
        """Sleep in slices of at most a second, so task timeouts and cancellation can act.

        `on_tick` runs after each slice: a waiting step passes `waiting(log)`, so a line added just before a
        long pause reaches the store on time instead of after it, and the row heartbeats during the pause.
        """
        end = self.clock() + seconds
        while (left := end - self.clock()) > 0:
            self.sleep(min(left, 1.0))
            if on_tick is not None:
                on_tick()
